"""A loopback Slack: the Web API methods newsbot calls, response_url and incoming-webhook endpoints.

Serves aiohttp on 127.0.0.1 port 0 and records every request, so tests assert on exactly what the
real slack_sdk / slack-bolt clients sent. Errors, 429s and rate limits can be injected; the rate
limits use an injectable clock so tests advance time instead of sleeping.

chat.postMessage is as strict as Slack's: block and text limits (invalid_blocks, msg_too_long),
not_in_channel for a channel the bot was not invited to, ratelimited with Retry-After, and the
`unfurl_links` / `unfurl_media` flags decide which links get a preview card under the message, as a
reader would see it. A message with `thread_ts` is a reply in that message's thread (recorded per
message; `replies()` reads a thread back), and a `thread_ts` that names no top-level message of the
channel is refused as `thread_not_found`, so a reply can never land in the channel unnoticed. The limits are this fake's own constants from Slack's documentation, never
imported from `bot/`, so a wrong constant in the code under test cannot make the fake agree with it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-fake-bot-token-0123456789"
APP_TOKEN = "xapp-fake-app-token-0123456789"
TEAM_ID = "T0FAKE"
BOT_USER = "U0BOT"
APP_ID = "A0NEWSBOT"

# The app's OAuth credentials (Basic Information → App Credentials), for oauth.v2.access.
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef"
# https://docs.slack.dev/authentication/using-token-rotation: a rotating access token lives 12 hours,
# and each refresh token works once (the answer carries the next one).
ROTATED_TOKEN_SECONDS = 43_200

# https://docs.slack.dev/reference/methods/chat.postMessage (arguments `blocks` and `text`)
MESSAGE_BLOCKS_MAX = 50
MESSAGE_TEXT_MAX = 40_000  # longer `text` is refused with msg_too_long
# https://docs.slack.dev/reference/block-kit/blocks/section-block and .../header-block, .../context-block
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
BLOCK_ID_MAX = 255
TEXT_OBJECT_MAX = 3000  # https://docs.slack.dev/reference/block-kit/composition-objects/text-object
# https://docs.slack.dev/messaging/unfurling-links-in-messages: classic unfurling is the default, so a
# link gets a preview card unless the poster passes unfurl_links=false (unfurl_media=false for media).
MEDIA_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".mov", ".mp3")
_URL = re.compile(r"https?://[^\s|>]+")


@dataclass
class Call:
    """One request to the fake: Web API method (or "response"/"webhook"), arguments and headers."""

    method: str
    http_method: str
    params: dict[str, Any]
    headers: dict[str, str]
    path: str
    at: float  # time.perf_counter() on arrival, for the benchmark


@dataclass
class Posted:
    """A message chat.postMessage accepted."""

    channel: str
    ts: str
    body: dict[str, Any]
    previews: list[str] = field(default_factory=list)  # links shown with a preview card under the message
    thread_ts: str | None = None  # the parent's ts when this is a thread reply
    broadcast: bool = False  # a reply also shown in the channel (reply_broadcast)
    team: str = TEAM_ID  # the workspace of the token it was posted with


@dataclass
class Grant:
    """What approving the consent page in one workspace gave: the code's workspace and token lifetime."""

    team_id: str
    team_name: str
    installer: str
    expires_in: int | None  # None: the app does not rotate tokens


@dataclass
class _Injected:
    status: int
    error: str
    retry_after: int | None = None
    content_type: str | None = None  # set: answer `error` as this raw body instead of Slack's JSON


@dataclass
class RateLimits:
    """Slack's chat.postMessage limits: about one message per second per channel, and a workspace cap."""

    per_channel_interval: float | None = None  # seconds between messages in one channel (Slack: ~1)
    workspace_per_minute: int | None = None


