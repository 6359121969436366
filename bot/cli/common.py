"""What every `newsbot` command group shares: the root's --config read from Typer's context, and consoles."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer
from rich.console import Console
from rich.markup import escape

from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.app import App


@dataclass(slots=True)
class CliState:
    """What the root command parsed, kept on the Typer context object for the subcommands."""

    config: Path | None = None
    verbose: bool = False  # -v: debug logging, whatever NEWSBOT_LOG_LEVEL says to `run`


def settings_from(ctx: typer.Context) -> Settings:
    """Load the settings the root's --config names (none when a command group runs on its own, as in tests)."""
    state = ctx.find_root().obj
    return load_settings(state.config if isinstance(state, CliState) else None)


def consoles() -> tuple[Console, Console]:
    """Return stdout and stderr consoles, built per command so the terminal width is read when it runs."""
    return Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `newsbot: message` in red on stderr and return the Exit to raise with `code`."""
    Console(stderr=True, soft_wrap=True).print(f"newsbot: {escape(message)}", style="red", highlight=False)
    return typer.Exit(code)


def run_with_app(ctx: typer.Context, work: Callable[[App], Awaitable[int]]) -> None:
    """Open the app from the root's settings, run `work` in it and exit with the status it returns."""
    from bot.app import open_app  # here: `newsbot --help` and the Discord/Slack groups need no database

    settings = settings_from(ctx)

    async def go() -> int:
        async with open_app(settings) as application:
            return await work(application)

    raise typer.Exit(asyncio.run(go()))


def run_change(
    ctx: typer.Context, change: Callable[[App], Awaitable[bool]], *, done: str, missing: str
) -> None:
    """Run one change to a named thing: print `done`, or fail with `missing` (exit 1) when it was not found."""

    async def work(application: App) -> int:
        if not await change(application):
            raise fail(missing, 1)
        consoles()[0].print(done, highlight=False)
        return 0

    run_with_app(ctx, work)


# One log line's message, at most: a library quoting a malformed request whole wrote 128 KB lines,
# which bury the log and fill disks. The start is kept (it says what happened), the rest is counted.
LOG_LINE_MAX = 2_000
TRACEBACK_MAX = 8_000


class ShortLines(logging.Filter):
    """Cut each record's message and traceback to a readable length, saying how much was left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Shorten `record` in place; never drops it."""
        message = record.getMessage()
        if len(message) > LOG_LINE_MAX:
            record.msg = f"{message[:LOG_LINE_MAX]}… [{len(message) - LOG_LINE_MAX} more characters cut]"
            record.args = None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if len(text) > TRACEBACK_MAX:
                # The end of a traceback names the error; its middle is frames already seen above.
                cut = len(text) - TRACEBACK_MAX
                text = (
                    f"{text[: TRACEBACK_MAX // 2]}\n… [{cut} characters cut] …\n{text[-TRACEBACK_MAX // 2 :]}"
                )
            record.exc_text = text
        return True


def configure_logging(verbose: bool, stream: TextIO | None = None) -> None:
    """Log to stderr (or `stream`) with short lines: DEBUG with --verbose, else WARNING until `run` says."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=stream,
        force=stream is not None,
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ShortLines) for f in handler.filters):
            handler.addFilter(ShortLines())
