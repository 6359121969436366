"""`newsbot slack …`: Slack app set-up helpers."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.adapters.slack.manifest import PLACEHOLDER_URL, SlackSetupError, manifest_yaml
from bot.cli.common import settings_from

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
