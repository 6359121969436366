"""A command as data: who asked, where, and what; and the specs adapters register commands from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Platform = Literal["console", "discord", "slack"]
PLATFORMS: tuple[Platform, ...] = ("console", "discord", "slack")

QUERY_MAX = 200  # characters of a command's arguments that mean anything; longer input is refused
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Invocation:
    """One command as every adapter hands it to the core."""

    platform: Platform
    name: str
    args: str = ""
    workspace: str | None = None  # Discord guild id, Slack team id; None in a DM or the console
    channel: str | None = None
    user: str | None = None
    is_admin: bool = False  # Manage Server on Discord; listed admin, workspace admin or owner on Slack
    page: int = 1
    private: bool | None = None  # None: the command's own default


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One argument of a command, for adapters that register typed options (Discord)."""

    name: str
    description: str
    required: bool = False
    autocomplete: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command of the one table every platform shares: what it is called, takes and who may run it."""

    name: str
    description: str
    usage: str
    handler: str  # the CommandTable method that answers it
    admin_only: bool = False
    private_by_default: bool = False  # the answer is shown to the asker only unless they ask otherwise
    options: tuple[OptionSpec, ...] = field(default=())


def parse_command_text(text: str) -> tuple[str, str]:
    """Split "/topic  drones" or "topic drones" into ("topic", "drones")."""
    stripped = text.strip()
    if stripped.startswith("/"):
        stripped = stripped[1:]
    name, _, rest = stripped.partition(" ")
    return name.strip().lower(), rest.strip()


def clean_args(text: str) -> str:
    """Collapse white space and drop control characters a user cannot have meant."""
    return " ".join(_CONTROL.sub(" ", text).split())
