"""Errors the Discord adapter raises for the CLI to print as one line."""

from __future__ import annotations


class DiscordError(RuntimeError):
    """A Discord problem the operator can fix; the message is one line and never contains the token."""


class DiscordLoginError(DiscordError):
    """Discord refused the bot token."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "Discord refused the token (401 Unauthorized): check NEWSBOT_DISCORD__TOKEN"
        )


class DiscordConnectError(DiscordError):
    """Discord could not be reached or answered unexpectedly while logging in or connecting."""


class DiscordSyncError(DiscordError):
    """Registering the application commands failed."""
