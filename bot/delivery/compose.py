"""What a delivery says: the digest of a slot or the alert for a story, rendered for its platform."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.core.digest import Digest, build_digest
from bot.core.ports import ChannelKey, StoredStory

Render = Callable[[Digest, dict[str, str] | None], list[dict[str, Any]]]


class StorySource(Protocol):
    """Reads the stories a delivery is about (the outbox implements it over the archive's tables)."""

    async def stories_for_digest(
        self, *, after: datetime | None, until: datetime, topics: Sequence[str], limit: int
    ) -> list[StoredStory]:
        """Return up to `limit` stories first ingested in (after, until], newest first."""
        ...

    async def story(self, summary_id: str) -> StoredStory | None:
        """Return one stored story."""
        ...

    async def channel_topics(self, key: ChannelKey) -> list[str]:
        """Return the topics a channel follows (its digest is limited to them)."""
        ...


class Composer:
    """Build the bodies of digests and alerts from the archive."""

    def __init__(
        self,
        stories: StorySource,
        labels: dict[str, str],
        renderers: Mapping[str, Render],
        *,
        title: str = "News digest",
        max_stories: int = 10,
        post_when_empty: bool = False,
    ) -> None:
        self.stories = stories
        self.labels = labels
        self.title = title
        self.max_stories = max_stories
        self.post_when_empty = post_when_empty
        self.renderers = dict(renderers)  # platform → digest renderer, chosen in bot/app.py

    def _render(self, platform: str, digest: Digest) -> list[dict[str, Any]]:
        render = self.renderers.get(platform)
        if render is None:
            raise LookupError(f"newsbot cannot render for platform {platform!r}")
        return render(digest, self.labels)

    async def digest(
        self, key: ChannelKey, slot: datetime, watermark: datetime | None
    ) -> list[dict[str, Any]] | None:
        """Return the bodies of the channel's digest for `slot`, or None when there is nothing to post."""
        topics = await self.stories.channel_topics(key)
        found = await self.stories.stories_for_digest(
            after=watermark, until=slot, topics=topics, limit=self.max_stories
        )
        if not found and not self.post_when_empty:
            return None
        # An empty digest renders as the short "nothing new" note (DigestSettings.post_when_empty).
        return self._render(
            key.platform, build_digest(found, title=self.title, topics=topics, labels=self.labels)
        )

    async def alert(
        self, key: ChannelKey, summary_id: str, topics: Sequence[str]
    ) -> list[dict[str, Any]] | None:
        """Return the bodies of a topic alert for one story, or None when the story is gone."""
        story = await self.stories.story(summary_id)
        if story is None:
            return None
        names = ", ".join(self.labels.get(t, t) for t in topics) or "followed topics"
        digest = build_digest([story], title=f"New on {names}", topics=topics, labels=self.labels)
        return self._render(key.platform, digest)
