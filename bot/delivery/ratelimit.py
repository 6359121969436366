"""A proactive rate limiter: a global window per process plus per-channel buckets, so fan-out meets few 429s."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

Clock = Callable[[], float]
CLOSE_WRITES_SECONDS = 2.0  # how long closing waits for what the limiter was still sharing
# Reservations one process holds in the shared budget at once, each a slot that process will use. A
# replica killed while holding them leaves its slots unused: with every delivery in flight holding
# one (32 per replica), a SIGKILLed replica cost a 1,000-channel fan-out 0.7 s. Ten are 0.2 s of the
# bot's rate, still several times the 3-20 ms a reservation takes to come back.
SHARED_RESERVATIONS_AHEAD = 10
Sleep = Callable[[float], Awaitable[None]]


class Pacer:
    """Space requests evenly at `rate` per second, letting `burst` go at once (GCRA, virtual scheduling)."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._tau = max(0, burst - 1) * self.interval
        self._tat = float("-inf")  # theoretical arrival time of the next request

    def reserve(self, now: float) -> float:
        """Reserve the next free slot and return when it starts (`now` when there is room at once)."""
        tat = max(self._tat, now)
        go = max(now, tat - self._tau)
        self._tat = max(tat, go) + self.interval
        return go


class SlidingWindow:
    """Allow at most `limit` requests in any `window` seconds, counting when requests really left.

    Counting actual departures (not planned ones) keeps the promise even when the event loop stalls and
    several delayed requests go out together, which is how a platform counting arrivals sees them.
    """

    def __init__(self, limit: int, window: float = 1.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = window
        # When each counted request stops counting; one addition per request, so the comparison with
        # the clock below cannot disagree with the wait it returns by a rounding error.
        self._expiries: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        """Return how long until one more request fits (0 when it fits now)."""
        while self._expiries and self._expiries[0] <= now:
            self._expiries.popleft()
        if len(self._expiries) < self.limit:
            return 0.0
        return self._expiries[0] - now

    def take(self, now: float) -> float:
        """Count a request leaving at `now`; return its ticket for `give_back`."""
        expiry = now + self.window
        self._expiries.append(expiry)
        return expiry

    def give_back(self, ticket: float) -> None:
        """Stop counting a request the platform refused (it counts only what it accepted)."""
        with contextlib.suppress(ValueError):  # already expired: nothing to give back
            self._expiries.remove(ticket)  # at most `limit` entries


@dataclass(slots=True)
class _Bucket:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float = 0.0
    blocked_until: float = 0.0
    pacer: Pacer | None = None
    last_used: float = field(default=0.0)


class Limiter:
    """Wait before each request so a process stays under its global rate and inside each channel's bucket.

    Per-channel buckets come from the platform's `X-RateLimit-*` headers (Discord) through `observe`,
    or from a fixed per-channel rate (Slack's one message per second); a 429 blocks a channel, or
    everything when `key` is None, for the `Retry-After` the platform gave.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 5,
        window: float = 1.0,
        margin: float = 0.0,
        careful_slowdown: float = 0.0,
        careful_seconds: float = 0.0,
        per_key_rate: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        # Both: the pace spreads requests evenly, the window re-checks when they really leave. The
        # window is held `margin` seconds longer than the platform's, because the platform counts a
        # request when it arrives, and arrivals are spread by network and event-loop delays that a
        # count of departures cannot see.
        self._pace = Pacer(rate, burst)
        self._global = SlidingWindow(max(1, int(rate * window)), window + max(0.0, margin))
        # After a global 429 the window is held `careful_slowdown` longer still, for `careful_seconds`
        # (bot/settings.py's DeliverySettings says why).
        self._window = self._global.window
        self._careful_window = self._window + window * max(0.0, careful_slowdown)
        self._careful_seconds = careful_seconds
        self._careful_until = float("-inf")
        self._per_key_rate = per_key_rate
        self._clock = clock
        self._sleep = sleep
        self._blocked_until = 0.0
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            pacer = Pacer(self._per_key_rate) if self._per_key_rate else None
            bucket = self._buckets[key] = _Bucket(pacer=pacer)
            if len(self._buckets) > 50_000:
                self._forget_idle()
        return bucket

    def _forget_idle(self) -> None:
        # Buckets of channels idle for a minute hold nothing a new request needs to respect.
        horizon = self._clock() - 60.0
        for k in [k for k, b in self._buckets.items() if b.last_used < horizon and b.blocked_until < horizon]:
            del self._buckets[k]

    async def acquire(self, key: str) -> float:
        """Wait until one request to `key` may be sent, count it, and return its ticket for `refund`."""
        bucket = self._bucket(key)
        while True:
            now = self._clock()
            until = max(self._blocked_until, bucket.blocked_until)
            if bucket.remaining is not None and bucket.remaining <= 0 and now < bucket.reset_at:
                until = max(until, bucket.reset_at)
            if until <= now:
                break
            await self._sleep(until - now)
        if bucket.remaining is not None:
            if now >= bucket.reset_at and bucket.limit is not None:
                bucket.remaining = bucket.limit  # the announced window has passed
            bucket.remaining -= 1
        if bucket.pacer is not None:
            await self._wait_for(bucket.pacer.reserve(now))
        # The global slot is taken last, so time spent waiting on one channel never wastes global capacity.
        await self._wait_for(self._pace.reserve(self._clock()))
        while (delay := self._global.wait_time(self._clock())) > 0 or self._blocked_until > self._clock():
            await self._sleep(max(delay, self._blocked_until - self._clock()))
        now = self._clock()
        bucket.last_used = now
        self._global.window = self._careful_window if now < self._careful_until else self._window
        return self._global.take(now)

    async def close(self) -> None:
        """Release what the limiter holds (nothing in a single process)."""

    def refund(self, ticket: float) -> None:
        """Give back the global slot of a request answered 429: the platform did not count it, and its
        retry should not cost a second slot (at the end of a fan-out, that is a whole extra second)."""
        self._global.give_back(ticket)

    async def _wait_for(self, moment: float) -> None:
        delay = moment - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def observe_bucket(self, key: str, limit: int | None, remaining: int, reset_after: float) -> None:
        """Learn a channel's bucket: `remaining` requests until `reset_after` seconds from now."""
        bucket = self._bucket(key)
        if limit is not None:
            bucket.limit = limit
        now = self._clock()
        # Responses can arrive out of order; the lower count is the safer one inside the same window.
        same_window = bucket.remaining is not None and now < bucket.reset_at
        if same_window and bucket.remaining is not None:
            bucket.remaining = min(remaining, bucket.remaining)
        else:
            bucket.remaining = remaining
        bucket.reset_at = now + reset_after

    def back_off(self, key: str | None, seconds: float) -> None:
        """Hold requests to `key` (every request when None, then slower for a while) for `seconds` after a 429."""
        until = self._clock() + max(0.0, seconds)
        if key is None:
            self._blocked_until = max(self._blocked_until, until)
            self._careful_until = max(self._careful_until, until + self._careful_seconds)
        else:
            bucket = self._bucket(key)
            bucket.blocked_until = max(bucket.blocked_until, until)


class SharedBudget(Protocol):
    """A request budget several processes draw from (bot/store/budgets.py's SqlRateBudget)."""

    async def take(self) -> float:
        """Wait until one request fits the shared budget."""
        ...

    async def give_back(self) -> None:
        """Return the token of a request the platform did not count."""
        ...

    async def hold(self, seconds: float) -> None:
        """Let no process draw for `seconds` (a global 429)."""
        ...

    async def close(self) -> None:
        """Give back what the budget holds open."""
        ...


class SharedBuckets(Protocol):
    """Per-channel buckets several processes take from (bot/store/budgets.py's SqlChannelBuckets)."""

    async def take(self, channel: str) -> float:
        """Wait until `channel` has room in every process's eyes, and take one request of it."""
        ...

    async def observe(self, channel: str, limit: int | None, remaining: int, reset_after: float) -> None:
        """Record the bucket the platform announced for `channel`."""
        ...

    async def back_off(self, channel: str, seconds: float) -> None:
        """Hold `channel` in every process for `seconds`."""
        ...

    async def close(self) -> None:
        """Give back what the buckets hold open."""
        ...


class SharedLimiter(Limiter):
    """The process's own limiter (per-channel buckets, its share of the window) plus a budget and channel
    buckets every replica draws from, so N replicas together send what one bot may, not N times that.

    What a response teaches (a channel's bucket, a 429) is kept here at once and written to the shared
    buckets in the background; the next request to that channel waits for the write, so it never reads
    the shared bucket before this process's own news reached it.
    """

    def __init__(
        self,
        budget: SharedBudget,
        rate: float,
        *,
        buckets: SharedBuckets | None = None,
        ahead: int = SHARED_RESERVATIONS_AHEAD,
        **options: Any,
    ) -> None:
        super().__init__(rate, **options)
        self._shared = budget
        self._shared_buckets = buckets
        self._ahead = asyncio.Semaphore(max(1, ahead))
        self._returns: set[asyncio.Task[None]] = set()
        self._writes: dict[str, asyncio.Task[None]] = {}

    async def acquire(self, key: str) -> float:
        """Wait for the channel (here and in the shared buckets) and the process, then for a token of the
        shared budget."""
        if self._shared_buckets is not None:
            pending = self._writes.get(key)
            if pending is not None:
                await asyncio.wait({pending})
            await self._shared_buckets.take(key)
        ticket = await super().acquire(key)
        async with self._ahead:
            await self._shared.take()
        return ticket

    def refund(self, ticket: float) -> None:
        """Give the slot back here and the token back to the shared budget."""
        super().refund(ticket)
        self._background(self._shared.give_back())

    def observe_bucket(self, key: str, limit: int | None, remaining: int, reset_after: float) -> None:
        """Learn a channel's bucket here, and share it."""
        super().observe_bucket(key, limit, remaining, reset_after)
        if self._shared_buckets is not None:
            self._share(key, self._shared_buckets.observe(key, limit, remaining, reset_after))

    def back_off(self, key: str | None, seconds: float) -> None:
        """Hold a channel (or everything) here, and in every other replica."""
        super().back_off(key, seconds)
        if key is None:
            self._background(self._shared.hold(seconds))
        elif self._shared_buckets is not None:
            self._share(key, self._shared_buckets.back_off(key, seconds))

    async def close(self) -> None:
        """Let the last writes land, then give back the shared budget's and buckets' connections."""
        if self._returns:
            await asyncio.wait(set(self._returns), timeout=CLOSE_WRITES_SECONDS)
        await self._shared.close()
        if self._shared_buckets is not None:
            await self._shared_buckets.close()

    def _share(self, key: str, write: Coroutine[Any, Any, None]) -> None:
        before = self._writes.get(key)

        async def in_order() -> None:
            if before is not None:
                await asyncio.wait({before})  # two writes for one channel land in the order they were made
            await write

        task = self._background(in_order())
        self._writes[key] = task
        task.add_done_callback(lambda t: self._writes.pop(key, None) if self._writes.get(key) is t else None)

    def _background(self, write: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(write)
        self._returns.add(task)  # held until done: a task nobody references may be collected mid-flight
        task.add_done_callback(self._returns.discard)
        return task
