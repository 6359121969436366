"""The small interfaces core needs from the outside world; adapters and the store implement them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from bot.core.summary import Summary

Clock = Callable[[], datetime]  # "now", timezone-aware; tests pass a clock they move by hand

PutOutcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class TaggedSummary:
    """A summary with the topic ids found for each of its sections and for the whole story."""

    summary: Summary
    section_topics: tuple[tuple[str, ...], ...]  # aligned with summary.all_sections()
    topics: tuple[str, ...]  # union of section topics, headline/lede topics and the summary's known tags
    unknown_tags: tuple[str, ...] = ()  # tags the taxonomy does not define: kept, and reported


@dataclass(frozen=True, slots=True)
class SectionHit:
    """A stored section that answers a query, with the story it belongs to."""

    summary_id: str
    headline: str
    title: str
    text: str
    url: str | None
    published: datetime
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A stored summary as the store returns it for digests."""

    summary: Summary
    published: datetime  # the summary's own date, or its ingest time when it had none
    ingested_at: datetime
    topics: tuple[str, ...] = ()
    unknown_tags: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class HitPage:
    """One page of section hits and whether more follow."""

    hits: list[SectionHit]
    has_more: bool


class Archive(Protocol):
    """Where summaries live: SQLite or PostgreSQL behind SQLAlchemy, or a fake in tests."""

    async def put_many(self, items: Sequence[TaggedSummary], ingested_at: datetime) -> list[PutOutcome]:
        """Store summaries (insert, replace a changed one, skip an unchanged one), one outcome each."""
        ...

    async def sections_for_topic(self, topic_id: str, *, limit: int, offset: int = 0) -> HitPage:
        """Return sections tagged with `topic_id`, newest story first, then by position in the story."""
        ...

    async def search_sections(self, text: str, *, limit: int, offset: int = 0) -> HitPage:
        """Full-text search over section titles and text, newest story first, then by relevance."""
        ...

    async def recent_stories(
        self,
        *,
        since: datetime | None = None,
        limit: int | None = None,
        topics: Sequence[str] = (),
    ) -> list[StoredStory]:
        """Return stories published at or after `since` (all when None), newest first, at most `limit`."""
        ...

    async def topic_counts(self) -> dict[str, int]:
        """Return how many stories carry each topic id."""
        ...

    async def count_stories(self) -> int:
        """Return how many stories are stored."""
        ...


@dataclass(frozen=True, slots=True)
class ChannelKey:
    """A channel on one platform; `workspace` is "" for a DM or the console."""

    platform: str
    workspace: str
    channel: str


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel's standing request for alerts on one topic."""

    key: ChannelKey
    topic_id: str
    created_by: str | None
    created_at: datetime
    paused_reason: str | None = None  # set when delivery failed for good (e.g. the bot lost access)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A channel's digest schedule: a 5-field cron expression in an IANA time zone."""

    key: ChannelKey
    cron: str
    timezone: str
    created_by: str | None
    updated_at: datetime
    next_fire_at: datetime | None = None
    paused_reason: str | None = None


class ChannelStore(Protocol):
    """Per-channel preferences: topic subscriptions and the digest schedule."""

    async def subscribe(self, key: ChannelKey, topic_id: str, *, user: str | None, now: datetime) -> bool:
        """Follow a topic; False when the channel already followed it (a paused one is resumed)."""
        ...

    async def unsubscribe(self, key: ChannelKey, topic_id: str) -> bool:
        """Stop following a topic; False when the channel did not follow it."""
        ...

    async def subscriptions(self, key: ChannelKey) -> list[Subscription]:
        """Return the channel's subscriptions, ordered by topic id."""
        ...

    async def set_schedule(
        self,
        key: ChannelKey,
        *,
        cron: str,
        timezone: str,
        user: str | None,
        now: datetime,
        next_fire_at: datetime | None,
    ) -> None:
        """Create or replace the channel's digest schedule (clears any pause)."""
        ...

    async def clear_schedule(self, key: ChannelKey) -> bool:
        """Remove the channel's schedule; False when it had none."""
        ...

    async def get_schedule(self, key: ChannelKey) -> Schedule | None:
        """Return the channel's schedule, if any."""
        ...


@dataclass(frozen=True, slots=True)
class Sent:
    """The platform accepted the message."""

    message_id: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Try again after `after` seconds: rate limited (429, not an attempt) or a passing failure (5xx, timeout)."""

    after: float
    reason: str
    rate_limited: bool = False


@dataclass(frozen=True, slots=True)
class Failed:
    """The platform refused for good (400/403/404, Slack's not_in_channel …): do not retry.

    `paused`: it refuses until someone changes something there (grants the bot a permission); the
    delivery waits as "paused", with the reason, for that person to retry it.
    """

    reason: str
    paused: bool = False


@dataclass(frozen=True, slots=True)
class Unauthorized:
    """The platform refused the bot's own token (401, Slack's invalid_auth …): the bot's problem, not the channel's.

    The message stays queued and the platform is paused until its token works again.
    """

    reason: str


SendOutcome = Sent | RetryLater | Failed | Unauthorized


class Sender(Protocol):
    """Posts one rendered body to one channel of one platform and says what happened, never raising."""

    platform: str

    async def send(
        self, channel: str, body: dict[str, object], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        """Post `body`; `key` is stable across retries (nonce / metadata); `workspace` picks the token where each has its own."""
        ...


FeedStatus = Literal["new", "ok", "failing", "paused"]
# Every story of feed NAME carries the topic "feed:NAME", so subscriptions, alerts, digests and /topic
# treat a feed like a topic without the taxonomy knowing it.
FEED_TOPIC_PREFIX = "feed:"


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """A followed feed as chat shows it: where its polling stands, and why it is paused if it is."""

    name: str
    url: str
    title: str | None
    status: FeedStatus  # "new": not fetched yet
    stories: int
    last_fetch_at: datetime | None = None
    next_fetch_at: datetime | None = None
    last_error: str | None = None
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class FeedChange:
    """What `/feed add` or `/feed remove` did: `ok` False with the reason (naming the feed or URL) when refused."""

    ok: bool
    message: str


class FeedDirectory(Protocol):
    """The feeds newsbot follows, as the command table reads and changes them (bot.feeds implements it)."""

    async def list_feeds(self) -> list[FeedInfo]:
        """Return every followed feed, by name."""
        ...

    async def get_feed(self, name: str) -> FeedInfo | None:
        """Return the feed called `name`, if it is followed."""
        ...

    async def add_feed(self, url: str, *, user: str | None) -> FeedChange:
        """Follow the feed at `url` (or the one a page there announces), after fetching it once."""
        ...

    async def remove_feed(self, name: str) -> FeedChange:
        """Stop following a feed; its stories stay in the archive."""
        ...