@dataclass
class FakeSlack:
    """The fake server; use `async with FakeSlack() as slack:` and point clients at `slack.api_base`."""

    tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    app_tokens: set[str] = field(default_factory=lambda: {APP_TOKEN})
    channels: set[str] = field(default_factory=lambda: {"C0GENERAL", "C0NEWS"})
    not_joined: set[str] = field(default_factory=set)  # channels that exist but the bot is not in
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    limits: RateLimits = field(default_factory=RateLimits)
    clock: Callable[[], float] = time.monotonic
    channel_teams: dict[str, str] = field(default_factory=dict)  # a channel's workspace (default TEAM_ID)

    def __post_init__(self) -> None:
        self.token_teams: dict[str, str] = dict.fromkeys(self.tokens, TEAM_ID)
        self.grants: dict[str, Grant] = {}  # OAuth code → what it grants (each code works once)
        self.refresh_tokens: dict[str, str] = {}  # unused refresh token → its workspace
        self.issued: dict[str, list[str]] = defaultdict(list)  # workspace → bot tokens issued, oldest first
        self._serial = itertools.count(1)
        self.calls: list[Call] = []
        self.posted: list[Posted] = []
        self.refused: list[tuple[dict[str, Any], list[str]]] = []  # bodies answered invalid_blocks
        self.responses: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.first_response_at: dict[str, float] = {}  # response_url id → perf_counter of its first body
        self.webhook_posts: list[dict[str, Any]] = []
        self._injected: dict[str, deque[_Injected]] = defaultdict(deque)
        self._last_in_channel: dict[str, float] = {}
        self._workspace_window: deque[float] = deque()
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self._envelopes = itertools.count(1)

    # -- life cycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_post("/webhook/{hook:.*}", self._webhook)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self.sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Return the Web API base URL to give AsyncWebClient(base_url=…)."""
        return f"{self.base}/api/"

    def response_url(self, rid: str) -> str:
        """Return a response_url whose bodies are recorded under `rid`."""
        return f"{self.base}/response/{rid}"

    def webhook_url(self, hook: str = "T0FAKE/B0HOOK/secretpart") -> str:
        """Return an incoming-webhook URL on the fake."""
        return f"{self.base}/webhook/{hook}"

    # -- injection -----------------------------------------------------------------------------

    def fail_next(
        self, method: str, error: str, *, status: int = 200, retry_after: int | None = None
    ) -> None:
        """Make the next call of `method` (or "webhook") fail with `error` and HTTP `status`."""
        self._injected[method].append(_Injected(status, error, retry_after))

    def drop_next(self, method: str) -> None:
        """Make the next call of `method` lose its connection after the request arrived (no answer)."""
        self._injected[method].append(_Injected(0, "dropped"))

    def answer_next(self, method: str, status: int, body: str, content_type: str) -> None:
        """Make the next call of `method` get a raw answer, as from a proxy or a server that is not Slack."""
        self._injected[method].append(_Injected(status, body, content_type=content_type))

    def grant(
        self,
        code: str,
        team_id: str,
        *,
        team_name: str = "",
        installer: str = "U0INSTALLER",
        expires_in: int | None = None,
    ) -> None:
        """Make `code` (what Slack appends to the redirect URL) install the app in `team_id` once."""
        self.grants[code] = Grant(team_id, team_name or f"Team {team_id}", installer, expires_in)

    def issue(self, team_id: str, *, expires_in: int | None = None) -> dict[str, Any]:
        """Create a bot token for `team_id` (and a refresh token when it expires) as oauth.v2.access does."""
        n = next(self._serial)
        rotating = expires_in is not None
        token = f"{'xoxe.' if rotating else ''}xoxb-{team_id}-{n:04d}-fake"
        self.tokens.add(token)
        self.token_teams[token] = team_id
        self.issued[team_id].append(token)
        answer: dict[str, Any] = {"access_token": token}
        if rotating:
            refresh = f"xoxe-1-{team_id}-{n:04d}-refresh"
            self.refresh_tokens[refresh] = team_id
            answer.update(refresh_token=refresh, expires_in=expires_in)
        return answer

    def revoke(self, team_id: str) -> None:
        """Invalidate every token of one workspace (what uninstalling the app does first)."""
        for token, team in list(self.token_teams.items()):
            if team == team_id:
                self.tokens.discard(token)
                del self.token_teams[token]

    def refreshes(self) -> list[Call]:
        """Return the oauth.v2.access calls that spent a refresh token."""
        return [c for c in self.calls_to("oauth.v2.access") if c.params.get("grant_type") == "refresh_token"]

    def rate_limit_next(self, method: str, retry_after: int) -> None:
        """Make the next call of `method` answer 429 with Retry-After."""
        self.fail_next(method, "ratelimited", status=429, retry_after=retry_after)

    # -- queries -------------------------------------------------------------------------------

    def top_level(self, channel: str) -> list[Posted]:
        """Return the messages shown in the channel itself (not thread replies), in order."""
        return [p for p in self.posted if p.channel == channel and p.thread_ts is None]

    def replies(self, channel: str, ts: str) -> list[Posted]:
        """Return the replies in the thread under the message `ts`, in order."""
        return [p for p in self.posted if p.channel == channel and p.thread_ts == ts]

    def calls_to(self, method: str) -> list[Call]:
        """Return the recorded calls of one method."""
        return [c for c in self.calls if c.method == method]

    async def wait_for_responses(
        self, rid: str, count: int = 1, within: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until `count` bodies arrived at response_url `rid` and return them."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.responses[rid]) >= count)
        return self.responses[rid]

    async def wait_for_socket(self, within: float = 10.0) -> web.WebSocketResponse:
        """Wait until a Socket Mode client is connected and return its connection."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: any(not ws.closed for ws in self.sockets))
        return next(ws for ws in self.sockets if not ws.closed)

    async def push_envelope(self, kind: str, payload: dict[str, Any], within: float = 10.0) -> dict[str, Any]:
        """Send a Socket Mode envelope (e.g. "slash_commands") and return the client's acknowledgement."""
        ws = await self.wait_for_socket(within)
        envelope_id = f"env-{next(self._envelopes)}"
        await ws.send_json(
            {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": True}
        )
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: envelope_id in self.socket_acks)
        return self.socket_acks[envelope_id]

    # -- handlers ------------------------------------------------------------------------------

    async def _record(self, request: web.Request, method: str) -> Call:
        raw = await request.read()
        params: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if raw:
            if ctype == "application/json":
                params.update(json.loads(raw))
            else:
                params.update(parse_qsl(raw.decode(), keep_blank_values=True))
        call = Call(method, request.method, params, dict(request.headers), request.path, time.perf_counter())
        self.calls.append(call)
        return call

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _take_injected(self, method: str) -> _Injected | None:
        queue = self._injected.get(method)
        return queue.popleft() if queue else None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = await self._record(request, method)
        injected = self._take_injected(method)
        if injected is not None and injected.status == 0 and request.transport is not None:
            request.transport.close()  # the request reached Slack; the answer never reaches the client
            return web.Response(status=500)
        if injected is not None and injected.content_type is not None:
            return web.Response(
                status=injected.status, text=injected.error, content_type=injected.content_type
            )
        if injected is not None:
            return _error(injected.error, injected.status, injected.retry_after)
        auth = call.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else call.params.get("token", "")
        if method == "api.test":
            return _ok({})
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return _error("invalid_auth")
            return _ok({"url": f"ws://127.0.0.1:{self.port}/socket"})
        if method == "oauth.v2.access":
            return self._oauth_access(call)
        if token not in self.tokens:
            return _error("not_authed" if not token else "invalid_auth")
        team = self.token_teams.get(token, TEAM_ID)
        if method == "auth.test":
            default = team == TEAM_ID
            return _ok(
                {
                    "url": "https://fake.slack.test/",
                    "team": "Fake Team" if default else f"Team {team}",
                    "user": "newsbot",
                    "team_id": team,
                    "user_id": BOT_USER if default else f"U0BOT{team}",
                    "bot_id": "B0BOT" if default else f"B0BOT{team}",
                    "is_enterprise_install": False,
                }
            )
        if method == "users.info":
            user = self.users.get(str(call.params.get("user", "")))
            # A token sees the members of its own workspace only.
            if user is None or user.get("team_id", TEAM_ID) != team:
                return _error("user_not_found")
            return _ok({"user": {"id": call.params["user"], "team_id": TEAM_ID, **user}})
        if method == "chat.postMessage":
            return self._post_message(call, team)
        return _error("unknown_method", 404)

    def _oauth_access(self, call: Call) -> web.Response:
        """oauth.v2.access: trade a code (install) or a refresh token (rotation) for a bot token."""
        client_id, secret = call.params.get("client_id"), call.params.get("client_secret")
        basic = call.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic.removeprefix("Basic ")).decode().partition(":")
        if client_id != CLIENT_ID:
            return _error("invalid_client_id")
        if secret != CLIENT_SECRET:
            return _error("bad_client_secret")
        if call.params.get("grant_type") == "refresh_token":
            team = self.refresh_tokens.pop(str(call.params.get("refresh_token", "")), None)
            if team is None:
                return _error("invalid_refresh_token")
            return _ok({"token_type": "bot", **self.issue(team, expires_in=ROTATED_TOKEN_SECONDS)})
        grant = self.grants.pop(str(call.params.get("code", "")), None)
        if grant is None:
            return _error("invalid_code")
        return _ok(
            {
                "app_id": APP_ID,
                "authed_user": {"id": grant.installer},
                "scope": "commands,chat:write,users:read",
                "token_type": "bot",
                "bot_user_id": f"U0BOT{grant.team_id}",
                "team": {"id": grant.team_id, "name": grant.team_name},
                "enterprise": None,
                "is_enterprise_install": False,
                **self.issue(grant.team_id, expires_in=grant.expires_in),
            }
        )

    def _post_message(self, call: Call, team: str) -> web.Response:
        channel = str(call.params.get("channel", ""))
        if channel in self.not_joined:
            return _error("not_in_channel")
        # A channel of another workspace does not exist for this token.
        if channel not in self.channels or self.channel_teams.get(channel, TEAM_ID) != team:
            return _error("channel_not_found")
        blocks = call.params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not call.params.get("text") and not blocks:
            return _error("no_text")
        if len(str(call.params.get("text") or "")) > MESSAGE_TEXT_MAX:
            return _error("msg_too_long")
        if problems := block_problems(blocks or []):
            self.refused.append((call.params, problems))
            return _error("invalid_blocks", messages=problems)
        thread_ts = call.params.get("thread_ts")
        if thread_ts is not None and not any(p.ts == str(thread_ts) for p in self.top_level(channel)):
            return _error("thread_not_found")
        wait = self._rate_wait(channel)
        if wait is not None:
            return _error("ratelimited", 429, wait)
        ts = f"1700000000.{next(self._ts):06d}"
        body = {k: v for k, v in call.params.items() if k not in {"channel", "token"}}
        if blocks is not None:
            body["blocks"] = blocks
        broadcast = thread_ts is not None and not _off(call.params.get("reply_broadcast", False))
        posted = Posted(
            channel,
            ts,
            body,
            _previews(body),
            None if thread_ts is None else str(thread_ts),
            broadcast,
            team=team,
        )
        self.posted.append(posted)
        return _ok({"channel": channel, "ts": ts, "message": {"text": body.get("text", ""), "ts": ts}})

    def _rate_wait(self, channel: str) -> int | None:
        now = self.clock()
        interval = self.limits.per_channel_interval
        if interval is not None:
            last = self._last_in_channel.get(channel)
            if last is not None and now - last < interval:
                return max(1, math.ceil(interval - (now - last)))
        cap = self.limits.workspace_per_minute
        if cap is not None:
            window = self._workspace_window
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= cap:
                return max(1, math.ceil(60 - (now - window[0])))
            window.append(now)
        self._last_in_channel[channel] = now
        return None

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0NEWSBOT"}}
        )
        await self._notify()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                data = json.loads(message.data)
                if "envelope_id" in data:
                    self.socket_acks[data["envelope_id"]] = data
                    await self._notify()
        return ws

    async def _response(self, request: web.Request) -> web.Response:
        call = await self._record(request, "response")
        self.responses[request.match_info["rid"]].append(call.params)
        self.first_response_at.setdefault(request.match_info["rid"], call.at)
        await self._notify()
        return web.Response(text="ok", content_type="text/plain")

    async def _webhook(self, request: web.Request) -> web.Response:
        call = await self._record(request, "webhook")
        injected = self._take_injected("webhook")
        if injected is not None:
            headers = {"Retry-After": str(injected.retry_after)} if injected.retry_after is not None else {}
            return web.Response(status=injected.status, text=injected.error, headers=headers)
        if not call.params.get("text") and not call.params.get("blocks"):
            return web.Response(status=400, text="no_text")
        self.webhook_posts.append(call.params)
        await self._notify()
        return web.Response(text="ok", content_type="text/plain")


