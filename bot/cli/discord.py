"""`newsbot discord …`: register the slash commands now, and print the invite URL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.adapters.discord.errors import DiscordError
from bot.cli.common import fail, settings_from
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.adapters.discord.registration import SyncResult
    from bot.app import App

# discord.py and aiohttp are imported inside the commands: every other `newsbot` command starts faster.

discord_app = typer.Typer(
    help="The Discord bot: command registration, the invite link and who runs which shard.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)


async def _sync(settings: Settings) -> list[SyncResult]:
    import discord

    from bot.adapters.discord.bot import discord_endpoints, login, quiet_voice_warnings
    from bot.adapters.discord.registration import sync_commands
    from bot.core.commands import COMMANDS

    token = settings.discord.token.get_secret_value().strip() if settings.discord.token else ""
    with discord_endpoints(settings.discord.api_base):
        quiet_voice_warnings()
        client = discord.Client(intents=discord.Intents.none())
        try:
            await login(client, token, settings.discord.api_base)
            app_id = client.application_id
            if app_id is None:
                raise DiscordError("Discord did not report the application id")
            return await sync_commands(client.http, app_id, COMMANDS, settings.discord.guild_ids)
        finally:
            await client.close()


@discord_app.command("sync")
def sync(ctx: typer.Context) -> None:
    """Register the slash commands now: in NEWSBOT_DISCORD__GUILD_IDS (instantly) or globally."""
    settings = settings_from(ctx)
    if not settings.discord.configured:
        raise fail("no Discord token: set NEWSBOT_DISCORD__TOKEN")
    try:
        results = asyncio.run(_sync(settings))
    except DiscordError as exc:
        raise fail(str(exc), 1) from None
    for r in results:
        where = (
            "globally (Discord may take up to an hour to show changes)"
            if r.scope == "global"
            else f"in {r.scope}"
        )
        out.print(f"registered {r.count} commands {where}", highlight=False)


@discord_app.command("invite-url")
def invite(
    ctx: typer.Context,
    application_id: Annotated[
        int | None,
        typer.Option(
            "--application-id", min=1, help="The application id; looked up with the bot token when omitted."
        ),
    ] = None,
) -> None:
    """Print the URL that adds newsbot to a server (scopes bot + applications.commands, minimal permissions)."""
    from bot.adapters.discord.invite import fetch_application_id, invite_url

    if application_id is None:
        settings = settings_from(ctx)
        if settings.discord.token is None or not settings.discord.token.get_secret_value().strip():
            raise fail("give --application-id, or set NEWSBOT_DISCORD__TOKEN so newsbot can look it up")
        try:
            application_id = asyncio.run(
                fetch_application_id(settings.discord.api_base, settings.discord.token)
            )
        except DiscordError as exc:
            raise fail(str(exc), 1) from None
    out.print(invite_url(application_id), highlight=False, soft_wrap=True)


@discord_app.command("shards")
def shards(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts.")] = False,
) -> None:
    """Show which replica runs which gateway shard, and since when (PostgreSQL with several replicas)."""
    from bot.cli.common import run_with_app

    settings = settings_from(ctx)
    if not settings.discord.configured:
        raise fail("no Discord token: set NEWSBOT_DISCORD__TOKEN")

    async def show(application: App) -> int:
        from bot.store.shards import lock_namespace, shard_owners

        if application.engine.dialect.name != "postgresql":
            count = settings.discord.shard_count
            out.print(
                f"SQLite: the one running newsbot runs every shard ({count}); replicas share shards on PostgreSQL",
                highlight=False,
            )
            return 0
        token = settings.discord.token.get_secret_value().strip() if settings.discord.token else ""
        owners = await shard_owners(application.engine, lock_namespace(token))
        if as_json:
            rows = [
                {
                    "shard_id": o.shard_id,
                    "shard_count": o.shard_count,
                    "owner": o.owner,
                    "since": o.since.isoformat() if o.since else None,
                    "last_owner": o.last_owner,
                }
                for o in owners
            ]
            out.print_json(data={"shards": rows})
            return 0
        if not owners:
            out.print("no shard has been claimed yet (is `newsbot run` running?)", highlight=False)
            return 0
        table = Table("shard", "replica (host:pid:id)", "since")
        for o in owners:
            if o.owner is not None:
                since = o.since.strftime("%Y-%m-%d %H:%M:%S UTC") if o.since else ""
                table.add_row(f"{o.shard_id}/{o.shard_count}", o.owner, since)
            else:
                table.add_row(f"{o.shard_id}/{o.shard_count}", f"free (last: {o.last_owner})", "")
        out.print(table)
        return 0

    run_with_app(ctx, show)
