"""What one delivery posts, split into the brief in the channel and the detail in its thread.

A digest reads best as a short brief in the channel with the full stories one click away (issue 9), so
a renderer hands the sender two lists of bodies instead of one: the channel message(s), and the replies
that belong in a thread started from the first of them (Discord), under its `ts` (Slack), or in a forum
post. Bodies are the platform's own request bodies; core only carries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A delivery's bodies as the platform sender posts them.

    `channel` is posted in the channel itself; its first body is the parent of the thread. `thread`
    holds the replies (empty when the channel has threads off, or nothing more is worth saying).
    `thread_name` names a Discord thread or forum post; `topics` are the topic ids of the stories, from
    which a forum post's tags are chosen.
    """

    channel: list[Body]
    thread: list[Body] = field(default_factory=list)
    thread_name: str | None = None
    topics: tuple[str, ...] = ()

    @property
    def bodies(self) -> list[Body]:
        """Return every body in posting order: the channel's, then the thread's."""
        return [*self.channel, *self.thread]
