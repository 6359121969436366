"""The sender loop: lease due outbox rows, post their parts through the platform senders, record every step."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.core.ports import Clock, Failed, RetryLater, Sender, Sent
from bot.delivery.backoff import Backoff
from bot.delivery.compose import Composer
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.ratelimit import Limiter
from bot.store.outbox import Delivery, SqlOutbox

log = logging.getLogger(__name__)

# Called at named points ("after_post") with the delivery and part; tests raise from it to simulate a crash.
FaultHook = Callable[[str, Delivery, int], Awaitable[None]]
STORY_GONE = "the story was removed from the archive before its alert was posted"
NOTHING_NEW = "nothing new since the last digest"


class Worker:
    """Post leased deliveries, part by part, so a retry resumes at the first part not yet recorded."""

    def __init__(
        self,
        outbox: SqlOutbox,
        senders: Mapping[str, Sender],
        composer: Composer,
        *,
        clock: Clock,
        owner: str,
        lease_for: timedelta = timedelta(seconds=120),
        concurrency: int = 64,
        poll_seconds: float = 1.0,
        backoff: Backoff | None = None,
        limiters: Mapping[str, Limiter] | None = None,
        metrics: DeliveryMetrics | None = None,
        faults: FaultHook | None = None,
    ) -> None:
        self.outbox = outbox
        self.senders = dict(senders)
        self.composer = composer
        self.clock = clock
        self.owner = owner
        self.lease_for = lease_for
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.backoff = backoff or Backoff()
        self.limiters = dict(limiters or {})
        self.metrics = metrics
        self.faults = faults
        self._inflight: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    @property
    def platforms(self) -> list[str]:
        """Return the platforms this worker can post to."""
        return sorted(self.senders)

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll (new rows were just inserted)."""
        self._changed.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep posting until `stop` is set; rows in flight then finish or are left to their lease."""
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                try:
                    started = await self.fill()
                except Exception:
                    # A database hiccup must not end delivery; the next round tries again.
                    log.exception("leasing deliveries failed")
                    started = 0
                if started:
                    continue
                self._changed.clear()
                waiter = asyncio.create_task(self._changed.wait())
                await asyncio.wait(
                    {waiter, stopping}, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
        finally:
            stopping.cancel()
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=10)

    async def fill(self) -> int:
        """Lease as many due rows as there is room for and start posting them; return how many started."""
        room = self.concurrency - len(self._inflight)
        if room <= 0:
            return 0
        leased = await self.outbox.lease(
            self.clock(), self.owner, platforms=self.platforms, limit=room, lease_for=self.lease_for
        )
        for delivery in leased:
            task = asyncio.create_task(self._guarded(delivery), name=f"delivery-{delivery.id}")
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return len(leased)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._changed.set()

    async def drain(self, *, rounds: int = 1000) -> None:
        """Post everything due now and wait for it (tests and one-shot runs); rows retrying later stay queued."""
        for _ in range(rounds):
            started = await self.fill()
            if self._inflight:
                await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            elif not started:
                return

    async def _guarded(self, delivery: Delivery) -> None:
        try:
            await self.deliver(delivery)
        except Exception:
            # The row keeps its lease and is taken up again when the lease runs out.
            log.exception("delivery %s (%s) failed unexpectedly", delivery.id, delivery.dedupe_key)

    async def deliver(self, delivery: Delivery) -> None:
        """Render (once) and post one leased delivery, recording each part as it goes out."""
        bodies = delivery.bodies
        if bodies is None:
            bodies = await self._freeze(delivery)
            if bodies is None:
                return
        platform, channel = delivery.key.platform, delivery.key.channel
        sender = self.senders[platform]
        limiter = self.limiters.get(platform)
        message_ids = list(delivery.message_ids)
        for part in range(delivery.parts_sent, len(bodies)):
            ticket = await limiter.acquire(channel) if limiter is not None else None
            started = time.perf_counter()
            outcome = await sender.send(channel, bodies[part], key=delivery.part_key(part))
            if self.metrics is not None:
                self.metrics.send_seconds.labels(platform=platform).observe(time.perf_counter() - started)
            if limiter is not None and ticket is not None:
                _learn(sender, limiter, channel, outcome, ticket)
            if isinstance(outcome, Sent):
                message_ids.append(outcome.message_id or "-")
                if self.faults is not None:
                    await self.faults("after_post", delivery, part)
                done = part + 1 == len(bodies)
                kept = await self.outbox.record_part(
                    delivery,
                    self.owner,
                    part + 1,
                    message_ids,
                    self.clock(),
                    done=done,
                    lease_for=self.lease_for,
                )
                if not kept:
                    log.warning(
                        "delivery %s: lease lost while posting; another process resumes it", delivery.id
                    )
                    return
                if done:
                    self._count("sent", platform)
                    log.info(
                        "delivery %s: %s posted to %s (%d message(s))",
                        delivery.id,
                        delivery.kind,
                        delivery.key,
                        len(bodies),
                    )
                continue
            if isinstance(outcome, RetryLater):
                await self._retry(delivery, outcome)
                return
            await self._dead(delivery, outcome)
            return

    async def _freeze(self, delivery: Delivery) -> list[dict[str, Any]] | None:
        now = self.clock()
        if delivery.kind == "alert":
            bodies = await self.composer.alert(delivery.key, delivery.summary_id or "", delivery.topics)
            if bodies is None:
                await self.outbox.mark_dead(delivery, self.owner, STORY_GONE, now, counts=False)
                self._count("dead", delivery.key.platform)
                return None
            return bodies if await self.outbox.freeze(delivery.id, self.owner, bodies, now) else None
        slot = delivery.slot_at or delivery.created_at
        watermark = await self.outbox.watermark(delivery.key)
        bodies = await self.composer.digest(delivery.key, slot, watermark)
        covered = max(slot, watermark) if watermark is not None else slot
        kept = await self.outbox.freeze_digest(
            delivery, self.owner, bodies, covered, now, skip_reason=None if bodies else NOTHING_NEW
        )
        if bodies is None:
            if kept:
                self._count("skipped", delivery.key.platform)
            return None
        return bodies if kept else None

    async def _retry(self, delivery: Delivery, outcome: RetryLater) -> None:
        now = self.clock()
        platform = delivery.key.platform
        if outcome.rate_limited:
            if self.metrics is not None:
                self.metrics.rate_limited.labels(platform=platform).inc()
            at = now + timedelta(seconds=outcome.after)
            await self.outbox.retry_later(delivery, self.owner, at, outcome.reason, now, counts=False)
            self.wake()
            return
        attempts = delivery.attempts + 1
        if self.backoff.exhausted(attempts):
            reason = f"gave up after {attempts} attempts: {outcome.reason}"
            await self.outbox.mark_dead(delivery, self.owner, reason, now)
            self._count("dead", platform)
            return
        wait = max(outcome.after, self.backoff.delay(attempts))
        at = now + timedelta(seconds=wait)
        await self.outbox.retry_later(delivery, self.owner, at, outcome.reason, now, counts=True)

    async def _dead(self, delivery: Delivery, outcome: Failed) -> None:
        await self.outbox.mark_dead(delivery, self.owner, outcome.reason, self.clock())
        self._count("dead", delivery.key.platform)
        log.warning("delivery %s to %s is dead: %s", delivery.id, delivery.key, outcome.reason)

    def _count(self, status: str, platform: str) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(status=status, platform=platform).inc()


def _learn(
    sender: Sender, limiter: Limiter, channel: str, outcome: Sent | RetryLater | Failed, ticket: float
) -> None:
    """Feed the limiter what the platform said: bucket headers, and 429s (global or per channel)."""
    state = getattr(sender, "bucket_state", None)
    if callable(state):
        bucket = state(channel)
        if bucket is not None and bucket.remaining is not None and bucket.reset_after is not None:
            elapsed = max(0.0, time.monotonic() - bucket.observed_at)
            limiter.observe_bucket(
                channel, bucket.limit, bucket.remaining, max(0.0, bucket.reset_after - elapsed)
            )
    if isinstance(outcome, RetryLater) and outcome.rate_limited:
        # Slack's limits are per workspace and method; Discord says which scope a 429 is about.
        whole = sender.platform != "discord" or "global" in outcome.reason or "Cloudflare" in outcome.reason
        limiter.back_off(None if whole else channel, outcome.after)
        limiter.refund(ticket)
