"""The proactive limiter and the backoff policy, driven by a virtual clock."""

from __future__ import annotations

import asyncio
import random

from bot.app import build_limiters
from bot.delivery.backoff import Backoff
from bot.delivery.ratelimit import Limiter, Pacer, SharedLimiter
from bot.settings import DeliverySettings


class VirtualTime:
    """A clock whose sleep advances it instantly, so pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def _limiter(vt: VirtualTime, rate: float, **kw: float) -> Limiter:
    return Limiter(rate, clock=vt.clock, sleep=vt.sleep, **kw)  # type: ignore[arg-type]


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_global_pace_keeps_every_one_second_window_under_the_rate() -> None:
    vt = VirtualTime()
    limiter = _limiter(vt, 50)
    sent: list[float] = []
    for channel in range(500):
        await limiter.acquire(str(channel))
        sent.append(vt.now)
    assert _max_in_window(sent, 0.999) <= 50  # half-open one-second windows
    assert sent[-1] <= 500 / 50  # and not slower than the rate allows


async def test_discord_limiter_sends_a_seconds_allowance_at_once_yet_jittered_arrivals_fit() -> None:
    vt = VirtualTime()
    config = DeliverySettings()
    limiter = build_limiters(config)["discord"]
    limiter._clock, limiter._sleep = vt.clock, vt.sleep  # type: ignore[method-assign]
    sent: list[float] = []
    for channel in range(1000):
        await limiter.acquire(str(channel))
        sent.append(vt.now)
    assert sent[49] < 0.001  # the first second's 50 requests do not wait for one another
    assert sent[50] >= 1.0 + config.window_margin
    # Discord counts arrivals: any delay up to the margin keeps every one-second window at 50 or fewer.
    rng = random.Random(7)
    arrivals = [t + rng.uniform(0, config.window_margin * 0.99) for t in sent]
    assert _max_in_window(arrivals, 0.999) <= 50
    assert sent[-1] <= 1000 / 50 * (1 + config.window_margin)  # and it is no slower than that


async def test_a_request_answered_429_gives_its_slot_back_for_the_retry() -> None:
    vt = VirtualTime()
    limiter = _limiter(vt, 5, burst=5)
    tickets = [await limiter.acquire(str(c)) for c in range(5)]
    limiter.back_off(None, 0.1)
    limiter.refund(tickets[-1])  # the platform refused the fifth: it did not count it
    await limiter.acquire("retry")
    assert vt.now < 0.2  # the retry waits out Retry-After, not the whole one-second window
    await limiter.acquire("next")
    assert vt.now >= 1.0  # and the window is full again


async def test_header_bucket_holds_a_channel_until_its_reset() -> None:
    vt = VirtualTime()
    limiter = _limiter(vt, 50)
    await limiter.acquire("c1")
    limiter.observe_bucket("c1", 5, 0, 4.5)
    await limiter.acquire("c2")  # other channels are not held
    assert vt.now < 0.1
    await limiter.acquire("c1")
    assert vt.now >= 4.5


async def test_route_429_blocks_that_channel_and_global_429_blocks_all() -> None:
    vt = VirtualTime()
    limiter = _limiter(vt, 50)
    limiter.back_off("c1", 3.0)
    await limiter.acquire("c2")
    assert vt.now < 0.1
    await limiter.acquire("c1")
    assert vt.now >= 3.0
    limiter.back_off(None, 2.0)
    start = vt.now
    await limiter.acquire("c9")
    assert vt.now >= start + 2.0


async def test_after_a_global_429_a_process_sends_slower_for_a_while_then_at_full_rate_again() -> None:
    vt = VirtualTime()
    limiter = _limiter(vt, 50, burst=1, careful_slowdown=1.0, careful_seconds=10.0)

    async def seconds_for(requests: int) -> float:
        start = vt.now
        for channel in range(requests):
            await limiter.acquire(f"c{channel}")
        return vt.now - start

    assert await seconds_for(200) < 4.1  # 50 a second
    limiter.back_off(None, 0.0)
    assert await seconds_for(200) > 6.9  # a window held twice as long: 25 a second
    vt.now += 10.0  # the careful ten seconds pass
    assert await seconds_for(200) < 4.1


async def test_fixed_per_channel_rate_paces_one_channel_but_not_others() -> None:
    vt = VirtualTime()
    limiter = _limiter(vt, 20, per_key_rate=1.0)
    times = []
    for _ in range(3):
        await limiter.acquire("c1")
        times.append(vt.now)
    assert times[2] - times[0] >= 2.0
    for ch in range(10):
        await limiter.acquire(f"other{ch}")
    assert vt.now - times[2] < 1.0


def test_pacer_lets_a_burst_through_then_spaces_requests() -> None:
    pacer = Pacer(10, burst=3)
    starts = [pacer.reserve(0.0) for _ in range(5)]
    assert starts[:3] == [0.0, 0.0, 0.0]
    assert starts[3] > 0
    assert starts[4] > starts[3]


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    low = Backoff(base=2, cap=60, rand=lambda: 0.0)
    high = Backoff(base=2, cap=60, rand=lambda: 1.0)
    assert [low.delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert [high.delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert high.delay(30) == 60.0
    assert not high.exhausted(7)
    assert high.exhausted(8)


class _SharedChannels:
    """Shared buckets in memory: what each replica wrote, and a channel held until a time."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.held: dict[str, float] = {}
        self.log: list[tuple[str, str]] = []

    async def take(self, channel: str) -> float:
        self.log.append(("take", channel))
        start = self.vt.now
        if self.held.get(channel, 0.0) > self.vt.now:
            await self.vt.sleep(self.held[channel] - self.vt.now)
        return self.vt.now - start

    async def observe(self, channel: str, limit: int | None, remaining: int, reset_after: float) -> None:
        await asyncio.sleep(0)  # a database round trip: the write lands after the caller moved on
        self.log.append(("observe", channel))
        if remaining <= 0:
            self.held[channel] = max(self.held.get(channel, 0.0), self.vt.now + reset_after)

    async def back_off(self, channel: str, seconds: float) -> None:
        await asyncio.sleep(0)
        self.log.append(("back_off", channel))
        self.held[channel] = max(self.held.get(channel, 0.0), self.vt.now + seconds)


