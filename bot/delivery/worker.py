"""The sender loop: lease due outbox rows, post their parts through the platform senders, record every step."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.core.ports import Clock, Failed, RetryLater, Sender, Sent, Unauthorized
from bot.core.rendered import Rendered
from bot.delivery.backoff import Backoff
from bot.delivery.compose import Composer
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.outage import OutageLog
from bot.delivery.ratelimit import Limiter
from bot.delivery.threads import UNPACED_STEPS, Plan, Threads
from bot.store.outbox import Delivery, SqlOutbox

log = logging.getLogger(__name__)

# Called at named points ("after_post") with the delivery and part; tests raise from it to simulate a crash.
FaultHook = Callable[[str, Delivery, int], Awaitable[None]]
STORY_GONE = "the story was removed from the archive before its alert was posted"
NOTHING_NEW = "nothing new since the last digest"
# How often a platform whose token was refused is tried again, with one real queued message: often
# enough that a fixed token resumes within a minute, rarely enough not to hammer the platform.
AUTH_PROBE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class _Accepted:
    """Parts a platform accepted that the outbox could not record yet (the database refused the write)."""

    delivery: Delivery
    parts_sent: int
    message_ids: tuple[str, ...]
    done: bool


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
        threads: Threads | None = None,
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
        self.threads = threads  # posts a delivery's detail as thread steps; None: all in the channel
        self._inflight: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        # Posts the platform accepted but the database did not record (disk full, outage). Kept in
        # memory and written before anything else once the database works again; until then the
        # worker sends nothing, since every send it cannot record would be repeated when its lease
        # runs out (issue 10: three copies of one alert on Slack, which has no nonce).
        self._unrecorded: dict[int, _Accepted] = {}
        self.problem: str | None = None  # why the worker is not sending, for /healthz
        # Platforms whose token was refused: (reason, when to try one message again). A revoked token
        # is the bot's problem: the queue waits, untouched, instead of every row dying one by one.
        self._locked_out: dict[str, tuple[str, datetime]] = {}

    def trouble(self) -> str | None:
        """Return why sending is halted (wholly, or on some platform), or None while it runs."""
        problems = [self.problem] if self.problem else []
        problems += [f"{p}: {reason}; sending paused" for p, (reason, _) in sorted(self._locked_out.items())]
        return "; ".join(problems) or None

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
        outage = OutageLog("leasing deliveries", log)
        try:
            while not stop.is_set():
                try:
                    started = await self.fill()
                except Exception as error:
                    # A database hiccup must not end delivery; the next round tries again.
                    outage.failed(error)
                    started = 0
                else:
                    outage.succeeded()
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
        if self._unrecorded and not await self._record_accepted():
            return 0
        room = self.concurrency - len(self._inflight)
        if room <= 0:
            return 0
        now = self.clock()
        ready = [p for p in self.platforms if p not in self._locked_out]
        leased = (
            await self.outbox.lease(now, self.owner, platforms=ready, limit=room, lease_for=self.lease_for)
            if ready
            else []
        )
        for platform, (reason, probe_at) in list(self._locked_out.items()):
            if now >= probe_at and len(leased) < room:
                self._locked_out[platform] = (reason, now + timedelta(seconds=AUTH_PROBE_SECONDS))
                leased += await self.outbox.lease(
                    now, self.owner, platforms=[platform], limit=1, lease_for=self.lease_for
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
            frozen = await self._freeze(delivery)
            if frozen is None:
                return
            delivery, bodies = frozen.delivery, frozen.bodies
        platform, channel = delivery.key.platform, delivery.key.channel
        sender = self.senders[platform]
        limiter = self.limiters.get(platform) if delivery.step not in UNPACED_STEPS else None
        message_ids = list(delivery.message_ids)
        for part in range(delivery.parts_sent, len(bodies)):
            if self._unrecorded:
                return  # halted: the lease runs out and the row waits, unposted, for the database
            ticket = await limiter.acquire(channel) if limiter is not None else None
            started = time.perf_counter()
            if delivery.step is not None and self.threads is not None:
                outcome = await self.threads.post(delivery, part, bodies[part])
            else:
                outcome = await sender.send(
                    channel, bodies[part], key=delivery.part_key(part), workspace=delivery.key.workspace
                )
            if self.metrics is not None:
                self.metrics.send_seconds.labels(platform=platform).observe(time.perf_counter() - started)
            if limiter is not None and ticket is not None:
                _learn(sender, limiter, channel, outcome, ticket)
            if isinstance(outcome, Sent):
                if platform in self._locked_out:
                    del self._locked_out[platform]
                    log.warning("%s: the bot's token works again; sending resumed", platform)
                message_ids.append(outcome.message_id or "-")
                if self.faults is not None:
                    await self.faults("after_post", delivery, part)
                done = part + 1 == len(bodies)
                try:
                    kept = await self.outbox.record_part(
                        delivery,
                        self.owner,
                        part + 1,
                        message_ids,
                        self.clock(),
                        done=done,
                        lease_for=self.lease_for,
                    )
                except Exception as error:  # any failure to record must halt sending, not repeat the post
                    self._hold(_Accepted(delivery, part + 1, tuple(message_ids), done), error)
                    return
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
            await self._settle(delivery, outcome)
            return

    async def _settle(self, delivery: Delivery, outcome: RetryLater | Failed | Unauthorized) -> None:
        """Put a row the platform did not take back in the queue, hold its platform, or give it up."""
        if isinstance(outcome, RetryLater):
            await self._retry(delivery, outcome)
        elif isinstance(outcome, Unauthorized):
            await self._lock_out(delivery, outcome)
        else:
            await self._dead(delivery, outcome)

    def _hold(self, accepted: _Accepted, error: Exception) -> None:
        first = not self._unrecorded
        self._unrecorded[accepted.delivery.id] = accepted
        self.problem = (
            f"sending halted: delivery {accepted.delivery.id} was posted but the database could not "
            "record it; nothing more is sent until it can"
        )
        if first:
            log.error("%s (%s)", self.problem, error)

    async def _record_accepted(self) -> bool:
        """Write the posts held in memory; True once none is left, and sending may resume."""
        for delivery_id, accepted in list(self._unrecorded.items()):
            try:
                await self.outbox.record_accepted(
                    delivery_id, accepted.parts_sent, accepted.message_ids, self.clock(), done=accepted.done
                )
            except Exception:  # still failing: stay halted, and say nothing more until it works
                return False
            del self._unrecorded[delivery_id]
            if accepted.done:
                self._count("sent", accepted.delivery.key.platform)
        self.problem = None
        log.warning("sending resumed: the database recorded the posts it had missed")
        return True

    async def _freeze(self, delivery: Delivery) -> Plan | None:
        now = self.clock()
        if delivery.kind == "alert":
            rendered = await self.composer.alert(delivery.key, delivery.summary_id or "", delivery.topics)
            if rendered is None:
                # Deleted by an operator: nothing is wrong with the channel, so its alerts go on.
                if await self.outbox.mark_dead(
                    delivery, self.owner, STORY_GONE, now, counts=False, pause=False
                ):
                    self._count("dead", delivery.key.platform)
                return None
            alert = await self._plan(delivery, rendered)
            if alert is None:
                return None
            kept = await self.outbox.freeze(delivery.id, self.owner, alert.bodies, now, then=alert.then)
            return alert if kept else None
        slot = delivery.slot_at or delivery.created_at
        watermark = await self.outbox.watermark(delivery.key)
        rendered = await self.composer.digest(delivery.key, slot, watermark)
        plan = await self._plan(delivery, rendered) if rendered is not None else None
        if rendered is not None and plan is None:
            return None  # the platform could not say how the channel takes threads: retried later
        bodies = plan.bodies if plan is not None else None
        covered = max(slot, watermark) if watermark is not None else slot
        kept = await self.outbox.freeze_digest(
            delivery,
            self.owner,
            bodies,
            covered,
            now,
            skip_reason=None if bodies else NOTHING_NEW,
            then=plan.then if plan is not None else None,
        )
        if plan is None:
            if kept:
                self._count("skipped", delivery.key.platform)
            return None
        return plan if kept else None

    async def _plan(self, delivery: Delivery, rendered: Rendered) -> Plan | None:
        """Split the rendered delivery into the parent's bodies and its thread steps (all flat without threads)."""
        if self.threads is None:
            return Plan(delivery, rendered.bodies)
        plan = await self.threads.plan(delivery, rendered)
        if isinstance(plan, Plan):
            return plan
        await self._settle(delivery, plan)
        return None

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
            if await self.outbox.mark_dead(delivery, self.owner, reason, now):
                self._count("dead", platform)
            return
        wait = max(outcome.after, self.backoff.delay(attempts))
        at = now + timedelta(seconds=wait)
        await self.outbox.retry_later(delivery, self.owner, at, outcome.reason, now, counts=True)

    async def _lock_out(self, delivery: Delivery, outcome: Unauthorized) -> None:
        now = self.clock()
        platform = delivery.key.platform
        if platform not in self._locked_out:
            log.error(
                "%s refused the bot's token (%s): sending to %s is paused, queued messages wait, "
                "and one is tried every %.0f s until the token works",
                platform,
                outcome.reason,
                platform,
                AUTH_PROBE_SECONDS,
            )
            self._locked_out[platform] = (outcome.reason, now + timedelta(seconds=AUTH_PROBE_SECONDS))
        # Back in the queue as it was: not an attempt, and nothing about the channel is paused.
        await self.outbox.retry_later(delivery, self.owner, now, outcome.reason, now, counts=False)

    async def _dead(self, delivery: Delivery, outcome: Failed) -> None:
        status: Literal["dead", "paused"] = "paused" if outcome.paused else "dead"
        if not await self.outbox.mark_dead(delivery, self.owner, outcome.reason, self.clock(), status=status):
            # The lease ran out while the post was refused: the process that holds the row now posts it
            # again and records what happens then; counting it here would count a delivery twice.
            return
        self._count(status, delivery.key.platform)
        log.warning("delivery %s to %s is %s: %s", delivery.id, delivery.key, status, outcome.reason)

    def _count(self, status: str, platform: str) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(status=status, platform=platform).inc()


def _learn(
    sender: Sender,
    limiter: Limiter,
    channel: str,
    outcome: Sent | RetryLater | Failed | Unauthorized,
    ticket: float,
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
