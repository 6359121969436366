"""Building blocks for delivery tests: a movable clock, recording senders and a wired-up delivery stack."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import build_delivery, open_app
from bot.core.ports import ChannelKey, Failed, RetryLater, SendOutcome, Sent
from bot.core.service import NewsService
from bot.core.summary import Summary
from bot.delivery.backoff import Backoff
from bot.delivery.compose import Composer
from bot.delivery.cron import ApsCronRules
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.ticker import Ticker
from bot.delivery.worker import FaultHook, Worker
from bot.settings import DeliverySettings, DigestSettings, Settings
from bot.store.channels import SqlChannelStore
from bot.store.outbox import SqlOutbox

TAXONOMY = Path("config/topics.yaml")
RULES = ApsCronRules()


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


@dataclass
class Post:
    channel: str
    body: dict[str, Any]
    key: str
    workspace: str = ""  # the Slack workspace the post went to (its installation's token)


@dataclass
class RecordingSender:
    """A Sender that records posts; outcomes can be scripted per channel (consumed in order)."""

    platform: str = "discord"
    posts: list[Post] = field(default_factory=list)
    attempts: list[Post] = field(default_factory=list)
    script: dict[str, deque[SendOutcome]] = field(default_factory=lambda: defaultdict(deque))

    def fail(self, channel: str, *outcomes: SendOutcome) -> None:
        self.script[channel].extend(outcomes)

    async def send(
        self, channel: str, body: dict[str, object], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        await asyncio.sleep(0)
        post = Post(channel, dict(body), key, workspace)
        self.attempts.append(post)
        queued = self.script.get(channel)
        if queued:
            return queued.popleft()
        self.posts.append(post)
        return Sent(f"m{len(self.posts)}")

    def keys(self, channel: str | None = None) -> list[str]:
        return [p.key for p in self.posts if channel is None or p.channel == channel]


def summary(
    sid: str, headline: str, tags: list[str], published: datetime | None = None, text: str = ""
) -> Summary:
    """Return a small valid summary with one section per tag."""
    return Summary.model_validate(
        {
            "id": sid,
            "headline": headline,
            "published": (published or datetime(2026, 5, 1, tzinfo=UTC)).isoformat(),
            "topics": [{"title": f"On {t}", "text": text or f"About {t}.", "tags": [t]} for t in tags],
        }
    )


@dataclass
class Stack:
    """Everything delivery needs, wired the way the composition root wires it."""

    clock: FakeClock
    outbox: SqlOutbox
    channels: SqlChannelStore
    service: NewsService
    worker: Worker
    ticker: Ticker
    composer: Composer
    senders: dict[str, RecordingSender]
    metrics: DeliveryMetrics

    async def schedule(self, key: ChannelKey, cron: str, tz: str) -> datetime:
        now = self.clock()
        nxt = RULES.next_fire(cron, tz, now)
        await self.channels.set_schedule(key, cron=cron, timezone=tz, user="u", now=now, next_fire_at=nxt)
        return nxt

    async def run_until_quiet(self) -> None:
        """Tick, then post everything due, at the current fake time."""
        await self.ticker.tick()
        await self.worker.drain()


@asynccontextmanager
async def stack(
    database_url: str,
    clock: FakeClock,
    *,
    senders: dict[str, Any] | None = None,
    post_when_empty: bool = False,
    on_revision: bool = False,
    faults: FaultHook | None = None,
    owner: str = "test-worker",
    max_attempts: int = 3,
    grace: timedelta = timedelta(hours=6),
) -> AsyncIterator[Stack]:
    """Migrate `database_url` and build a delivery stack over it with the composition root's own factory."""
    settings = Settings(
        database_url=database_url,
        taxonomy_path=TAXONOMY,
        digest=DigestSettings(post_when_empty=post_when_empty),
        delivery=DeliverySettings(
            alert_on_revision=on_revision,
            grace_hours=grace.total_seconds() / 3600,
            lease_seconds=60,
            serve_http=False,
        ),
    )
    chosen = (
        senders if senders is not None else {"discord": RecordingSender(), "slack": RecordingSender("slack")}
    )
    metrics = DeliveryMetrics()
    async with open_app(settings, clock=clock) as app:
        engine = build_delivery(
            app,
            senders=chosen,
            limiters={},  # the fake clock moves by hand; a real limiter would sleep through a Retry-After
            backoff=Backoff(base=2, cap=60, max_attempts=max_attempts, rand=lambda: 0.0),
            faults=faults,
            owner=owner,
            metrics=metrics,
        )
        worker = engine.worker
        try:
            yield Stack(
                clock,
                worker.outbox,
                app.channels,
                app.service,
                worker,
                engine.ticker,
                worker.composer,
                chosen,
                metrics,
            )
        finally:
            for close in engine.on_close:  # sessions the engine opened itself (thread requests)
                await close()


__all__ = ["Failed", "RetryLater", "Sent"]
