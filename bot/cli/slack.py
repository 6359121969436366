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
) -> None:
    """Print the app manifest (YAML) that creates newsbot's Slack app with exactly the scopes it needs."""
    if url is not None and socket_mode:
        typer.echo("newsbot slack manifest: give --url or --socket-mode, not both", err=True)
        raise typer.Exit(2)
    command = settings_from(ctx).slack.command
    if url is None and not socket_mode:
        typer.echo(f"(no --url given: using the placeholder {PLACEHOLDER_URL}; replace it)", err=True)
    try:
        text = manifest_yaml(url=url or PLACEHOLDER_URL, socket_mode=socket_mode, command=command)
    except SlackSetupError as exc:
        typer.echo(f"newsbot slack manifest: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(text, nl=False)
