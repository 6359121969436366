"""The Discord runner: a discord.py client with minimal intents that answers slash commands until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord.errors import DiscordConnectError, DiscordLoginError, DiscordSyncError
from bot.adapters.discord.interactions import DEFER_AFTER, InteractionHandler
from bot.adapters.discord.registration import sync_commands
from bot.core.commands import COMMANDS, CommandTable
from bot.core.threads import ChannelShape, ForumTag
from bot.settings import DiscordSettings

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://discord.com/api/v10"
CLOSE_TIMEOUT = 5.0  # seconds `run` waits for discord.py to close after stop is set
AUTH_FAILED = 4004  # gateway close code: "Authentication failed"


def minimal_intents() -> discord.Intents:
    """Return the intents newsbot needs: guilds only (no message content, members or presences)."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


@contextlib.contextmanager
def discord_endpoints(api_base: str, gateway: str | None = None) -> Iterator[None]:
    """Point discord.py's REST base (and gateway) at `api_base` for the duration, then restore them."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = api_base.rstrip("/")
    if gateway is not None:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


def use_gateway(url: str) -> None:
    """Make discord.py connect to `url`: a non-sharded Client always starts from DEFAULT_GATEWAY."""
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


async def login(client: discord.Client, token: str, api_base: str) -> None:
    """Log the client in, turning failures into one-line errors that never contain the token."""
    try:
        await client.login(token)
    except discord.LoginFailure:
        raise DiscordLoginError() from None
    except discord.HTTPException as exc:
        raise DiscordConnectError(f"Discord refused the login at {api_base}: HTTP {exc.status}") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise DiscordConnectError(
            f"cannot reach Discord at {api_base}: {type(exc).__name__}: {exc}"
        ) from None


def quiet_voice_warnings() -> None:
    """Skip discord.py's start-up warnings about voice libraries: newsbot never joins a voice channel."""
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


def _scope(guild_ids: list[int]) -> str:
    return f"commands in {len(guild_ids)} guild(s)" if guild_ids else "global commands"


class _Client(discord.Client):
    """discord.Client whose interactions all go to newsbot's handler."""

    def __init__(self, handler: InteractionHandler, ready: asyncio.Event, **options: Any) -> None:
        quiet_voice_warnings()
        super().__init__(**options)
        self._newsbot_handler = handler
        self._newsbot_ready = ready

    async def on_ready(self) -> None:
        log.debug("discord: gateway ready as %s", self.user)  # again after every reconnect
        self._newsbot_ready.set()

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        await self._newsbot_handler.handle(interaction)


