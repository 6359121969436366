"""The OAuth2 URL that adds newsbot to a server with exactly the scopes and permissions it uses."""

from __future__ import annotations

from typing import Any

import aiohttp
import discord
from pydantic import SecretStr

from bot.adapters.discord.errors import DiscordConnectError, DiscordLoginError
from bot.adapters.discord.sender import DEFAULT_TIMEOUT

INVITE_SCOPES = ("bot", "applications.commands")


def invite_permissions() -> discord.Permissions:
    """Return the permissions newsbot asks for: read the channel, post, embed links, and digest threads.

    A digest's detail goes in a thread started from its message (Create Public Threads) and is posted
    there (Send Messages in Threads: Discord does not let Send Messages cover threads).
    """
    return discord.Permissions(
        view_channel=True,
        send_messages=True,
        embed_links=True,
        create_public_threads=True,
        send_messages_in_threads=True,
    )


def invite_url(application_id: int) -> str:
    """Return the URL that adds the bot with the `bot` and `applications.commands` scopes."""
    return str(
        discord.utils.oauth_url(application_id, permissions=invite_permissions(), scopes=INVITE_SCOPES)
    )


async def fetch_application_id(api_base: str, token: SecretStr) -> int:
    """Ask Discord (GET /oauth2/applications/@me) which application the bot token belongs to."""
    url = f"{api_base.rstrip('/')}/oauth2/applications/@me"
    headers = {"Authorization": f"Bot {token.get_secret_value().strip()}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=DEFAULT_TIMEOUT) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status == 401:
                raise DiscordLoginError()
            if response.status != 200:
                raise DiscordConnectError(
                    f"Discord answered {response.status} to GET /oauth2/applications/@me"
                )
            data: Any = await response.json(content_type=None)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise DiscordConnectError(f"cannot reach Discord at {api_base}: {type(exc).__name__}") from None
    try:
        return int(data["id"])
    except (KeyError, TypeError, ValueError):
        raise DiscordConnectError("Discord's application info carried no id") from None
