"""The preview's ports over the running app: the renderers the senders use, and the store's tables.

This is the one module of the preview that knows where things live, so a move in bot/ changes
only the imports here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.commands import CommandTable
from bot.core.invocation import Invocation
from bot.core.layout import ChannelLayout, plan_digest
from bot.core.rendered import Rendered
from bot.core.reply import Reply
from bot.core.service import NewsService
from bot.feeds.directory import feed_status
from bot.preview.model import (
    ChannelView,
    Conversation,
    DeliveryView,
    FeedView,
    PostedMessage,
    PreviewPair,
    RetryResult,
    ScheduleView,
    StatusView,
    SubscriptionView,
)
from bot.store.channel_settings import SqlChannelSettings
from bot.store.feeds import SqlFeedStore
from bot.store.outbox import RETRYABLE, Delivery, SqlOutbox
from bot.store.tables import schedules, subscriptions

Clock = Callable[[], datetime]
ChannelId = tuple[str, str, str]


def _channel(bodies: Sequence[Mapping[str, Any]], platform: Any) -> Conversation:
    return Conversation(platform, [PostedMessage(b) for b in bodies])


def _delivery(rendered: Rendered, platform: Any) -> Conversation:
    """Return a delivery as the page draws it: the channel's messages, then the thread's replies."""
    messages = [PostedMessage(b) for b in rendered.channel]
    messages += [PostedMessage(b, "thread") for b in rendered.thread]
    return Conversation(platform, messages, thread_name=rendered.thread_name)


def discord_bodies(reply: Reply) -> list[dict[str, Any]]:
    """Return the Discord create-message bodies the sender posts for a reply."""
    from bot.adapters.discord.render import render_reply

    return render_reply(reply)


def slack_bodies(reply: Reply) -> list[dict[str, Any]]:
    """Return the Slack chat.postMessage bodies the sender posts for a reply."""
    from bot.adapters.slack.render import render_reply

    return render_reply(reply)


class AppPreview:
    """PreviewSource over the news service and command table: the digest and /topic answers."""

    def __init__(self, service: NewsService, commands: CommandTable) -> None:
        self.service = service
        self.commands = commands

    async def next_digest(self, settings: ChannelLayout) -> PreviewPair:
        """Return what `newsbot digest --platform discord|slack --json` prints now: brief, then thread.

        Laid out for a channel with `settings`, by the same plan and renderers the sender uses.
        """
        built = await self.service.digest()
        plan = plan_digest(built, settings, day=self.service.clock(), labels=self.service.taxonomy.labels())
        return PreviewPair(
            _delivery(plan.render(discord_bodies), "discord"), _delivery(plan.render(slack_bodies), "slack")
        )

    async def topic_answer(self, query: str, page: int) -> PreviewPair:
        """Return the /topic answer as each platform's command handler sends it."""
        from bot.adapters.discord.interactions import InteractionHandler
        from bot.adapters.slack.handlers import ActionState, answer_messages

        discord_reply = await self.commands.run(Invocation("discord", "topic", query, page=page))
        slack_reply = await self.commands.run(Invocation("slack", "topic", query, page=page))
        # The handlers' own body builders, so paging buttons and Slack's "Post to channel" show too.
        handler = InteractionHandler(self.commands)
        discord = handler._bodies(discord_reply, Invocation("discord", "topic", query, page=page))
        slack = answer_messages(
            slack_reply, state=ActionState("topic", query, page), shareable=True, public=False
        )
        return PreviewPair(_channel(discord, "discord"), _channel(slack, "slack"))


class SqlStatus:
    """StatusSource over the store: every channel with a schedule or subscription, and the outbox."""

    def __init__(self, engine: AsyncEngine, labels: Mapping[str, str], clock: Clock) -> None:
        self.engine = engine
        self.outbox = SqlOutbox(engine)
        self.feeds = SqlFeedStore(engine)
        self.layouts = SqlChannelSettings(engine)
        self.labels = labels
        self.clock = clock

    async def status(self, *, deliveries: int) -> StatusView:
        """Return the channels (sorted by platform, workspace, channel) and the newest outbox rows."""
        found: dict[ChannelId, dict[str, Any]] = {}
        async with self.engine.connect() as conn:
            for row in await conn.execute(select(schedules)):
                entry = found.setdefault((row.platform, row.workspace, row.channel), {"subs": []})
                entry["schedule"] = ScheduleView(
                    row.cron, row.timezone, _local(row.next_fire_at, row.timezone), row.paused_reason
                )
            for row in await conn.execute(select(subscriptions).order_by(subscriptions.c.topic_id)):
                entry = found.setdefault((row.platform, row.workspace, row.channel), {"subs": []})
                label = self.labels.get(row.topic_id, row.topic_id)
                entry["subs"].append(SubscriptionView(row.topic_id, label, row.paused_reason))
        for key, layout in (await self.layouts.all_layouts()).items():
            entry = found.setdefault((key.platform, key.workspace, key.channel), {"subs": []})
            entry["settings"] = _settings(layout)
        defaults = _settings(ChannelLayout())
        channels = [
            ChannelView(
                p,
                w,
                c,
                schedule=entry.get("schedule"),
                subscriptions=entry["subs"],
                settings=entry.get("settings", defaults),
            )
            for (p, w, c), entry in sorted(found.items())
        ]
        rows = await self.outbox.find(limit=deliveries)
        feeds = [
            FeedView(f.name, f.url, feed_status(f), f.last_fetch_at, f.paused_reason or f.last_error)
            for f in await self.feeds.list_feeds()
        ]
        return StatusView(
            channels=channels,
            deliveries=[self._delivery(d) for d in rows],
            counts=await self.outbox.counts(),
            feeds=feeds,
        )

    def _delivery(self, d: Delivery) -> DeliveryView:
        if d.kind == "digest":
            slot = d.slot_at.strftime("%Y-%m-%d %H:%M UTC") if d.slot_at else "now"
            what = f"digest for {slot}"
        else:
            topics = ", ".join(self.labels.get(t, t) for t in d.topics)
            what = f"alert: {d.summary_id}" + (f" ({topics})" if topics else "")
        return DeliveryView(
            id=d.id,
            status=d.status,
            platform=d.key.platform,
            workspace=d.key.workspace,
            channel=d.key.channel,
            what=what,
            attempts=d.attempts,
            created_at=d.created_at,
            reason=d.last_error,
        )

    async def retry(self, delivery_id: int) -> RetryResult:
        """Re-queue a dead delivery, as `newsbot deliveries retry ID` does."""
        found = await self.outbox.get(delivery_id)
        if found is None:
            return "missing"
        if found.status not in RETRYABLE:
            return "not-dead"
        done = await self.outbox.requeue(delivery_id, self.clock())
        return "queued" if done is not None else "not-dead"


def _settings(layout: ChannelLayout) -> tuple[tuple[str, str], ...]:
    return (("layout", layout.layout), ("threads", "on" if layout.threads else "off"))


def _local(moment: datetime | None, timezone: str) -> datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return moment  # a zone the system lost still shows the UTC moment, marked as such by %Z
