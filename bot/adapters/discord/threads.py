"""Discord threads and forum posts over REST: the requests a digest's thread takes besides channel posts.

A digest in a text channel becomes a thread started from its message; in a forum channel it becomes a
new post. Both requests are plain aiohttp, like the sender, so a 429 of several minutes on thread
creation (observed 145–280 s, shared per guild: discord-api-docs#7816, #8082) reaches the outbox, which
reschedules the row instead of holding a worker asleep. Replies go through `DiscordSender` with nonces.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.adapters.discord.sender import DEFAULT_TIMEOUT, SERVER_ERROR_BACKOFF, DiscordSender, classify
from bot.core.ports import Failed, RetryLater, SendOutcome, Sent, Unauthorized
from bot.core.threads import ChannelShape, ForumTag

log = logging.getLogger(__name__)

# https://discord.com/developers/docs/resources/channel#start-thread-from-message (and …-in-forum-or-media-channel)
THREAD_NAME_MAX = 100  # a thread name is 1–100 characters
ARCHIVE_MINUTES = (60, 1440, 4320, 10080)  # the auto_archive_duration values Discord accepts
DEFAULT_ARCHIVE_MINUTES = 1440  # a day: a daily digest's thread leaves the list when the next one comes
APPLIED_TAGS_MAX = 5  # a forum post carries at most 5 tags
# https://discord.com/developers/docs/resources/channel#channel-object-channel-types
FORUM_TYPES = frozenset({15, 16})  # GUILD_FORUM and GUILD_MEDIA take posts, never plain messages
THREAD_PARENT_TYPES = frozenset({0, 5})  # GUILD_TEXT and GUILD_ANNOUNCEMENT start threads from messages
# https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes
THREAD_EXISTS = 160004  # "A thread has already been created for this message": our earlier try worked
MISSING_PERMISSIONS = 50013
# A thread found on retry counts as ours when Discord stamped it at most this long before our intent was
# recorded (the two clocks differ; the intent is written before the request is sent).
CLOCK_SKEW = timedelta(minutes=2)
# After a guild's channel list could not be read (a 5xx, a 429, no access), its channels are asked about
# one by one for this long before the list is tried again, so a failing guild costs no extra request.
GUILD_LIST_RETRY_SECONDS = 60.0


def thread_name(name: str) -> str:
    """Return `name` cut to Discord's 100 characters (code points), never empty."""
    cut = " ".join(name.split())[:THREAD_NAME_MAX].strip()
    return cut or "News"


def choose_tags(tags: tuple[ForumTag, ...], wanted: list[str]) -> list[str]:
    """Return the ids of the forum tags named like `wanted` (any case), in that order, at most five.

    Moderated tags are left out: only members who may manage threads can apply them, and a bot that
    cannot would have its post refused.
    """
    by_name = {t.name.casefold(): t for t in tags if not t.moderated}
    chosen: list[str] = []
    for name in wanted:
        tag = by_name.get(name.casefold())
        if tag is not None and tag.id not in chosen:
            chosen.append(tag.id)
    return chosen[:APPLIED_TAGS_MAX]


def _code(data: Any) -> int | None:
    return int(data["code"]) if isinstance(data, dict) and isinstance(data.get("code"), int) else None


