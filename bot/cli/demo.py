"""The console adapter: a local prompt where chat commands behave exactly as in chat."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from rich.console import Console

from bot.adapters.console.render import render_reply
from bot.app import App, open_app
from bot.cli.delivery_output import digest_plan, print_plan_text
from bot.core.ingest import ingest_paths
from bot.core.invocation import Invocation, parse_command_text
from bot.core.layout import ChannelLayout
from bot.settings import Settings

PROMPT = "newsbot> "
QUIT = {"quit", "exit", "/quit", "/exit", ":q"}


async def run_demo(settings: Settings, example: Path, *, once: bool, console: Console) -> int:
    """Load `example` into a fresh store, show the digest and /topic drones, then answer commands (not with `once`)."""
    with tempfile.TemporaryDirectory(prefix="newsbot-demo-") as tmp:
        demo_settings = settings.model_copy(update={"database_url": f"sqlite:///{Path(tmp) / 'demo.db'}"})
        async with open_app(demo_settings) as application:
            report = await ingest_paths(application.service, [example])
            for error in report.errors:
                console.print(str(error), style="red", highlight=False, markup=False)
            if not report.stored:
                return 1
            console.print(f"Loaded {example} into a fresh local store.", style="dim", highlight=False)
            await _scheduled_digest(application, console)
            console.rule("/topic drones")
            await _answer(application, "/topic drones", console)
            if once:
                return 0
            console.print("Try /topic drones, /topics, /digest, /settings, /help — or quit.", style="dim")
            await _repl(application, console)
    return 0


async def _scheduled_digest(application: App, console: Console) -> None:
    """Print the digest a channel with the default settings gets: the brief, then its thread."""
    console.rule("the scheduled digest: the brief in the channel, then the thread under it")
    built = await application.service.digest()
    plan = digest_plan(built, ChannelLayout(), application.taxonomy.labels())
    print_plan_text(console, plan)


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
