"""The tick: find due schedules, insert one digest row per slot and advance each schedule, in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from bot.core.ports import Clock
from bot.delivery.cron import ApsCronRules
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.schedules import digest_key, plan_due
from bot.store.channels import DueSchedule, SqlChannelStore, TickDecision
from bot.store.outbox import SqlOutbox

log = logging.getLogger(__name__)

TICK_BATCH = 500  # schedules advanced per transaction


class Ticker:
    """Turn due schedules into digest rows; safe to run in any number of processes at once."""

    def __init__(
        self,
        channels: SqlChannelStore,
        outbox: SqlOutbox,
        *,
        clock: Clock,
        platforms: Iterable[str],
        grace: timedelta = timedelta(hours=6),
        rules: ApsCronRules | None = None,
        metrics: DeliveryMetrics | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.channels = channels
        self.outbox = outbox  # only read: how many rows wait, for the metrics and /healthz
        self.clock = clock
        self.platforms = sorted(set(platforms))
        self.grace = grace
        self.rules = rules or ApsCronRules()
        self.metrics = metrics
        self.on_queued = on_queued
        self.last_tick: datetime | None = None
        # Other parts of the process that can make it unhealthy (the worker halted on an unrecorded post).
        self.checks: list[Callable[[], str | None]] = []

    def plan(self, schedule: DueSchedule, now: datetime) -> TickDecision:
        """Decide what one due schedule owes at `now`."""
        try:
            plan = plan_due(
                self.rules, schedule.cron, schedule.timezone, schedule.next_fire_at, now, grace=self.grace
            )
        except ValueError as exc:
            # A schedule newsbot cannot compute would be due forever; pause it with the reason instead.
            return TickDecision(None, None, None, pause_reason=f"invalid schedule: {exc}")
        if plan.dropped:
            log.info("schedule %s: slots missed while not ticking; one catch-up at most", schedule.key)
        if plan.slot is None:
            return TickDecision(None, None, plan.next_fire_at)
        return TickDecision(
            digest_key(schedule.key, plan.slot, schedule.timezone), plan.slot, plan.next_fire_at
        )

    async def tick(self) -> int:
        """Advance every due schedule; return how many digest rows were inserted."""
        now = self.clock()
        inserted = 0
        # Channels often share a schedule (every weekday at 08:00 UTC): compute each distinct one once.
        plans: dict[tuple[str, str, datetime], TickDecision] = {}

        def decide(s: DueSchedule) -> TickDecision:
            shared = (s.cron, s.timezone, s.next_fire_at)
            if shared not in plans:
                plans[shared] = self.plan(s, now)
            found = plans[shared]
            if found.slot_at is None:
                return found
            return TickDecision(
                digest_key(s.key, found.slot_at, s.timezone), found.slot_at, found.next_fire_at
            )

        while True:
            advanced, added = await self.channels.tick(
                now, decide, platforms=self.platforms, limit=TICK_BATCH
            )
            inserted += added
            if advanced < TICK_BATCH:
                break
        if inserted and self.on_queued is not None:
            self.on_queued()
        if self.metrics is not None:
            self.metrics.last_tick.set(time.time())
            self.metrics.set_depth(await self.outbox.counts())
        self.last_tick = self.clock()
        return inserted

    async def health(self) -> dict[str, Any]:
        """Return what /healthz reports: the outbox by status and the last tick (raises when the database is down)."""
        for check in self.checks:
            problem = check()
            if problem is not None:
                raise RuntimeError(problem)
        return {
            "platforms": self.platforms,
            "outbox": await self.outbox.counts(),
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
        }