def _ok(data: dict[str, Any]) -> web.Response:
    return web.json_response({"ok": True, **data})


def _error(
    error: str, status: int = 200, retry_after: int | None = None, *, messages: list[str] | None = None
) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if status >= 500:
        return web.Response(
            status=status, text=f"{status} {error}", headers=headers, content_type="text/plain"
        )
    body: dict[str, Any] = {"ok": False, "error": error}
    if messages:
        body["response_metadata"] = {"messages": messages}
    return web.json_response(body, status=status, headers=headers)


def _off(value: object) -> bool:
    """Read a boolean argument as Slack does, whether it came as JSON or form-encoded."""
    return value is False or str(value).lower() in {"false", "0"}


def strings(node: object) -> list[str]:
    """Return every string inside a JSON value, depth first."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def _previews(body: dict[str, Any]) -> list[str]:
    """Return the links of a posted message that Slack would show with a preview card."""
    urls = dict.fromkeys(u for s in strings({"text": body.get("text"), "blocks": body.get("blocks")})
                         for u in _URL.findall(s))  # fmt: skip
    links_off, media_off = _off(body.get("unfurl_links")), _off(body.get("unfurl_media"))
    shown = []
    for url in urls:
        media = url.lower().split("?")[0].endswith(MEDIA_SUFFIXES)
        if not (media_off if media else links_off):
            shown.append(url)
    return shown


def _too_long(where: str, limit: int) -> str:
    # The wording of Slack's invalid_blocks messages (response_metadata.messages).
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}]"


def block_problems(blocks: list[Any]) -> list[str]:
    """Return Slack's invalid_blocks messages for `blocks` (empty when Slack would accept them)."""
    found: list[str] = []
    if len(blocks) > MESSAGE_BLOCKS_MAX:
        found.append(f"[ERROR] no more than {MESSAGE_BLOCKS_MAX} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict) or "type" not in block:
            found.append(f"[ERROR] missing required field: type [json-pointer:{where}]")
            continue
        if len(str(block.get("block_id", ""))) > BLOCK_ID_MAX:
            found.append(_too_long(f"{where}/block_id", BLOCK_ID_MAX))
        text = (block.get("text") or {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        kind = block["type"]
        if kind == "header" and not 0 < len(text) <= HEADER_TEXT_MAX:
            found.append(_too_long(f"{where}/text/text", HEADER_TEXT_MAX))
        if kind == "section":
            fields = block.get("fields") or []
            if not text and not fields:
                found.append(f"[ERROR] must provide text or fields [json-pointer:{where}]")
            if len(text) > SECTION_TEXT_MAX:
                found.append(_too_long(f"{where}/text/text", SECTION_TEXT_MAX))
            if len(fields) > SECTION_FIELDS_MAX:
                found.append(
                    f"[ERROR] no more than {SECTION_FIELDS_MAX} items allowed [json-pointer:{where}/fields]"
                )
            for j, f in enumerate(fields):
                if len(str(f.get("text", ""))) > SECTION_FIELD_TEXT_MAX:
                    found.append(_too_long(f"{where}/fields/{j}/text", SECTION_FIELD_TEXT_MAX))
        if kind == "context" and not 0 < len(block.get("elements") or []) <= CONTEXT_ELEMENTS_MAX:
            found.append(
                f"[ERROR] must have 1 to {CONTEXT_ELEMENTS_MAX} items [json-pointer:{where}/elements]"
            )
    return found


SIGNING_SECRET = "fake-signing-secret-abcdef0123456789"


def signed_headers(
    body: str, secret: str = SIGNING_SECRET, *, timestamp: int | None = None
) -> dict[str, str]:
    """Return the headers Slack sends with a request: v0= HMAC-SHA256 of "v0:{ts}:{body}"."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def slash_command(
    text: str,
    response_url: str,
    *,
    command: str = "/news",
    user: str = "U0ALICE",
    channel: str = "C0NEWS",
    team: str = TEAM_ID,
) -> str:
    """Return the form-encoded body of a slash command as Slack posts it."""
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": team,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "news",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0NEWSBOT",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def block_action(
    action_id: str,
    value: str,
    response_url: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0NEWS",
    ephemeral: bool = True,
) -> str:
    """Return the form-encoded body of a button press (block_actions) as Slack posts it."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "fake"},
        "user": {"id": user, "team_id": TEAM_ID},
        "api_app_id": "A0NEWSBOT",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "is_ephemeral": ephemeral, "channel_id": channel},
        "trigger_id": "1.2.3",
        "channel": {"id": channel, "name": "news"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "newsbot_actions",
                "value": value,
                "action_ts": "1700000000.000001",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})
