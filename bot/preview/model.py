"""What the preview and status pages show, and the small ports they read it through.

The pages never build a message themselves: a `Conversation` carries the request bodies a sender
would post, exactly as the renderers made them, and the page only draws them. The status view is
plain data too, so a section (feeds, per-channel settings) appears by passing more of it; an empty
list hides its section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from bot.core.layout import ChannelLayout

Place = Literal["channel", "thread", "forum"]
Platform = Literal["discord", "slack"]


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """One request body as a sender posts it, and where it lands: the channel, a thread, a forum post."""

    body: Mapping[str, Any]
    place: Place = "channel"


@dataclass(frozen=True, slots=True)
class Conversation:
    """Everything one digest or answer posts on one platform, in order."""

    platform: Platform
    messages: Sequence[PostedMessage]
    thread_name: str | None = None  # Discord thread or forum post title; Slack threads have none
    forum_tags: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class PreviewPair:
    """The same digest or answer on Discord and on Slack."""

    discord: Conversation
    slack: Conversation


class PreviewSource(Protocol):
    """Builds what would be posted, with the renderers the senders use."""

    async def next_digest(self, settings: ChannelLayout) -> PreviewPair:
        """Return the digest `newsbot digest` would build now, as a channel with `settings` gets it."""
        ...

    async def topic_answer(self, query: str, page: int) -> PreviewPair:
        """Return the answer to `/topic QUERY` (that page of it), on both platforms."""
        ...


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """A channel's digest schedule; `next_run` is already in the schedule's own time zone."""

    cron: str
    timezone: str
    next_run: datetime | None
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """One topic a channel follows."""

    topic_id: str
    label: str
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelView:
    """A channel newsbot posts to, with its schedule, subscriptions and settings."""

    platform: str
    workspace: str
    channel: str
    schedule: ScheduleView | None = None
    subscriptions: Sequence[SubscriptionView] = ()
    settings: Sequence[tuple[str, str]] = ()  # (name, value) pairs: layout and threads


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One outbox row as an operator needs to see it."""

    id: int
    status: str
    platform: str
    workspace: str
    channel: str
    what: str
    attempts: int
    created_at: datetime
    reason: str | None = None

    @property
    def retryable(self) -> bool:
        """Return whether the status page offers a retry (only dead and paused rows can be re-queued)."""
        return self.status in {"dead", "paused"}


@dataclass(frozen=True, slots=True)
class FeedView:
    """A feed newsbot polls, with its health."""

    name: str
    url: str
    state: str
    last_fetched: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StatusView:
    """Everything the status page shows; an empty sequence hides its section."""

    channels: Sequence[ChannelView]
    deliveries: Sequence[DeliveryView]
    counts: Mapping[str, int] = field(default_factory=dict)
    feeds: Sequence[FeedView] = ()


RetryResult = Literal["queued", "missing", "not-dead"]


class StatusSource(Protocol):
    """Reads the channels and the outbox, and re-queues a dead delivery."""

    async def status(self, *, deliveries: int) -> StatusView:
        """Return the channels and the newest `deliveries` outbox rows."""
        ...

    async def retry(self, delivery_id: int) -> RetryResult:
        """Re-queue a dead delivery (and lift the pause it caused)."""
        ...
