"""A composer that gives every delivery thread replies, standing in for the renderers that will.

The renderers fill `Rendered.thread` (issue 9, the cards side); until then these tests build the
thread bodies here, around the real composer's channel message, so delivery is tested on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.core.ports import ChannelKey
from bot.core.rendered import Rendered
from bot.delivery.compose import Composer


def reply_body(platform: str, n: int) -> dict[str, Any]:
    """Return the `n`th thread reply as the platform's renderer would write it."""
    text = f"Story {n}: the full text of this story, every section."
    if platform == "slack":
        return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
    return {"embeds": [{"title": f"Story {n}", "description": text}]}


def reply_texts(bodies: Sequence[dict[str, Any]]) -> list[str]:
    """Return the story each posted reply body carries, in order."""
    out = []
    for body in bodies:
        embeds = body.get("embeds") or []
        out.append(str(embeds[0]["title"]) if embeds else str(body.get("text", "")).split(":")[0])
    return out


class ThreadedComposer:
    """The real composer's channel message, plus `replies` thread bodies, a thread name and topics."""

    def __init__(
        self,
        real: Composer,
        *,
        replies: int = 3,
        name: str = "News digest · 1 May",
        topics: tuple[str, ...] = ("drones",),
    ) -> None:
        self.real = real
        self.replies = replies
        self.name = name
        self.topics = topics

    def _threaded(self, key: ChannelKey, rendered: Rendered) -> Rendered:
        thread = [reply_body(key.platform, n) for n in range(1, self.replies + 1)]
        return Rendered(channel=rendered.channel, thread=thread, thread_name=self.name, topics=self.topics)

    async def digest(self, key: ChannelKey, slot: datetime, watermark: datetime | None) -> Rendered | None:
        rendered = await self.real.digest(key, slot, watermark)
        return None if rendered is None else self._threaded(key, rendered)

    async def alert(self, key: ChannelKey, summary_id: str, topics: Sequence[str]) -> Rendered | None:
        rendered = await self.real.alert(key, summary_id, topics)
        return None if rendered is None else self._threaded(key, rendered)
