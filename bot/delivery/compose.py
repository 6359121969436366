"""What a delivery says: the digest of a slot or the alert for a story, rendered for its platform."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.core.digest import Digest, build_digest
from bot.core.ports import ChannelKey
from bot.core.rendered import Rendered
from bot.store.archive import SqlArchive
from bot.store.channels import SqlChannelStore

Render = Callable[[Digest, dict[str, str] | None], list[dict[str, Any]]]


class Composer:
    """Build the bodies of digests and alerts from the archive."""

    def __init__(
        self,
        archive: SqlArchive,
        channels: SqlChannelStore,
        labels: dict[str, str],
        renderers: Mapping[str, Render],
        *,
        title: str = "News digest",
        max_stories: int = 10,
        post_when_empty: bool = False,
    ) -> None:
        self.archive = archive
        self.channels = channels
        self.labels = labels
        self.title = title
        self.max_stories = max_stories
        self.post_when_empty = post_when_empty
        self.renderers = dict(renderers)  # platform → digest renderer, chosen in bot/app.py

    def _render(self, platform: str, digest: Digest) -> Rendered:
        render = self.renderers.get(platform)
        if render is None:
            raise LookupError(f"newsbot cannot render for platform {platform!r}")
        return Rendered(channel=render(digest, self.labels))

    async def digest(self, key: ChannelKey, slot: datetime, watermark: datetime | None) -> Rendered | None:
        """Return the bodies of the channel's digest for `slot`, or None when there is nothing to post."""
        topics = await self.channels.channel_topics(key)
        found = await self.archive.stories_for_digest(
            after=watermark, until=slot, topics=topics, limit=self.max_stories
        )
        if not found and not self.post_when_empty:
            return None
        # An empty digest renders as the short "nothing new" note (DigestSettings.post_when_empty).
        return self._render(
            key.platform, build_digest(found, title=self.title, topics=topics, labels=self.labels)
        )

    async def alert(self, key: ChannelKey, summary_id: str, topics: Sequence[str]) -> Rendered | None:
        """Return the bodies of a topic alert for one story, or None when the story is gone."""
        story = await self.archive.story(summary_id)
        if story is None:
            return None
        names = ", ".join(self.labels.get(t, t) for t in topics) or "followed topics"
        digest = build_digest([story], title=f"New on {names}", topics=topics, labels=self.labels)
        return self._render(key.platform, digest)
