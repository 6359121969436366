"""A channel's layout and threads settings, and what a digest or alert posts under them.

Every place that shows a delivery (the sender, `newsbot digest --json`, the demo, the preview page)
goes through `plan_digest` / `plan_alert` and renders the plan with a platform's reply renderer, so
what is previewed is what is posted.

- compact, threads on (the default): the cards in the channel, every story in full in the thread.
- compact, threads off: the cards only; each headline links to the story.
- full: the whole digest in the channel, as before issue 9; there is nothing left for a thread.

An alert is one story, and never starts a thread: Discord answers thread creation with shared-scope
429s of 145-280 s, so a busy guild cannot have one thread per alert (threads notes §3.1). A compact
alert is the story's card; a full one is the whole story.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from bot.core.cards import card_reply, story_replies, thread_name
from bot.core.digest import Digest, digest_reply
from bot.core.ports import ChannelKey
from bot.core.rendered import Body, Rendered
from bot.core.reply import Reply

Layout = Literal["compact", "full"]
LAYOUTS: tuple[Layout, ...] = ("compact", "full")
RenderReply = Callable[[Reply], list[Body]]


@dataclass(frozen=True, slots=True)
class ChannelLayout:
    """How a channel wants its digests: compact cards or the full text, and the detail in a thread."""

    layout: Layout = "compact"
    threads: bool = True


class LayoutStore(Protocol):
    """Per-channel layout settings, kept beside the channel's schedule."""

    async def get_layout(self, key: ChannelKey) -> ChannelLayout:
        """Return the channel's settings (the defaults when it never changed them)."""
        ...

    async def set_layout(
        self,
        key: ChannelKey,
        *,
        layout: Layout | None = None,
        threads: bool | None = None,
        user: str | None,
        now: datetime,
    ) -> ChannelLayout:
        """Change one or both settings and return them as stored."""
        ...


@dataclass(frozen=True, slots=True)
class Plan:
    """What one delivery says as neutral replies: the channel's, then the thread's."""

    channel: list[Reply]
    thread: list[Reply] = field(default_factory=list)
    thread_name: str | None = None
    topics: tuple[str, ...] = ()

    def render(self, render: RenderReply) -> Rendered:
        """Return the plan as one platform's bodies, as its sender posts them."""
        return Rendered(
            channel=[body for reply in self.channel for body in render(reply)],
            thread=[body for reply in self.thread for body in render(reply)],
            thread_name=self.thread_name if self.thread else None,
            topics=self.topics,
        )


def plan_digest(
    digest: Digest, settings: ChannelLayout, *, day: datetime, labels: dict[str, str] | None = None
) -> Plan:
    """Return what a digest posts under a channel's settings; `day` (local to the channel) names the thread."""
    topics = _topics(digest)
    if settings.layout == "full":
        return Plan([digest_reply(digest, labels)], topics=topics)
    threaded = settings.threads and bool(digest.entries)
    brief = card_reply(digest, labels, threaded=threaded)
    if not threaded:
        return Plan([brief], topics=topics)
    return Plan([brief], story_replies(digest, labels), thread_name(digest.title, day), topics)


def plan_alert(digest: Digest, settings: ChannelLayout, *, labels: dict[str, str] | None = None) -> Plan:
    """Return what a topic alert posts: its story's card (compact) or the whole story (full), no thread."""
    reply = digest_reply(digest, labels) if settings.layout == "full" else card_reply(digest, labels)
    return Plan([reply], topics=_topics(digest))


def _topics(digest: Digest) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for entry in digest.entries for t in entry.topics))
