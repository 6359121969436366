"""The console adapter: a local prompt where chat commands behave exactly as in chat."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from rich.console import Console

from bot.adapters.console.render import render_reply
from bot.app import App, open_app
from bot.core.ingest import ingest_paths
from bot.core.invocation import Invocation, parse_command_text
from bot.settings import Settings

PROMPT = "newsbot> "
QUIT = {"quit", "exit", "/quit", "/exit", ":q"}


async def run_demo(settings: Settings, example: Path, *, once: bool, console: Console) -> int:
    """Load `example` into a fresh temporary store, then answer commands (or print two answers with `once`)."""
    with tempfile.TemporaryDirectory(prefix="newsbot-demo-") as tmp:
        demo_settings = settings.model_copy(update={"database_url": f"sqlite:///{Path(tmp) / 'demo.db'}"})
        async with open_app(demo_settings) as application:
            report = await ingest_paths(application.service, [example])
            for error in report.errors:
                console.print(str(error), style="red", highlight=False, markup=False)
            if not report.stored:
                return 1
            console.print(f"Loaded {example} into a fresh local store.", style="dim", highlight=False)
            if once:
                for text in ("/digest", "/topic drones"):
                    console.rule(text)
                    await _answer(application, text, console)
                return 0
            console.print("Try /topic drones, /topics, /digest, /help — or quit.", style="dim")
            await _repl(application, console)
    return 0


async def _repl(application: App, console: Console) -> None:
    while True:
        try:
            line = await asyncio.to_thread(console.input, PROMPT)
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if line.strip().lower() in QUIT:
            return
        if line.strip():
            await _answer(application, line, console)


async def _answer(application: App, text: str, console: Console) -> None:
    name, args = parse_command_text(text)
    inv = Invocation("console", name, args, channel="console", user="you", is_admin=True)
    console.print(render_reply(await application.commands.run(inv)), soft_wrap=False)  # wrap, never crop