class DiscordBot:
    """Run the Discord adapter: log in, register commands, answer interactions until `stop` is set."""

    def __init__(
        self,
        settings: DiscordSettings,
        commands: CommandTable,
        *,
        sync: bool = True,
        defer_after: float = DEFER_AFTER,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        self.settings = settings
        self.commands = commands
        self.sync = sync
        self.handler = InteractionHandler(commands, defer_after=defer_after)
        self.guild_ready_timeout = guild_ready_timeout
        self.ready = asyncio.Event()
        self.client: discord.Client | None = None

    def _client_options(self) -> dict[str, Any]:
        """Return the options of every client newsbot runs: minimal intents, no caches, no mentions."""
        return {
            "intents": minimal_intents(),
            "member_cache_flags": discord.MemberCacheFlags.none(),
            "chunk_guilds_at_startup": False,
            "max_messages": None,
            "allowed_mentions": discord.AllowedMentions.none(),
            "guild_ready_timeout": self.guild_ready_timeout,
        }

    def _build_client(self) -> discord.Client:
        return _Client(self.handler, self.ready, **self._client_options())

    def _token(self) -> str:
        """Return the bot token, refusing to start without one."""
        token = self.settings.token.get_secret_value().strip() if self.settings.token else ""
        if not token:
            raise DiscordLoginError("no Discord token: set NEWSBOT_DISCORD__TOKEN")
        return token

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then close within a few seconds."""
        token = self._token()
        api_base = self.settings.api_base.rstrip("/")
        with discord_endpoints(api_base, self.settings.gateway_url):
            client = self._build_client()
            self.client = client
            connect: asyncio.Task[None] | None = None
            try:
                await login(client, token, api_base)
                log.info("discord: connected as %s (%s)", client.user, _scope(self.settings.guild_ids))
                if self.settings.gateway_url is None and api_base != DEFAULT_API_BASE:
                    await self._gateway_from_api(client)
                if self.sync:
                    await self._sync(client)
                connect = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
                stopping = asyncio.create_task(stop.wait(), name="discord-stop")
                try:
                    await asyncio.wait({connect, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
                if connect.done() and not stop.is_set():
                    _raise_connect_failure(connect)
            finally:
                await self._close(client, connect)

    def channel_shape(self, channel: str) -> ChannelShape | None:
        """Return how `channel` takes threads as the gateway's cache knows it, or None when it does not.

        The guilds intent brings every channel with its type and a forum's tags, so delivery need not
        ask Discord's REST API (one request per channel, against the bot's 50 per second) while connected.
        """
        try:
            found = self._cached_channel(int(channel))
        except ValueError:
            return None
        if found is None:
            return None
        guild = getattr(getattr(found, "guild", None), "id", None)
        where = str(guild) if guild is not None else None
        if isinstance(found, discord.ForumChannel):
            tags = tuple(ForumTag(str(t.id), t.name, t.moderated) for t in found.available_tags)
            return ChannelShape("forum", where, tags)
        # Text and announcement channels start threads from messages; threads and DMs cannot.
        return ChannelShape("thread" if isinstance(found, discord.TextChannel) else "none", where)

    def _cached_channel(self, channel_id: int) -> Any:
        return self.client.get_channel(channel_id) if self.client is not None else None

    async def _gateway_from_api(self, client: discord.Client) -> None:
        # Behind a custom REST base (a proxy or a test server) ask it where the gateway is, as Discord advises.
        try:
            _, url, _ = await client.http.get_bot_gateway()
        except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
            log.warning("GET /gateway/bot failed (%s); using %s", exc, DiscordWebSocket.DEFAULT_GATEWAY)
            return
        use_gateway(url)

    async def _sync(self, client: discord.Client) -> None:
        app_id = client.application_id
        if app_id is None:
            raise DiscordConnectError("Discord did not report the application id")
        try:
            await sync_commands(client.http, app_id, COMMANDS, self.settings.guild_ids)
        except DiscordSyncError as exc:
            # Commands registered earlier keep working, so the bot runs on; the log says what to fix.
            log.error("discord: %s", exc)

    async def _close(self, client: discord.Client, connect: asyncio.Task[None] | None) -> None:
        try:
            await asyncio.wait_for(client.close(), CLOSE_TIMEOUT)
        except (TimeoutError, discord.DiscordException, aiohttp.ClientError, OSError):
            log.warning("discord: the client did not close cleanly", exc_info=True)
        if connect is not None and not connect.done():
            connect.cancel()
        if connect is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(connect, CLOSE_TIMEOUT)
        self.ready.clear()


def _raise_connect_failure(connect: asyncio.Task[None]) -> None:
    """Turn the gateway task's end into a one-line error."""
    exc = connect.exception()
    if exc is None:
        raise DiscordConnectError("the Discord gateway connection ended unexpectedly")
    if isinstance(exc, discord.ConnectionClosed) and exc.code == AUTH_FAILED:
        raise DiscordLoginError("Discord's gateway refused the token (4004): check NEWSBOT_DISCORD__TOKEN")
    if isinstance(exc, discord.ConnectionClosed):
        raise DiscordConnectError(f"the Discord gateway closed the connection ({exc.code}): {exc.reason}")
    raise DiscordConnectError(f"the Discord gateway connection failed: {type(exc).__name__}: {exc}")