class _SharedBudget:
    def __init__(self) -> None:
        self.held: list[float] = []

    async def take(self) -> float:
        return 0.0

    async def give_back(self) -> None:
        return None

    async def hold(self, seconds: float) -> None:
        self.held.append(seconds)


async def _settle() -> None:
    """Let the background writes a limiter started land (each takes a few loop iterations)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_what_one_replica_learns_about_a_channel_holds_another_replica_too() -> None:
    vt = VirtualTime()
    shared = _SharedChannels(vt)
    budget = _SharedBudget()

    def replica() -> SharedLimiter:
        return SharedLimiter(budget, 50, buckets=shared, clock=vt.clock, sleep=vt.sleep)

    first, second = replica(), replica()
    await first.acquire("c1")
    first.observe_bucket("c1", 5, 0, 4.0)  # Discord: channel c1 is spent for 4 s
    await first.acquire("c1")  # waits for its own write to land before asking the shared bucket
    assert shared.log[:3] == [("take", "c1"), ("observe", "c1"), ("take", "c1")]
    assert vt.now >= 4.0
    second.back_off("c2", 3.0)
    await _settle()
    start = vt.now
    await first.acquire("c2")  # a 429 the other replica got holds this one as well
    assert vt.now >= start + 2.9
    first.back_off(None, 1.5)  # a global 429 holds the shared budget for everyone
    await _settle()
    assert budget.held == [1.5]


class _SlowBudget(_SharedBudget):
    """A shared budget whose reservations come due a while after they are granted, counting how many one
    process holds at once."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = 0
        self.most = 0

    async def take(self) -> float:
        self.holding += 1
        self.most = max(self.most, self.holding)
        try:
            for _ in range(5):  # the wait for the slot this reservation was given
                await asyncio.sleep(0)
        finally:
            self.holding -= 1
        return 0.0


async def test_a_replica_holds_only_a_few_reservations_of_the_shared_budget_however_many_deliveries_wait() -> (
    None
):
    # A replica killed while holding reservations leaves their slots unused for everyone.
    budget = _SlowBudget()
    limiter = SharedLimiter(budget, 10_000, ahead=4)
    await asyncio.gather(*(limiter.acquire(f"c{n}") for n in range(32)))
    assert budget.most == 4
