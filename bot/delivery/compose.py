"""What a delivery says: the digest of a slot or the alert for a story, laid out as the channel asked
(compact cards with the detail in a thread, or the full text) and rendered for its platform."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.digest import build_digest
from bot.core.layout import ChannelLayout, LayoutStore, Plan, RenderReply, plan_alert, plan_digest
from bot.core.ports import ChannelKey
from bot.core.rendered import Rendered
from bot.store.archive import SqlArchive
from bot.store.channels import SqlChannelStore

# A platform's reply renderer (Reply → request bodies), chosen in bot/app.py.
Render = RenderReply


class Composer:
    """Build the bodies of digests and alerts from the archive and the channel's settings."""

    def __init__(
        self,
        archive: SqlArchive,
        channels: SqlChannelStore,
        labels: dict[str, str],
        renderers: Mapping[str, Render],
        *,
        layouts: LayoutStore | None = None,
        title: str = "News digest",
        max_stories: int = 10,
        post_when_empty: bool = False,
    ) -> None:
        self.archive = archive
        self.channels = channels
        self.layouts = layouts  # None: every channel has the defaults (compact, threads on)
        self.labels = labels
        self.title = title
        self.max_stories = max_stories
        self.post_when_empty = post_when_empty
        self.renderers = dict(renderers)  # platform → reply renderer, chosen in bot/app.py

    def _render(self, platform: str, plan: Plan) -> Rendered:
        render = self.renderers.get(platform)
        if render is None:
            raise LookupError(f"newsbot cannot render for platform {platform!r}")
        return plan.render(render)

    async def _layout(self, key: ChannelKey) -> ChannelLayout:
        return await self.layouts.get_layout(key) if self.layouts is not None else ChannelLayout()

    async def digest(self, key: ChannelKey, slot: datetime, watermark: datetime | None) -> Rendered | None:
        """Return the bodies of the channel's digest for `slot`, or None when there is nothing to post."""
        topics = await self.channels.channel_topics(key)
        found = await self.archive.stories_for_digest(
            after=watermark, until=slot, topics=topics, limit=self.max_stories
        )
        if not found and not self.post_when_empty:
            return None
        # An empty digest renders as the short "nothing new" note (DigestSettings.post_when_empty).
        digest = build_digest(found, title=self.title, topics=topics, labels=self.labels)
        plan = plan_digest(
            digest, await self._layout(key), day=await self._local(key, slot), labels=self.labels
        )
        return self._render(key.platform, plan)

    async def alert(self, key: ChannelKey, summary_id: str, topics: Sequence[str]) -> Rendered | None:
        """Return the bodies of a topic alert for one story, or None when the story is gone."""
        story = await self.archive.story(summary_id)
        if story is None:
            return None
        names = ", ".join(self.labels.get(t, t) for t in topics) or "followed topics"
        digest = build_digest([story], title=f"New on {names}", topics=topics, labels=self.labels)
        return self._render(key.platform, plan_alert(digest, await self._layout(key), labels=self.labels))

    async def _local(self, key: ChannelKey, slot: datetime) -> datetime:
        """Return the slot in the channel's schedule time zone, so the thread is named by the local day."""
        schedule = await self.channels.get_schedule(key)
        if schedule is None:
            return slot
        try:
            return slot.astimezone(ZoneInfo(schedule.timezone))
        except (ZoneInfoNotFoundError, ValueError):
            return slot
