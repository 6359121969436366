"""What every `newsbot` command group shares: the root's --config read from Typer's context, and consoles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from bot.settings import Settings, load_settings


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
