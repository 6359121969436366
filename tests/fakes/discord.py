"""A loopback Discord: the REST routes and the gateway websocket discord.py really uses, recording every request.

Start it with `async with FakeDiscord() as fake:`, point the client at `fake.api_base` and `fake.gateway_url`,
then dispatch interactions with `await fake.interact(payload)` and assert on `fake.requests`.

Channel posts (POST /channels/{id}/messages) behave like Discord's: a global limit per second, a per-channel
bucket with real `X-RateLimit-*` headers and 429 bodies, `nonce` + `enforce_nonce` deduplication, and
failures that tests can inject per channel (a 429 from Discord carries `Via`; Cloudflare's does not).
Threads: a thread started from a message takes the message's id, and a second start answers 160004; forum
channels (`add_forum`) take posts only (`POST /channels/{id}/threads` with a first message and tags from
the forum's own), and `GET /guilds/{id}/threads/active` lists the open threads. Thread creation can be
given long 429s (`fail_threads`) and permissions can be withdrawn per channel (`deny`, answered 50013).
Every message body (channel posts, webhooks, interaction answers and edits) is held to Discord's documented
limits and refused with 50035 Invalid Form Body like Discord does, so a renderer that overflows fails here
and not only in production. An interaction's first answer must arrive within 3 s of its dispatch or the
token is unknown (10062). Time comes from `clock`, so tests can move it without sleeping.

The limits are this fake's own constants, copied from Discord's documentation and never imported from
`bot/`: a wrong constant in the code under test must not make the fake agree with it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

TOKEN = "fake-bot-token"
APPLICATION_ID = 1100000000000000001
BOT_USER_ID = 1100000000000000002
GUILD_ID = 1200000000000000001
CHANNEL_ID = 1300000000000000001
USER_ID = 1400000000000000001
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
VIEW_CHANNEL = 1 << 10
EMBED_LINKS = 1 << 14
EPHEMERAL = 1 << 6
LOADING = 1 << 7
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
CHANNEL_BUCKET = "8d9c4b2f1a3e6d7c"  # Discord returns one opaque hash per route; channels share it
RATE_LIMITED = "You are being rate limited."

# https://discord.com/developers/docs/resources/message#create-message (jsonparams) and
# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_TEXT_MAX = 2048
AUTHOR_NAME_MAX = 256
EMBEDS_TOTAL_MAX = 6000  # title + description + field names and values + footer + author, all embeds
NONCE_MAX = 25  # a string nonce; https://discord.com/developers/docs/resources/message#create-message
# The create-message JSON parameters Discord documents. Discord ignores some unknown keys, but a key
# newsbot does not mean to send is a bug either way, so the fake refuses it as an invalid form body.
MESSAGE_FIELDS = frozenset(
    {
        "content", "nonce", "tts", "embeds", "allowed_mentions", "message_reference", "components",
        "sticker_ids", "files", "payload_json", "attachments", "flags", "enforce_nonce", "poll",
    }
)  # fmt: skip
# https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction:
# the first response within 3 seconds, follow-ups with the token for 15 minutes.
INTERACTION_DEADLINE = 3.0
# https://discord.com/developers/docs/resources/channel#start-thread-from-message and
# #start-thread-in-forum-or-media-channel; channel types from #channel-object-channel-types
THREAD_NAME_MAX = 100
AUTO_ARCHIVE_MINUTES = frozenset({60, 1440, 4320, 10080})
APPLIED_TAGS_MAX = 5
GUILD_TEXT, PUBLIC_THREAD, GUILD_FORUM = 0, 11, 15
START_THREAD_FIELDS = frozenset({"name", "auto_archive_duration", "rate_limit_per_user"})
FORUM_POST_FIELDS = START_THREAD_FIELDS | {"message", "applied_tags"}
# A forum post's first message takes these, and no nonce (forum thread message params).
FORUM_MESSAGE_FIELDS = frozenset(
    {"content", "embeds", "allowed_mentions", "components", "sticker_ids", "attachments", "flags"}
)
THREAD_EXISTS = 160004
NOT_IN_FORUM = 40058  # a plain message cannot be sent in a forum channel
WRONG_CHANNEL_TYPE = 50024
INTERACTION_TOKEN_TTL = 15 * 60.0


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    at: float


RECORDED = web.RequestKey("recorded", Recorded)


@dataclass(slots=True)
class _Bucket:
    count: int = 0
    reset_at: float = 0.0


@dataclass(slots=True)
class _Failure:
    status: int
    times: int
    retry_after: float = 1.0
    is_global: bool = False
    cloudflare: bool = False
    scope: str | None = None  # X-RateLimit-Scope of a 429, when not Discord's usual "user"


@dataclass(slots=True)
class _Sent:
    message: dict[str, Any]
    at: float


@dataclass(slots=True)
class _Interaction:
    payload: dict[str, Any]
    sent_at: float
    answered: asyncio.Future[Recorded]
    responses: list[Recorded] = field(default_factory=list)


class FakeDiscord:
    """An aiohttp server on 127.0.0.1 that speaks enough Discord for discord.py and newsbot."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        guild_ids: tuple[int, ...] = (GUILD_ID,),
        clock: Callable[[], float] = time.monotonic,
        global_limit: int | None = 50,
        channel_limit: int | None = 5,
        channel_window: float = 5.0,
        nonce_ttl: float = 300.0,
        heartbeat_interval_ms: int = 41_250,
        shard_count: int = 1,
        max_concurrency: int = 1,
        text_channels: tuple[str, ...] = (),
    ) -> None:
        self.token = token
        # More text channels of the first guild, sent with GUILD_CREATE as Discord sends a guild's channels.
        self.text_channels = text_channels
        self.guild_ids = guild_ids
        self.clock = clock
        self.global_limit = global_limit
        self.channel_limit = channel_limit
        self.channel_window = channel_window
        self.nonce_ttl = nonce_ttl
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.shard_count = shard_count
        self.max_concurrency = max_concurrency
        self._shard_of: dict[web.WebSocketResponse, int] = {}  # each session's shard id
        self.requests: list[Recorded] = []
        self.refused: list[tuple[dict[str, Any], dict[str, tuple[str, str]]]] = []  # bodies given 50035
        self.late_callbacks: list[Recorded] = []  # interaction answers that came after the 3 s deadline
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.channel_messages: dict[str, list[dict[str, Any]]] = {}
        self.identify: dict[str, Any] | None = None
        self.sessions: list[dict[str, Any]] = []  # every IDENTIFY payload, in order
        self.identified_at: list[tuple[float, int]] = []  # (time.monotonic(), shard id) of each IDENTIFY
        self.answers: list[tuple[Recorded, int]] = []  # every recorded request with the status it got
        self.rate_limited: list[tuple[float, bool]] = []  # (clock(), global?) of every 429 Discord gave
        self.identified = asyncio.Event()
        self.heartbeats = 0
        self._ids = itertools.count(1500000000000000001)
        self._seq = itertools.count(1)
        self._global_window: deque[float] = deque()
        self._buckets: dict[str, _Bucket] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._nonces: dict[tuple[str, str], _Sent] = {}
        self._interactions: dict[str, _Interaction] = {}  # by token
        self._webhook_messages: dict[str, dict[str, Any]] = {}
        self.forums: dict[str, dict[str, Any]] = {}  # forum channel objects, by id
        self.threads: dict[str, dict[str, Any]] = {}  # thread channel objects (and forum posts), by id
        self._denied: dict[str, set[int]] = {}  # channel → permissions the bot lacks there
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application(middlewares=[self._record])
        r = app.router
        r.add_get("/api/v10/users/@me", self._users_me)
        r.add_get("/api/v10/oauth2/applications/@me", self._application)
        r.add_get("/api/v10/applications/@me", self._application)
        r.add_get("/api/v10/gateway", self._gateway)
        r.add_get("/api/v10/gateway/bot", self._gateway)
        r.add_put("/api/v10/applications/{app}/commands", self._put_commands)
        r.add_put("/api/v10/applications/{app}/guilds/{guild}/commands", self._put_commands)
        r.add_post("/api/v10/interactions/{id}/{token}/callback", self._callback)
        r.add_post("/api/v10/webhooks/{app}/{token}", self._webhook_post)
        r.add_get("/api/v10/webhooks/{app}/{token}/messages/{message}", self._webhook_get)
        r.add_patch("/api/v10/webhooks/{app}/{token}/messages/{message}", self._webhook_patch)
        r.add_delete("/api/v10/webhooks/{app}/{token}/messages/{message}", self._webhook_delete)
        r.add_post("/api/v10/channels/{channel}/messages", self._channel_post)
        r.add_get("/api/v10/channels/{channel}", self._channel_get)
        r.add_post("/api/v10/channels/{channel}/messages/{message}/threads", self._thread_from_message)
        r.add_post("/api/v10/channels/{channel}/threads", self._forum_post)
        r.add_get("/api/v10/guilds/{guild}/threads/active", self._active_threads)
        r.add_get("/api/v10/guilds/{guild}/channels", self._guild_channels)
        r.add_get("/gateway", self._ws)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        """Close the gateway sockets and stop listening."""
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Return the REST base (what discord.py's Route.BASE and NEWSBOT_DISCORD__API_BASE take)."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Return the gateway websocket URL."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    def webhook_url(self, webhook_id: int = 1600000000000000001, token: str = "hook-token") -> str:  # noqa: S107 - a fake's fixed value
        """Return an incoming-webhook URL on the fake."""
        return f"{self.api_base}/webhooks/{webhook_id}/{token}"

    # -- test controls ----------------------------------------------------------------------------

    def fail(
        self,
        channel: str | int,
        status: int,
        *,
        times: int = 1,
        retry_after: float = 1.23,
        is_global: bool = False,
        cloudflare: bool = False,
    ) -> None:
        """Make the next `times` posts to `channel` answer `status` (429 with `retry_after`).

        With `cloudflare` the 429 is Cloudflare's IP ban: an HTML page without Discord's `Via` header.
        """
        self._failures.setdefault(str(channel), deque()).append(
            _Failure(status, times, retry_after, is_global, cloudflare)
        )

    def fail_threads(
        self, channel: str | int, *, retry_after: float = 219.0, times: int = 1, status: int = 429
    ) -> None:
        """Make the next `times` thread creations in `channel` answer `status` (a shared-scope 429)."""
        self._failures.setdefault(f"threads:{channel}", deque()).append(
            _Failure(status, times, retry_after, scope="shared")
        )

    def deny(self, channel: str | int, *permissions: int) -> None:
        """Withdraw permissions from the bot in `channel` (CREATE_PUBLIC_THREADS, SEND_MESSAGES_IN_THREADS …)."""
        self._denied.setdefault(str(channel), set()).update(permissions)

    def add_forum(
        self,
        channel: str | int,
        tags: list[str],
        *,
        guild_id: int = GUILD_ID,
        moderated: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Make `channel` a forum offering `tags` (a moderated tag needs Manage Threads to apply)."""
        forum = {
            "id": str(channel),
            "type": GUILD_FORUM,
            "guild_id": str(guild_id),
            "name": "news-forum",
            "position": 0,
            "permission_overwrites": [],
            "flags": 0,
            "available_tags": [
                {"id": str(next(self._ids)), "name": name, "moderated": name in moderated,
                 "emoji_id": None, "emoji_name": None}
                for name in tags
            ],
        }  # fmt: skip
        self.forums[str(channel)] = forum
        return forum

    def thread_messages(self, thread_id: str) -> list[dict[str, Any]]:
        """Return the messages posted in a thread or forum post, in order."""
        return self.channel_messages.get(str(thread_id), [])

    def fail_webhook(
        self, webhook_id: int, status: int, *, times: int = 1, retry_after: float = 1.23
    ) -> None:
        """Make the next `times` executions of incoming webhook `webhook_id` answer `status`."""
        self.fail(f"webhook:{webhook_id}", status, times=times, retry_after=retry_after)

    def requests_to(self, method: str, pattern: str) -> list[Recorded]:
        """Return recorded requests whose method matches and whose path matches the regex `pattern`."""
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method and rx.search(r.path)]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until `predicate()` holds (re-checked after every request); fail after `within` seconds."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within)

    def responses(self, interaction_token: str) -> list[Recorded]:
        """Return the callback and webhook requests made for one interaction, in order."""
        return list(self._interactions[interaction_token].responses)

    async def interact(self, payload: dict[str, Any], *, within: float = 10.0) -> Recorded:
        """Dispatch INTERACTION_CREATE and return the interaction callback once it arrives."""
        future = self.send_interaction(payload)
        return await asyncio.wait_for(future, within)

    def send_interaction(self, payload: dict[str, Any]) -> asyncio.Future[Recorded]:
        """Dispatch INTERACTION_CREATE; the future resolves with the interaction's callback request."""
        future: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._interactions[payload["token"]] = _Interaction(payload, self.clock(), future)
        asyncio.get_running_loop().create_task(self.dispatch("INTERACTION_CREATE", payload))
        return future

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to the sessions of the shard it belongs to: a guild's events go to
        shard `(guild_id >> 22) % shard_count`, everything else to shard 0, as Discord routes them.
        With no session on that shard the event is lost, as it is when a shard is down."""
        if not self._sockets:
            raise RuntimeError("no gateway session is connected")
        target = self.shard_for(int(data["guild_id"])) if data.get("guild_id") else 0
        frame = json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data})
        for ws in list(self._sockets):
            if self._shard_of.get(ws, 0) == target:
                await ws.send_str(frame)

    def shard_for(self, guild_id: int) -> int:
        """Return the shard that receives a guild's events (Discord's sharding formula)."""
        return (guild_id >> 22) % self.shard_count

    def connected_shards(self) -> list[int]:
        """Return the shard id of every live gateway session."""
        return sorted(self._shard_of.get(ws, 0) for ws in self._sockets)

    # -- payload builders -------------------------------------------------------------------------

    def user(self, user_id: int = USER_ID, name: str = "reader") -> dict[str, Any]:
        """Return a user object."""
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": name.title(),
            "avatar": None,
            "bot": False,
            "public_flags": 0,
        }

    def bot_user(self) -> dict[str, Any]:
        """Return the bot's own user object."""
        return {**self.user(BOT_USER_ID, "newsbot"), "bot": True, "verified": True, "mfa_enabled": False}

    def interaction(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        guild_id: int | None = GUILD_ID,
        channel_id: int = CHANNEL_ID,
        user_id: int = USER_ID,
        permissions: int = VIEW_CHANNEL | SEND_MESSAGES,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Return an INTERACTION_CREATE payload as Discord sends it, in a guild or (guild_id None) a DM."""
        token = "itok-" + secrets.token_hex(12)
        payload: dict[str, Any] = {
            "id": str(next(self._ids)),
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "app_permissions": str(VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS),
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "channel_id": str(channel_id),
        }
        if guild_id is not None:
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                context=0,
                authorizing_integration_owners={"0": str(guild_id)},
                channel={
                    **_text_channel(str(channel_id), str(guild_id)),
                    "last_message_id": None,
                    "permissions": str(permissions),
                },
                member={
                    "user": self.user(user_id),
                    "roles": [],
                    "joined_at": "2026-01-01T00:00:00+00:00",
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "pending": False,
                    "nick": None,
                    "avatar": None,
                    "premium_since": None,
                    "communication_disabled_until": None,
                    "permissions": str(permissions),
                },
            )
        else:
            payload.update(
                context=1,
                authorizing_integration_owners={"0": str(user_id)},
                channel={"id": str(channel_id), "type": 1, "recipients": [self.user(user_id)], "flags": 0},
                user=self.user(user_id),
            )
        if message is not None:
            payload["message"] = message
        return payload

    def slash(self, name: str, options: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Return an APPLICATION_COMMAND interaction for `/name` with typed options."""
        data: dict[str, Any] = {"id": str(self._command_id(name)), "name": name, "type": 1}
        if options:
            data["options"] = [
                {"name": k, "type": 5 if isinstance(v, bool) else 3, "value": v} for k, v in options.items()
            ]
        if kwargs.get("guild_id", GUILD_ID) is not None:
            data["guild_id"] = str(kwargs.get("guild_id", GUILD_ID))
        return self.interaction(2, data, **kwargs)

    def autocomplete(self, name: str, option: str, value: str, **kwargs: Any) -> dict[str, Any]:
        """Return an APPLICATION_COMMAND_AUTOCOMPLETE interaction with `option` focused."""
        data = {
            "id": str(self._command_id(name)),
            "name": name,
            "type": 1,
            "options": [{"name": option, "type": 3, "value": value, "focused": True}],
        }
        return self.interaction(4, data, **kwargs)

    def button(self, custom_id: str, message: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Return a MESSAGE_COMPONENT interaction: someone pressed the button `custom_id` on `message`."""
        return self.interaction(3, {"custom_id": custom_id, "component_type": 2}, message=message, **kwargs)

    def _command_id(self, name: str) -> int:
        for cmd in [*self.global_commands, *itertools.chain.from_iterable(self.guild_commands.values())]:
            if cmd["name"] == name:
                return int(cmd["id"])
        return 1700000000000000001

    def message(
        self, channel_id: str, body: dict[str, Any], *, webhook_id: str | None = None
    ) -> dict[str, Any]:
        """Return the message object Discord would store for a create-message body."""
        msg: dict[str, Any] = {
            "id": str(next(self._ids)),
            "channel_id": str(channel_id),
            "type": 0 if webhook_id is None else 20,
            "content": body.get("content") or "",
            "embeds": [{**e, "type": "rich"} for e in body.get("embeds") or []],
            "components": _components(body.get("components") or []),
            "attachments": [],
            "author": self.bot_user(),
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "flags": int(body.get("flags") or 0),
        }
        if webhook_id is not None:
            msg["webhook_id"] = webhook_id
            msg["application_id"] = str(APPLICATION_ID)
        if body.get("nonce") is not None:
            msg["nonce"] = body["nonce"]
        return msg

    # -- HTTP plumbing ----------------------------------------------------------------------------

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json" and raw:
                body = json.loads(raw)
            elif raw:
                body = raw.decode("utf-8", "replace")
        rec = Recorded(
            request.method,
            request.path,
            dict(request.query),
            body,
            dict(request.headers),
            time.perf_counter(),
        )
        if request.path != "/gateway":
            self.requests.append(rec)
        request[RECORDED] = rec
        status = 500
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
        finally:
            if request.path != "/gateway":
                self.answers.append((rec, status))
            async with self._changed:
                self._changed.notify_all()
        return response

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _unauthorised(self) -> web.Response:
        return _json({"message": "401: Unauthorized", "code": 0}, status=401)

    def _global_limited(self, request: web.Request) -> web.Response | None:
        """Count a bot-token request against the global limit; a 429 when over it."""
        if self.global_limit is None or "Authorization" not in request.headers:
            return None
        now = self.clock()
        while self._global_window and self._global_window[0] <= now - 1.0:
            self._global_window.popleft()
        if len(self._global_window) >= self.global_limit:
            retry = round(max(0.001, self._global_window[0] + 1.0 - now), 3)
            return self._too_many(retry, is_global=True)
        self._global_window.append(now)
        return None

    def _too_many(
        self, retry_after: float, *, is_global: bool, bucket: _Bucket | None = None, scope: str | None = None
    ) -> web.Response:
        self.rate_limited.append((self.clock(), is_global))
        headers = {
            "Retry-After": str(max(1, int(-(-retry_after // 1)))),
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if is_global else scope or "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(
                self._bucket_headers(bucket or _Bucket(self.channel_limit or 5, self.clock() + retry_after))
            )
        body = {"message": RATE_LIMITED, "retry_after": retry_after, "global": is_global}
        if is_global:
            body["code"] = 0
        return _json(body, status=429, headers=headers)

    def _bucket_headers(self, bucket: _Bucket) -> dict[str, str]:
        limit = self.channel_limit or 0
        after = max(0.0, bucket.reset_at - self.clock())
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - bucket.count)),
            "X-RateLimit-Reset": f"{time.time() + after:.3f}",
            "X-RateLimit-Reset-After": f"{after:.3f}",
            "X-RateLimit-Bucket": CHANNEL_BUCKET,
        }

    # -- REST routes ------------------------------------------------------------------------------

    async def _users_me(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        return _json(self.bot_user())

    async def _application(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        owner = self.user(USER_ID, "owner")
        return _json(
            {
                "id": str(APPLICATION_ID),
                "name": "newsbot",
                "icon": None,
                "description": "News summaries",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": owner,
                "team": None,
                "bot": self.bot_user(),
                "rpc_origins": [],
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "integration_types_config": {"0": {}},
            }
        )

    async def _gateway(self, request: web.Request) -> web.Response:
        if request.path.endswith("/bot") and not self._authorised(request):
            return self._unauthorised()
        return _json(
            {
                "url": self.gateway_url,
                "shards": self.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": self.max_concurrency,
                },
            }
        )

    async def _put_commands(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        if (limited := self._global_limited(request)) is not None:
            return limited
        body = request[RECORDED].json
        if not isinstance(body, list):
            return _json({"message": "Invalid Form Body", "code": 50035}, status=400)
        guild = request.match_info.get("guild")
        if guild is not None and int(guild) not in self.guild_ids:
            return _json({"message": "Missing Access", "code": 50001}, status=403)
        stored = [
            {
                **cmd,
                "id": str(next(self._ids)),
                "application_id": str(APPLICATION_ID),
                "version": str(next(self._ids)),
                "type": cmd.get("type", 1),
                **({"guild_id": guild} if guild else {}),
            }
            for cmd in body
        ]
        if guild is None:
            self.global_commands = stored
        else:
            self.guild_commands[int(guild)] = stored
        return _json(stored)

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        rec: Recorded = request[RECORDED]
        token = request.match_info["token"]
        state = self._interactions.get(token)
        if state is None or state.payload["id"] != request.match_info["id"]:
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        late = self.clock() - state.sent_at > INTERACTION_DEADLINE
        if late:
            self.late_callbacks.append(rec)
        if late and not any(r.path.endswith("/callback") for r in state.responses):
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        if any(r.path.endswith("/callback") for r in state.responses):
            return _json({"message": "Interaction has already been acknowledged.", "code": 40060}, status=400)
        body = rec.json if isinstance(rec.json, dict) else {}
        kind = body.get("type")
        data = body.get("data") or {}
        if kind in (4, 7) and (invalid := self._invalid_body(data, interaction=True)) is not None:
            return invalid
        state.responses.append(rec)
        if not state.answered.done():
            state.answered.set_result(rec)
        flags = int(data.get("flags") or 0)
        interaction: dict[str, Any] = {"id": state.payload["id"], "type": state.payload["type"]}
        resource: dict[str, Any] | None = None
        channel = str(state.payload.get("channel_id"))
        if kind in (4, 5):
            message_body = data if kind == 4 else {"flags": flags | LOADING}
            message = self.message(channel, message_body, webhook_id=str(APPLICATION_ID))
            invoker = (state.payload.get("member") or {}).get("user") or state.payload.get("user")
            message["interaction_metadata"] = {
                "id": state.payload["id"],
                "type": state.payload["type"],
                "user": invoker,
                "authorizing_integration_owners": state.payload.get("authorizing_integration_owners", {}),
            }
            self._webhook_messages[f"{token}/@original"] = message
            interaction.update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
            resource = {"type": kind, "message": message}
        elif kind in (6, 7):
            original = dict(state.payload.get("message") or self.message(channel, {}))
            if kind == 7:
                original.update(
                    embeds=[{**e, "type": "rich"} for e in data.get("embeds") or []],
                    components=_components(data.get("components") or []),
                    content=data.get("content") or "",
                )
            self._webhook_messages[f"{token}/@original"] = original
            interaction.update(response_message_id=original["id"], response_message_loading=False)
            resource = {"type": kind, "message": original}
        if request.query.get("with_response") in ("1", "true", "True"):
            result: dict[str, Any] = {"interaction": interaction}
            if resource is not None:
                result["resource"] = resource
            return _json(result)
        return web.Response(status=204)

    async def _webhook_post(self, request: web.Request) -> web.Response:
        rec: Recorded = request[RECORDED]
        token = request.match_info["token"]
        body = rec.json if isinstance(rec.json, dict) else {}
        state = self._interactions.get(token)
        if state is not None:
            if (refused := self._token_refused(state)) is not None:
                return refused
            state.responses.append(rec)
        elif (forced := self._take_failure(f"webhook:{request.match_info['app']}")) is not None:
            return self._forced(forced)
        if not (body.get("content") or body.get("embeds") or body.get("components")):
            return _json({"message": "Cannot send an empty message", "code": 50006}, status=400)
        if (invalid := self._invalid_body(body, webhook=True)) is not None:
            return invalid
        channel = str(state.payload.get("channel_id")) if state else "webhook-" + request.match_info["app"]
        message = self.message(channel, body, webhook_id=request.match_info["app"])
        self._webhook_messages[f"{token}/{message['id']}"] = message
        self.channel_messages.setdefault(channel, []).append(message)
        if request.query.get("wait") in ("1", "true", "True") or state is not None:
            return _json(message)
        return web.Response(status=204)

    async def _webhook_get(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['token']}/{request.match_info['message']}"
        if key not in self._webhook_messages:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json(self._webhook_messages[key])

    async def _webhook_patch(self, request: web.Request) -> web.Response:
        rec: Recorded = request[RECORDED]
        token = request.match_info["token"]
        if (state := self._interactions.get(token)) is not None:
            if (refused := self._token_refused(state)) is not None:
                return refused
            state.responses.append(rec)
        key = f"{token}/{request.match_info['message']}"
        if key not in self._webhook_messages:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        body = rec.json if isinstance(rec.json, dict) else {}
        if (invalid := self._invalid_body(body, webhook=True)) is not None:
            return invalid
        message = self._webhook_messages[key]
        if "embeds" in body:
            message["embeds"] = [{**e, "type": "rich"} for e in body["embeds"] or []]
        if "content" in body:
            message["content"] = body["content"] or ""
        if "components" in body:
            message["components"] = _components(body["components"] or [])
        message["flags"] = int(message.get("flags") or 0) & ~LOADING
        message["edited_timestamp"] = datetime.now(UTC).isoformat()
        return _json(message)

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        rec: Recorded = request[RECORDED]
        token = request.match_info["token"]
        if (state := self._interactions.get(token)) is not None:
            state.responses.append(rec)
        if self._webhook_messages.pop(f"{token}/{request.match_info['message']}", None) is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return web.Response(status=204)

    async def _channel_post(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        channel = request.match_info["channel"]
        if (forced := self._take_failure(channel)) is not None:
            return self._forced(forced)
        if (limited := self._global_limited(request)) is not None:
            return limited
        if channel in self.forums:
            return _json(
                {"message": "Cannot send messages in a forum channel", "code": NOT_IN_FORUM}, status=400
            )
        thread = self.threads.get(channel)
        if thread is not None and self._lacks(thread["parent_id"], SEND_MESSAGES_IN_THREADS):
            return _missing_permissions()
        now = self.clock()
        bucket = self._buckets.setdefault(channel, _Bucket())
        if bucket.reset_at <= now:
            bucket.count, bucket.reset_at = 0, now + self.channel_window
        if self.channel_limit is not None and bucket.count >= self.channel_limit:
            return self._too_many(round(bucket.reset_at - now, 3), is_global=False, bucket=bucket)
        bucket.count += 1
        headers = self._bucket_headers(bucket) if self.channel_limit is not None else {}
        body = request[RECORDED].json
        if not isinstance(body, dict) or not (body.get("content") or body.get("embeds")):
            return _json(
                {"message": "Cannot send an empty message", "code": 50006}, status=400, headers=headers
            )
        if (invalid := self._invalid_body(body)) is not None:
            return invalid
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((channel, str(nonce)))
            if seen is not None and now - seen.at < self.nonce_ttl:
                return _json(seen.message, headers=headers)
        message = self.message(channel, body)
        if nonce is not None:
            self._nonces[(channel, str(nonce))] = _Sent(message, now)
        self.channel_messages.setdefault(channel, []).append(message)
        return _json(message, headers=headers)

    # -- threads and forums -------------------------------------------------------------------------

    def _lacks(self, channel: str, permission: int) -> bool:
        return permission in self._denied.get(str(channel), set())

    def _channel_object(self, channel: str) -> dict[str, Any]:
        if channel in self.threads:
            return self.threads[channel]
        if channel in self.forums:
            return self.forums[channel]
        return _text_channel(channel, str(GUILD_ID))

    async def _channel_get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        if (limited := self._global_limited(request)) is not None:
            return limited
        return _json(self._channel_object(request.match_info["channel"]))

    async def _guild_channels(self, request: web.Request) -> web.Response:
        """The guild's channels as GET /guilds/{id}/channels lists them: no threads, forums with their tags."""
        if not self._authorised(request):
            return self._unauthorised()
        if (limited := self._global_limited(request)) is not None:
            return limited
        guild = request.match_info["guild"]
        if guild not in {str(g) for g in self.guild_ids}:
            return _json({"message": "Unknown Guild", "code": 10004}, status=404)
        channels = (
            [_text_channel(c, guild) for c in self.text_channels] if guild == str(self.guild_ids[0]) else []
        )
        channels += [f for f in self.forums.values() if f["guild_id"] == guild]
        return _json(channels)

    def _thread_errors(self, body: Any, fields: frozenset[str]) -> dict[str, tuple[str, str]]:
        if not isinstance(body, dict):
            return {"_": ("BASE_TYPE_REQUIRED", "This field is required")}
        errors = {key: ("UNKNOWN_FIELD", f"Unknown field {key!r}.") for key in sorted(set(body) - fields)}
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= THREAD_NAME_MAX:
            errors["name"] = ("BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {THREAD_NAME_MAX} in length.")
        archive = body.get("auto_archive_duration")
        if archive is not None and archive not in AUTO_ARCHIVE_MINUTES:
            errors["auto_archive_duration"] = (
                "BASE_TYPE_CHOICES",
                "Value must be one of {60, 1440, 4320, 10080}.",
            )
        return errors

    def _refuse(self, body: Any, errors: dict[str, tuple[str, str]]) -> web.Response:
        self.refused.append((body if isinstance(body, dict) else {}, errors))
        tree: dict[str, Any] = {}
        for path, (code, text) in errors.items():
            node = tree
            for part in path.split("."):
                node = node.setdefault(part, {})
            node["_errors"] = [{"code": code, "message": text}]
        return _json({"message": "Invalid Form Body", "code": 50035, "errors": tree}, status=400)

    def _new_thread(self, thread_id: str, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        thread = {
            "id": thread_id,
            "type": PUBLIC_THREAD,
            "guild_id": self._channel_object(parent).get("guild_id", str(GUILD_ID)),
            "parent_id": parent,
            "owner_id": str(BOT_USER_ID),
            "name": body["name"],
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "applied_tags": list(body.get("applied_tags") or []),
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
            },
        }
        self.threads[thread_id] = thread
        return thread

    def _thread_gate(self, request: web.Request, channel: str) -> web.Response | None:
        """Authorise, then apply an injected failure or the global limit to a thread creation."""
        if not self._authorised(request):
            return self._unauthorised()
        if (forced := self._take_failure(f"threads:{channel}")) is not None:
            return self._forced(forced)
        return self._global_limited(request)

    async def _thread_from_message(self, request: web.Request) -> web.Response:
        channel, message_id = request.match_info["channel"], request.match_info["message"]
        if (refused := self._thread_gate(request, channel)) is not None:
            return refused
        if channel in self.forums:
            return _json(
                {"message": "Cannot execute action on this channel type", "code": WRONG_CHANNEL_TYPE},
                status=400,
            )
        if self._lacks(channel, CREATE_PUBLIC_THREADS):
            return _missing_permissions()
        body = request[RECORDED].json
        if errors := self._thread_errors(body, START_THREAD_FIELDS):
            return self._refuse(body, errors)
        if not any(m["id"] == message_id for m in self.channel_messages.get(channel, [])):
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        if message_id in self.threads:
            return _json(
                {"message": "A thread has already been created for this message", "code": THREAD_EXISTS},
                status=400,
            )
        return _json(self._new_thread(message_id, channel, body), status=201)

    async def _forum_post(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        if (refused := self._thread_gate(request, channel)) is not None:
            return refused
        forum = self.forums.get(channel)
        if forum is None:
            # Start Thread without Message: newsbot never asks for it, so the fake does not serve it.
            return _json(
                {"message": "This fake serves forum posts only", "code": WRONG_CHANNEL_TYPE}, status=400
            )
        if self._lacks(channel, SEND_MESSAGES):
            return _missing_permissions()
        body = request[RECORDED].json
        errors = self._thread_errors(body, FORUM_POST_FIELDS)
        if isinstance(body, dict):
            message = body.get("message")
            if not isinstance(message, dict) or not (message.get("content") or message.get("embeds")):
                errors["message"] = ("BASE_TYPE_REQUIRED", "This field is required")
            else:
                for key in sorted(set(message) - FORUM_MESSAGE_FIELDS):
                    errors[f"message.{key}"] = ("UNKNOWN_FIELD", f"Unknown field {key!r}.")
                errors.update({f"message.{k}": v for k, v in body_errors(message).items()})
            tags = body.get("applied_tags") or []
            offered = {t["id"] for t in forum["available_tags"]}
            if len(tags) > APPLIED_TAGS_MAX:
                errors["applied_tags"] = _too_long(APPLIED_TAGS_MAX)
            elif any(t not in offered for t in tags):
                errors["applied_tags"] = ("UNKNOWN_TAG", "Unknown tag for this forum.")
        if errors:
            return self._refuse(body, errors)
        thread_id = str(next(self._ids))
        thread = self._new_thread(thread_id, channel, body)
        first = {**self.message(thread_id, body["message"]), "id": thread_id}  # the starter message
        self.channel_messages.setdefault(thread_id, []).append(first)
        return _json({**thread, "message": first}, status=201)

    async def _active_threads(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        if (limited := self._global_limited(request)) is not None:
            return limited
        guild = request.match_info["guild"]
        active = [
            t for t in self.threads.values()
            if t["guild_id"] == guild and not t["thread_metadata"]["archived"]
        ]  # fmt: skip
        return _json({"threads": active, "members": []})

    def _token_refused(self, state: _Interaction) -> web.Response | None:
        """Refuse a follow-up or edit the way Discord does before the answer, or once the token expired."""
        if not any(r.path.endswith("/callback") for r in state.responses):
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        if self.clock() - state.sent_at > INTERACTION_TOKEN_TTL:
            return _json({"message": "Invalid Webhook Token", "code": 50027}, status=401)
        return None

    def _invalid_body(
        self, body: dict[str, Any], *, webhook: bool = False, interaction: bool = False
    ) -> web.Response | None:
        """Answer 50035 Invalid Form Body, with Discord's per-field errors, when `body` breaks a limit."""
        errors = body_errors(body, webhook=webhook, interaction=interaction)
        return self._refuse(body, errors) if errors else None

    def _take_failure(self, key: str) -> _Failure | None:
        failures = self._failures.get(key)
        if not failures:
            return None
        failure = failures[0]
        failure.times -= 1
        if failure.times <= 0:
            failures.popleft()
        return failure

    def _forced(self, failure: _Failure) -> web.Response:
        if failure.status == 429 and failure.cloudflare:
            # https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit-aka-cloudflare-bans
            return web.Response(
                status=429,
                text="<!DOCTYPE html><title>Access denied | discord.com used Cloudflare</title>error code: 1015",
                content_type="text/html",
                headers={"Retry-After": str(max(1, int(-(-failure.retry_after // 1))))},
            )
        if failure.status == 429:
            return self._too_many(failure.retry_after, is_global=failure.is_global, scope=failure.scope)
        known = {
            400: ("Invalid Form Body", 50035),
            403: ("Missing Permissions", 50013),
            404: ("Unknown Channel", 10003),
        }
        if failure.status in known:
            message, code = known[failure.status]
            return _json({"message": message, "code": code}, status=failure.status)
        return web.Response(status=failure.status, text="upstream connect error", content_type="text/plain")

    # -- gateway ----------------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json(
            {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
        )
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    self.heartbeats += 1
                    await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    if frame["d"].get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    refused = self._shard_refused(frame["d"].get("shard"))
                    if refused is not None:
                        await ws.close(code=refused[0], message=refused[1].encode())
                        break
                    self.identify = frame["d"]
                    self.sessions.append(frame["d"])
                    self.identified_at.append((time.monotonic(), (frame["d"].get("shard") or [0, 1])[0]))
                    self._shard_of[ws] = (frame["d"].get("shard") or [0, 1])[0]
                    self._sockets.append(ws)
                    await self._send_ready(ws)
                    self.identified.set()
                    async with self._changed:
                        self._changed.notify_all()
                elif op == 6:
                    self._sockets.append(ws)
                    await ws.send_json({"op": 0, "t": "RESUMED", "s": next(self._seq), "d": {}})
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._shard_of.pop(ws, None)
        return ws

    def _shard_refused(self, shard: Any) -> tuple[int, str] | None:
        """Return Discord's close code for a bad `shard: [id, count]` in IDENTIFY, or None when it is fine.

        https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes
        """
        if shard is None:
            return (4011, "Sharding required.") if self.shard_count > 1 else None
        valid = (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(n, int) for n in shard)
            and 0 <= shard[0] < shard[1]
            and shard[1] == self.shard_count
        )
        return None if valid else (4010, "Invalid shard.")

    async def _send_ready(self, ws: web.WebSocketResponse) -> None:
        ready = {
            "v": 10,
            "user": self.bot_user(),
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guild_ids],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APPLICATION_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "session_type": "normal",
            "auth_session_id_hash": "",
            "_trace": ["fake-discord"],
        }
        shard = self._shard_of.get(ws, 0)
        mine = [g for g in self.guild_ids if self.shard_for(g) == shard]
        ready["guilds"] = [{"id": str(g), "unavailable": True} for g in mine]
        if self.shard_count > 1:
            ready["shard"] = [shard, self.shard_count]
        await ws.send_json({"op": 0, "t": "READY", "s": next(self._seq), "d": ready})
        for gid in mine:
            guild = _guild(gid)
            if gid == self.guild_ids[0]:
                guild["channels"] += [_text_channel(c, str(gid)) for c in self.text_channels]
            guild["channels"] += [f for f in self.forums.values() if f["guild_id"] == str(gid)]
            await ws.send_json({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": guild})


def _guild(guild_id: int) -> dict[str, Any]:
    gid = str(guild_id)
    return {
        "id": gid,
        "name": f"Guild {gid[-4:]}",
        "icon": None,
        "owner_id": str(USER_ID),
        "unavailable": False,
        "member_count": 2,
        "large": False,
        "features": [],
        "roles": [
            {
                "id": gid,
                "name": "@everyone",
                "permissions": str(VIEW_CHANNEL | SEND_MESSAGES),
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "channels": [_text_channel(str(CHANNEL_ID), gid)],
        "threads": [],
        "members": [],
        "voice_states": [],
        "presences": [],
        "emojis": [],
        "stickers": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "preferred_locale": "en-US",
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "system_channel_flags": 0,
    }


def _text_channel(channel_id: str, guild_id: str) -> dict[str, Any]:
    return {
        "id": channel_id,
        "type": GUILD_TEXT,
        "guild_id": guild_id,
        "name": "news",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def _missing_permissions() -> web.Response:
    return _json({"message": "Missing Permissions", "code": 50013}, status=403)


def _too_long(limit: int) -> tuple[str, str]:
    return "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."


# Keys an incoming webhook or interaction answer takes besides a create-message body's.
_WEBHOOK_FIELDS = frozenset({"username", "avatar_url", "thread_name", "applied_tags", "thread_id"})


def body_errors(
    body: dict[str, Any], *, webhook: bool = False, interaction: bool = False
) -> dict[str, tuple[str, str]]:
    """Return Discord's complaints about a message body, keyed by the dotted path of the bad field."""
    errors: dict[str, tuple[str, str]] = {}
    allowed = MESSAGE_FIELDS | (_WEBHOOK_FIELDS if webhook else frozenset())
    if interaction:
        allowed = allowed - {"nonce", "enforce_nonce", "message_reference", "sticker_ids"}
    for key in sorted(set(body) - allowed):
        errors[key] = ("UNKNOWN_FIELD", f"Unknown field {key!r}.")
    content = body.get("content")
    if isinstance(content, str) and len(content) > CONTENT_MAX:
        errors["content"] = _too_long(CONTENT_MAX)
    nonce = body.get("nonce")
    if isinstance(nonce, str) and len(nonce) > NONCE_MAX:
        errors["nonce"] = _too_long(NONCE_MAX)
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_MAX:
        errors["embeds"] = ("BASE_TYPE_MAX_LENGTH", f"Must be {EMBEDS_MAX} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        where = f"embeds.{i}"
        texts = {
            "title": (str(embed.get("title") or ""), EMBED_TITLE_MAX),
            "description": (str(embed.get("description") or ""), EMBED_DESCRIPTION_MAX),
            "footer.text": (str((embed.get("footer") or {}).get("text") or ""), FOOTER_TEXT_MAX),
            "author.name": (str((embed.get("author") or {}).get("name") or ""), AUTHOR_NAME_MAX),
        }
        for name, (text, limit) in texts.items():
            total += len(text)
            if len(text) > limit:
                errors[f"{where}.{name}"] = _too_long(limit)
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS_MAX:
            errors[f"{where}.fields"] = _too_long(EMBED_FIELDS_MAX)
        for j, f in enumerate(fields):
            name, value = str(f.get("name") or ""), str(f.get("value") or "")
            total += len(name) + len(value)
            for part, text, limit in (("name", name, FIELD_NAME_MAX), ("value", value, FIELD_VALUE_MAX)):
                if not text:
                    errors[f"{where}.fields.{j}.{part}"] = ("BASE_TYPE_REQUIRED", "This field is required")
                elif len(text) > limit:
                    errors[f"{where}.fields.{j}.{part}"] = _too_long(limit)
    if total > EMBEDS_TOTAL_MAX:
        errors["embeds"] = (
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {EMBEDS_TOTAL_MAX}",
        )
    return errors


def _components(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Echo request components the way Discord returns them (buttons get a numeric id)."""
    counter = itertools.count(1)
    out = []
    for row in rows:
        children = [{**c, "id": next(counter)} for c in row.get("components", [])]
        out.append({**row, "id": next(counter), "components": children})
    return out


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body only when Content-Type is exactly application/json (no charset).
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={**(headers or {}), "Content-Type": "application/json"},
    )