class DiscordThreads:
    """Start threads, create and find forum posts, and reply into threads; implements `ThreadApi`."""

    platform = "discord"

    def __init__(
        self,
        sender: DiscordSender,
        *,
        token: SecretStr | str | None = None,
        archive_minutes: int = DEFAULT_ARCHIVE_MINUTES,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        pace: Callable[[str], Awaitable[object]] | None = None,
        hint: Callable[[str], ChannelShape | None] | None = None,
    ) -> None:
        self.sender = sender
        self.api_base = sender.api_base
        self.archive_minutes = archive_minutes
        # The sender's own token unless told otherwise: both speak for the same bot.
        self._token = (
            sender._token if token is None else SecretStr(token) if isinstance(token, str) else token
        )
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._shapes: dict[str, ChannelShape] = {}  # a channel's type does not change under a running bot
        # Guilds whose channels were all read in one request (None) or whose list failed (when it may be
        # tried again), and one lock per guild so concurrent deliveries wait for one list, not ask again.
        self._listed: dict[str, float | None] = {}
        self._listing: dict[str, asyncio.Lock] = {}
        self._me: str | None = None
        # Waits for a slot of the bot's request budget (the delivery limiter), so these requests count
        # against Discord's 50 per second like every post does; keyed apart from channel posts.
        self._pace = pace
        self._hint = hint  # the gateway's channel cache while `newsbot run` is connected (DiscordBot)

    # -- bodies ----------------------------------------------------------------------------------------

    def thread_request(self, name: str) -> dict[str, Any]:
        """Return the Start Thread from Message body."""
        return {"name": thread_name(name), "auto_archive_duration": self.archive_minutes}

    def post_request(
        self, shape: ChannelShape, name: str, message: dict[str, Any], labels: list[str]
    ) -> dict[str, Any]:
        """Return the Start Thread in Forum body: the name, the first message and the tags `labels` match."""
        first = {k: v for k, v in message.items() if k not in {"nonce", "enforce_nonce"}}
        first["allowed_mentions"] = {"parse": []}
        return {
            "name": thread_name(name),
            "auto_archive_duration": self.archive_minutes,
            "applied_tags": choose_tags(shape.tags, labels),
            "message": first,
        }

    # -- requests --------------------------------------------------------------------------------------

    async def shape(
        self, channel: str, guild: str | None = None
    ) -> ChannelShape | RetryLater | Failed | Unauthorized:
        """Return whether `channel` is a forum (and its tags) or takes threads from messages.

        Without the gateway's cache (a replica holding no shard), the channel's `guild` is read whole:
        one request answers for every channel in it, where asking per channel spent a request of the
        bot's 50 per second on each (measured with three replicas and one shard: about 1,500 requests
        for a digest to 1,000 channels, 32 s instead of 21). A channel the list does not hold (a thread) is asked about alone.
        """
        known = self._shapes.get(channel) or (self._hint(channel) if self._hint is not None else None)
        if known is not None:
            return known
        if guild:
            await self._list_guild(guild)
            if (listed := self._shapes.get(channel)) is not None:
                return listed
        outcome, data = await self._call("GET", f"/channels/{channel}")
        if isinstance(outcome, Failed):
            return Failed(f"reading channel {channel}: {outcome.reason}")
        if not isinstance(outcome, Sent):
            return outcome
        if not isinstance(data, dict):
            return RetryLater(SERVER_ERROR_BACKOFF, "Discord sent no channel object")
        found = _shape_of(data)
        self._shapes[channel] = found
        return found

    async def _list_guild(self, guild: str) -> None:
        """Learn the shape of every channel of `guild` from one request, once (GET /guilds/{id}/channels)."""
        async with self._listing.setdefault(guild, asyncio.Lock()):
            if guild in self._listed:
                retry_at = self._listed[guild]
                if retry_at is None or time.monotonic() < retry_at:
                    return
            outcome, data = await self._call("GET", f"/guilds/{guild}/channels")
            if not isinstance(outcome, Sent) or not isinstance(data, list):
                self._listed[guild] = time.monotonic() + GUILD_LIST_RETRY_SECONDS
                return
            for channel in data:
                if isinstance(channel, dict) and channel.get("id"):
                    self._shapes.setdefault(str(channel["id"]), _shape_of(channel, guild))
            self._listed[guild] = None

    async def start_thread(self, channel: str, message_id: str, body: dict[str, Any]) -> SendOutcome:
        """Start a public thread from a posted message; its id is the message's id."""
        outcome, data = await self._call("POST", f"/channels/{channel}/messages/{message_id}/threads", body)
        if isinstance(outcome, Failed) and _code(data) == THREAD_EXISTS:
            # A message has at most one thread, with the message's id: this is our earlier try.
            return Sent(message_id)
        return _explained(outcome, "starting the thread", permission="Create Public Threads")

    async def create_post(self, forum: str, body: dict[str, Any]) -> SendOutcome:
        """Create a forum post; Sent(the post's thread id)."""
        outcome, _ = await self._call("POST", f"/channels/{forum}/threads", body)
        return _explained(outcome, "creating the forum post", permission="Send Messages")

    async def find_post(self, guild: str, forum: str, name: str, since: datetime) -> SendOutcome | None:
        """Return Sent(id) for the bot's active post in `forum` named `name`, created since `since`."""
        me = await self._bot_id()
        if not isinstance(me, str):
            return me
        outcome, data = await self._call("GET", f"/guilds/{guild}/threads/active")
        if not isinstance(outcome, Sent):
            return _explained(outcome, "listing the active threads")
        threads = data.get("threads") if isinstance(data, dict) else None
        for thread in threads or []:
            if not isinstance(thread, dict) or str(thread.get("parent_id")) != forum:
                continue
            if thread.get("name") != name or str(thread.get("owner_id")) != me:
                continue
            created = _created(thread)
            if created is not None and created >= since - CLOCK_SKEW:
                return Sent(str(thread["id"]))
        return None

    async def reply(
        self, channel: str, anchor: str, body: dict[str, Any], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        """Post `body` in the thread `anchor` (a thread is a channel of its own), with a nonce."""
        outcome = await self.sender.send(anchor, body, key=key, workspace=workspace)
        return _explained(outcome, "posting in the thread", permission="Send Messages in Threads")

    # -- plumbing --------------------------------------------------------------------------------------

    async def _bot_id(self) -> str | SendOutcome:
        if self._me is None:
            outcome, data = await self._call("GET", "/users/@me")
            if not isinstance(outcome, Sent):
                return outcome
            self._me = str(data.get("id")) if isinstance(data, dict) else ""
        return self._me

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[SendOutcome, Any]:
        """Send one request; return its outcome and the parsed JSON answer (None when there is none)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        if self._pace is not None:
            await self._pace("discord-threads")
        headers = {
            "Authorization": f"Bot {self._token.get_secret_value()}",
            "User-Agent": "DiscordBot (https://github.com/newsbot, 0.1) newsbot",
        }
        try:
            async with self._session.request(
                method, self.api_base + path, json=body, headers=headers
            ) as response:
                outcome = await classify(response)
                raw = await response.text()
        except TimeoutError:
            return RetryLater(SERVER_ERROR_BACKOFF, "timed out waiting for Discord"), None
        except (aiohttp.ClientError, OSError) as exc:
            return RetryLater(SERVER_ERROR_BACKOFF, f"cannot reach Discord: {type(exc).__name__}"), None
        try:
            data: Any = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if not isinstance(outcome, Sent):
            log.info("discord %s %s: %s", method, path, outcome)
        return outcome, data

    async def close(self) -> None:
        """Close the HTTP session this object opened."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
            await asyncio.sleep(0)  # aiohttp closes its transports on the next loop iteration


def _shape_of(data: dict[str, Any], guild: str | None = None) -> ChannelShape:
    """Return how the channel object `data` (of `guild`, unless it names its own) takes threads."""
    guild = str(data["guild_id"]) if data.get("guild_id") else guild
    if data.get("type") in FORUM_TYPES:
        tags = tuple(
            ForumTag(str(t["id"]), str(t.get("name") or ""), bool(t.get("moderated")))
            for t in data.get("available_tags") or []
            if isinstance(t, dict) and "id" in t
        )
        return ChannelShape("forum", guild, tags)
    if data.get("type") in THREAD_PARENT_TYPES:
        return ChannelShape("thread", guild)
    return ChannelShape("none", guild)  # a thread, a DM, a voice channel's chat: no thread can start there


def _created(thread: dict[str, Any]) -> datetime | None:
    stamp = (thread.get("thread_metadata") or {}).get("create_timestamp")
    try:
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def _explained(outcome: SendOutcome, doing: str, *, permission: str | None = None) -> SendOutcome:
    """Say what newsbot was doing when Discord refused, and which permission a 403 is missing."""
    if not isinstance(outcome, Failed):
        return outcome
    if permission is not None and f"code {MISSING_PERMISSIONS}" in outcome.reason:
        return Failed(
            f"the bot lacks the {permission} permission in this channel ({doing}: {outcome.reason}); "
            "grant it, then retry the delivery",
            paused=True,
        )
    return Failed(f"{doing}: {outcome.reason}")
