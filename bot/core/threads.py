"""The port delivery posts threads through: what a channel is, and the requests a thread takes besides a post.

A digest posts its brief in the channel and the detail as replies (issue 9). Where those replies go
differs by platform and channel: under the parent's `ts` on Slack, in a thread started from the parent
message on a Discord text channel, and on a Discord forum the whole delivery is a new post. Delivery
(bot/delivery/threads.py) decides the order and records every step; the adapters implement this port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from bot.core.ports import Failed, RetryLater, SendOutcome, Unauthorized

# "replies": posted under the parent (Slack thread_ts); "thread": a thread started from the parent
# message (Discord text and announcement channels); "forum": each delivery is a new post (Discord forum);
# "none": the channel cannot hold threads (a Discord thread itself, a DM), so everything is posted in it.
ThreadStyle = Literal["replies", "thread", "forum", "none"]


@dataclass(frozen=True, slots=True)
class ForumTag:
    """A tag a forum offers its posts."""

    id: str
    name: str
    moderated: bool = False  # only members who may manage threads can apply it


@dataclass(frozen=True, slots=True)
class ChannelShape:
    """How a channel takes a thread, and (for a forum) the tags a post may carry."""

    style: ThreadStyle
    guild: str | None = None
    tags: tuple[ForumTag, ...] = ()


class ThreadApi(Protocol):
    """A platform's thread requests; every method reports an outcome and never raises."""

    platform: str

    def thread_request(self, name: str) -> dict[str, Any]:
        """Return the body that starts a thread called `name` from the parent message."""
        ...

    def post_request(
        self, shape: ChannelShape, name: str, message: dict[str, Any], labels: list[str]
    ) -> dict[str, Any]:
        """Return the body of a forum post called `name` opening with `message`, tagged by `labels`."""
        ...

    async def shape(
        self, channel: str, guild: str | None = None
    ) -> ChannelShape | RetryLater | Failed | Unauthorized:
        """Return how `channel` (of the workspace or guild `guild`, when known) takes threads (asking the
        platform once, then remembering)."""
        ...

    async def start_thread(self, channel: str, message_id: str, body: dict[str, Any]) -> SendOutcome:
        """Start a thread from a posted message; Sent(thread id), also when it already has one."""
        ...

    async def create_post(self, forum: str, body: dict[str, Any]) -> SendOutcome:
        """Create a forum post (a thread with its first message); Sent(thread id)."""
        ...

    async def find_post(self, guild: str, forum: str, name: str, since: datetime) -> SendOutcome | None:
        """Return Sent(thread id) for the bot's post named `name` created since `since`, None if none."""
        ...

    async def reply(
        self, channel: str, anchor: str, body: dict[str, Any], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        """Post `body` into the thread anchored at `anchor` (a thread id, or the parent's ts)."""
        ...
