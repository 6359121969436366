"""`newsbot slack …`: Slack app set-up helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.adapters.slack.manifest import PLACEHOLDER_URL, SlackSetupError, manifest_yaml
from bot.cli.common import consoles, fail, run_with_app, settings_from

if TYPE_CHECKING:
    from bot.app import App

slack_app = typer.Typer(help="Slack app set-up.", no_args_is_help=True)


@slack_app.callback()
def _slack() -> None:
    """Slack app set-up."""  # a callback keeps `slack` a command group even with one command


@slack_app.command("manifest")
def manifest(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option("--url", help="The bot's public base URL; Slack posts to URL/slack/events."),
    ] = None,
    socket_mode: Annotated[
        bool, typer.Option("--socket-mode", help="For Socket Mode (NEWSBOT_SLACK__APP_TOKEN): no URLs.")
    ] = False,
    oauth: Annotated[
        bool,
        typer.Option(
            "--oauth",
            help="For many workspaces (NEWSBOT_SLACK__CLIENT_ID): adds the redirect URL URL/slack/oauth_redirect "
            "and the app_uninstalled and tokens_revoked events.",
        ),
    ] = False,
    token_rotation: Annotated[
        bool,
        typer.Option(
            "--token-rotation",
            help="Ask Slack for bot tokens that expire every 12 hours (newsbot refreshes them).",
        ),
    ] = False,
) -> None:
    """Print the app manifest (YAML) that creates newsbot's Slack app with exactly the scopes it needs."""
    if url is not None and socket_mode:
        typer.echo("newsbot slack manifest: give --url or --socket-mode, not both", err=True)
        raise typer.Exit(2)
    command = settings_from(ctx).slack.command
    if url is None and not socket_mode:
        typer.echo(f"(no --url given: using the placeholder {PLACEHOLDER_URL}; replace it)", err=True)
    try:
        text = manifest_yaml(
            url=url or PLACEHOLDER_URL,
            socket_mode=socket_mode,
            command=command,
            oauth=oauth,
            token_rotation=token_rotation,
        )
    except SlackSetupError as exc:
        typer.echo(f"newsbot slack manifest: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(text, nl=False)


@slack_app.command("token-key")
def token_key() -> None:
    """Print a new key for NEWSBOT_SLACK__TOKEN_KEY, which encrypts every workspace's tokens in the database.

    Keep it as secret as the database password. To replace a key, set "NEW,OLD": new tokens are
    written with the first, and the old one still reads what it wrote.
    """
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@slack_app.command("workspaces")
def workspaces(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the workspaces as one JSON document.")
    ] = False,
) -> None:
    """List the workspaces newsbot is installed in (many-workspace mode), and any that are paused, with why."""
    settings = settings_from(ctx)
    if not settings.slack.oauth:
        raise fail(
            "Slack runs with one bot token: set NEWSBOT_SLACK__CLIENT_ID and __CLIENT_SECRET to install "
            "newsbot in many workspaces (README: Slack in many workspaces)"
        )
    client_id = settings.slack.client_id or ""

    async def show(application: App) -> int:
        from bot.store.workspaces import list_slack_workspaces

        found = await list_slack_workspaces(application.engine, client_id)
        if as_json:
            rows = [
                {
                    "workspace": w.workspace,
                    "name": w.name,
                    "installed_at": _when(w.installed_at) or None,
                    "token_expires_at": _when(w.token_expires_at) or None,
                    "paused_reason": w.paused_reason,
                    "paused_deliveries": w.paused_deliveries,
                }
                for w in found
            ]
            typer.echo(json.dumps({"workspaces": rows}, ensure_ascii=False, indent=2))
            return 0
        out, _ = consoles()
        if not found:
            out.print(
                "no workspace has installed newsbot yet: open /slack/install on the Slack port",
                highlight=False,
            )
            return 0
        table = Table("workspace", "name", "installed (UTC)", "token expires (UTC)", "paused")
        for w in found:
            paused = (
                f"{w.paused_deliveries} queued: {w.paused_reason or 'paused'}"
                if w.paused_reason or w.paused_deliveries
                else ""
            )
            table.add_row(
                escape(w.workspace),
                escape(w.name or ""),
                _when(w.installed_at) or "not installed",
                _when(w.token_expires_at) or ("-" if w.installed_at else ""),
                escape(paused),
            )
        out.print(table)
        return 0

    run_with_app(ctx, show)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""
