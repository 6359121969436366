"""Application-command registration: the core command table's specs as Discord's bulk-overwrite bodies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.adapters.discord.errors import DiscordSyncError
from bot.core.invocation import QUERY_MAX, CommandSpec, OptionSpec

log = logging.getLogger(__name__)

# Discord's developer documentation, interactions/application-commands: names 1-32 lowercase characters,
# descriptions 1-100, at most 25 options and 25 choices, string options at most 6000 characters.
DESCRIPTION_MAX = 100
OPTIONS_MAX = 25
CHOICES_MAX = 25
STRING_OPTION = 3
BOOLEAN_OPTION = 5
CHAT_INPUT = 1
CONTEXT_GUILD, CONTEXT_BOT_DM = 0, 1
GUILD_INSTALL = 0
MANAGE_GUILD = discord.Permissions(manage_guild=True).value
PRIVATE_OPTION = "private"
PRIVATE_DESCRIPTION = "Show the answer only to you"


def command_payloads(specs: Sequence[CommandSpec]) -> list[dict[str, Any]]:
    """Return the bulk-overwrite body (PUT …/commands) for the command table's specs."""
    return [_command(spec) for spec in specs]


def _command(spec: CommandSpec) -> dict[str, Any]:
    options = [_option(o) for o in sorted(spec.options, key=lambda o: not o.required)]
    if not spec.admin_only:
        options.append(
            {
                "type": BOOLEAN_OPTION,
                "name": PRIVATE_OPTION,
                "description": PRIVATE_DESCRIPTION,
                "required": False,
            }
        )
    payload: dict[str, Any] = {
        "type": CHAT_INPUT,
        "name": spec.name,
        "description": spec.description[:DESCRIPTION_MAX],
        "options": options[:OPTIONS_MAX],
        "integration_types": [GUILD_INSTALL],
        # Channel settings only make sense in a server; reading works in a DM with the bot too.
        "contexts": [CONTEXT_GUILD] if spec.admin_only else [CONTEXT_GUILD, CONTEXT_BOT_DM],
    }
    if spec.admin_only:
        # Hidden from members without Manage Server by default; the interaction is checked again on arrival.
        payload["default_member_permissions"] = MANAGE_GUILD
    return payload


def _option(option: OptionSpec) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": STRING_OPTION,
        "name": option.name,
        "description": option.description[:DESCRIPTION_MAX],
        "required": option.required,
        "max_length": QUERY_MAX,
    }
    if option.choices:
        payload["choices"] = [{"name": c, "value": c} for c in option.choices[:CHOICES_MAX]]
    elif option.autocomplete:
        payload["autocomplete"] = True
    return payload


@dataclass(frozen=True, slots=True)
class SyncResult:
    """Where commands were registered and how many."""

    scope: str  # "global" or "guild 123"
    count: int


async def sync_commands(
    http: discord.http.HTTPClient,
    application_id: int,
    specs: Sequence[CommandSpec],
    guild_ids: Sequence[int] = (),
) -> list[SyncResult]:
    """Overwrite the application's commands globally, or in each listed guild (instant updates)."""
    payloads = command_payloads(specs)
    results: list[SyncResult] = []
    try:
        if not guild_ids:
            stored = await http.bulk_upsert_global_commands(application_id, payloads)
            results.append(SyncResult("global", len(stored)))
        for guild_id in guild_ids:
            try:
                stored = await http.bulk_upsert_guild_commands(application_id, guild_id, payloads)
            except discord.Forbidden:
                raise DiscordSyncError(
                    f"Discord refused to register commands in guild {guild_id} (403): the bot is not in that "
                    "server or was invited without the applications.commands scope; "
                    "invite it with the URL from `newsbot discord invite-url`"
                ) from None
            results.append(SyncResult(f"guild {guild_id}", len(stored)))
    except discord.HTTPException as exc:
        raise DiscordSyncError(
            f"registering commands failed: {exc.status} {exc.text or 'no detail'}".strip()[:300]
        ) from None
    for r in results:
        log.info("registered %d discord commands (%s)", r.count, r.scope)
    return results
