"""A Discord budget shared by replicas on PostgreSQL: together they never send more than one bot may.

Each "replica" here has its own engine (its own connections), as separate processes would; what the test
counts is when each request was allowed to leave, from the time its draw returned plus the wait the budget
imposed, which is when a real sender would post.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.budgets import SqlChannelBuckets, SqlRateBudget
from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database

pytestmark = pytest.mark.postgres

RATE = 50.0
REPLICAS = 3
REQUESTS = 120  # 40 per replica: well past one burst, so the refill rate is what limits them


@pytest.fixture
async def engines(postgres_url: str) -> AsyncIterator[list[AsyncEngine]]:
    await upgrade_database(postgres_url)
    made = [create_engine(postgres_url) for _ in range(REPLICAS)]
    try:
        yield made
    finally:
        for engine in made:
            await engine.dispose()


Shared = SqlRateBudget | SqlChannelBuckets
T = TypeVar("T", SqlRateBudget, SqlChannelBuckets)


@pytest.fixture
async def opened(engines: list[AsyncEngine]) -> AsyncIterator[list[Shared]]:
    """Budgets and buckets a test made; each holds a connection, given back before the engines go."""
    made: list[Shared] = []
    yield made
    for shared in made:
        await shared.close()


def _open(opened: list[Shared], shared: T) -> T:
    opened.append(shared)
    return shared


async def test_three_replicas_together_stay_within_one_bots_rate(
    engines: list[AsyncEngine], opened: list[Shared]
) -> None:
    budgets = [_open(opened, SqlRateBudget(e, "discord:test", rate=RATE, burst=int(RATE))) for e in engines]
    left: list[float] = []

    async def replica(budget: SqlRateBudget, n: int) -> None:
        async def one() -> None:
            await budget.take()
            left.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(n)))

    started = time.monotonic()
    await asyncio.gather(*(replica(b, REQUESTS // REPLICAS) for b in budgets))
    assert len(left) == REQUESTS
    # In any one-second window at most a burst plus a second's refill may leave; three independent
    # in-process limiters would let 3 x 50 go in the first second.
    left.sort()
    busiest = max(sum(1 for t in left if s <= t < s + 1.0) for s in left)
    assert busiest <= 2 * RATE + 1
    # 120 requests with a 50-request burst need at least (120 - 50) / 50 = 1.4 s of refill.
    assert left[-1] - started >= (REQUESTS - RATE) / RATE - 0.1


@pytest.mark.parametrize("shared", ["budget", "channel buckets"])
async def test_a_replica_that_cannot_reach_the_limiter_waits_instead_of_sending(
    postgres_url: str, shared: str
) -> None:
    await upgrade_database(postgres_url)
    broken = create_engine(postgres_url.rsplit("/", 1)[0] + "/no_such_database_for_newsbot")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) >= 3:
            raise asyncio.CancelledError  # enough: it kept waiting

    take = (
        SqlRateBudget(broken, "discord:test", rate=RATE, burst=int(RATE), sleep=sleep).take
        if shared == "budget"
        else partial(SqlChannelBuckets(broken, "discord:test", sleep=sleep).take, "42")
    )
    try:
        with pytest.raises(asyncio.CancelledError):
            await take()
    finally:
        await broken.dispose()
    assert slept == [1.0, 1.0, 1.0]


async def test_a_token_given_back_after_a_429_is_there_for_the_next_request(
    engines: list[AsyncEngine],
    opened: list[Shared],
) -> None:
    budget = _open(opened, SqlRateBudget(engines[0], "discord:refund", rate=1.0, burst=1))
    await budget.take()
    await budget.give_back()
    async with engines[0].connect() as conn:
        tokens = (
            await conn.execute(text("SELECT tokens FROM rate_budgets WHERE name = 'discord:refund'"))
        ).scalar_one()
    assert tokens >= 0.99


@pytest.mark.parametrize(("overslept", "queued_again"), [(0.1, False), (1.0, True)])
async def test_a_reservation_woken_late_within_the_tolerance_is_sent_not_queued_again(
    engines: list[AsyncEngine], opened: list[Shared], overslept: float, queued_again: bool
) -> None:
    """A wake-up a little late keeps its slot (queuing again would leave the slot unused, and the bot's
    rate with it); one far later than the budget tolerates queues again rather than send in a bunch."""
    name = f"discord:late:{overslept}"
    other = _open(opened, SqlRateBudget(engines[1], name, rate=2.0, burst=1))
    sleeps: list[float] = []

    async def late_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > 1:
            raise _Refused  # queued again behind the other replica's hold: all this test needs to see
        await asyncio.sleep(seconds + overslept)
        await other.hold(2.0)  # meanwhile another replica's requests fill the queue

    budget = _open(
        opened, SqlRateBudget(engines[0], name, rate=2.0, burst=1, late_seconds=0.5, sleep=late_sleep)
    )
    await budget.take()  # the bucket's one token: no wait
    if queued_again:
        with pytest.raises(_Refused):
            await budget.take()
    else:
        await budget.take()
    assert len(sleeps) == (2 if queued_again else 1)


# -- per-channel buckets ------------------------------------------------------------------------------------


class _Refused(Exception):
    """Raised by a test sleep: the caller was told to wait, which is all the test needs to know."""


def _recording_sleep(waits: list[float]) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise _Refused

    return sleep


async def test_a_channels_five_posts_are_shared_by_three_replicas_not_taken_five_times_each(
    engines: list[AsyncEngine],
    opened: list[Shared],
) -> None:
    waits: list[float] = []
    replicas = [
        _open(opened, SqlChannelBuckets(e, "discord:test", sleep=_recording_sleep(waits))) for e in engines
    ]
    await replicas[0].take("42")  # the first post, before Discord has said anything about the channel
    await replicas[0].observe("42", 5, 4, 30.0)  # Discord: 4 more in the next 30 s

    async def one(buckets: SqlChannelBuckets) -> bool:
        try:
            await buckets.take("42")
        except _Refused:
            return False
        return True

    granted = await asyncio.gather(*(one(replicas[n % REPLICAS]) for n in range(12)))
    assert sum(granted) == 4
    assert all(25.0 < w <= 30.0 for w in waits)  # the refused ones wait for the window, not a retry loop


def _two_replicas(
    engines: list[AsyncEngine], opened: list[Shared], waits: list[float]
) -> tuple[SqlChannelBuckets, SqlChannelBuckets]:
    """Two replicas' views of one bot's channel buckets, whose waits are recorded and refused."""
    sleep = _recording_sleep(waits)
    return (
        _open(opened, SqlChannelBuckets(engines[0], "discord:test", sleep=sleep)),
        _open(opened, SqlChannelBuckets(engines[1], "discord:test", sleep=sleep)),
    )


async def test_a_429_for_a_channel_holds_it_in_every_replica_and_no_other_channel(
    engines: list[AsyncEngine],
    opened: list[Shared],
) -> None:
    waits: list[float] = []
    first, second = _two_replicas(engines, opened, waits)
    await first.back_off("42", 20.0)
    with pytest.raises(_Refused):
        await second.take("42")
    assert 15.0 < waits[0] <= 20.0
    await second.take("43")  # another channel is not held


async def test_a_fresh_window_opens_for_every_replica_once_the_old_one_has_passed(
    engines: list[AsyncEngine],
    opened: list[Shared],
) -> None:
    waits: list[float] = []
    first, second = _two_replicas(engines, opened, waits)
    await first.observe("42", 2, 1, 30.0)  # a 30 s window ...
    await first.observe("42", 2, 0, 0.0)  # ... that has just run out
    await second.take("42")
    await first.take("42")  # limit 2: one more in the fresh window ...
    with pytest.raises(_Refused):
        await second.take("42")  # ... and then none, for the window Discord had announced
    assert len(waits) == 1
    assert 25.0 < waits[0] <= 30.0


async def test_shared_buckets_are_per_bot_token(engines: list[AsyncEngine], opened: list[Shared]) -> None:
    waits: list[float] = []
    one_bot = _open(opened, SqlChannelBuckets(engines[0], "discord:one", sleep=_recording_sleep(waits)))
    other_bot = _open(opened, SqlChannelBuckets(engines[1], "discord:other", sleep=_recording_sleep(waits)))
    await one_bot.observe("42", 5, 0, 30.0)
    await other_bot.take("42")
    assert waits == []


async def test_a_global_429_holds_every_replicas_budget(
    engines: list[AsyncEngine], opened: list[Shared]
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    first = _open(opened, SqlRateBudget(engines[0], "discord:hold", rate=RATE, burst=int(RATE), sleep=sleep))
    second = _open(opened, SqlRateBudget(engines[1], "discord:hold", rate=RATE, burst=int(RATE), sleep=sleep))
    await first.take()
    await first.hold(2.0)
    await second.take()
    assert len(waits) == 1
    assert waits[0] > 1.5  # two seconds of refill owed, less the moment between the two statements


async def test_after_a_global_429_every_replica_spaces_its_requests_wider_for_a_while(
    engines: list[AsyncEngine], opened: list[Shared]
) -> None:
    slots: list[float] = []  # when each reserved request was due to leave

    async def sleep(seconds: float) -> None:
        slots.append(time.monotonic() + seconds)

    def budget(engine: AsyncEngine, careful_seconds: float) -> SqlRateBudget:
        shared = SqlRateBudget(
            engine,
            "discord:careful",
            rate=RATE,
            burst=1,
            careful_slowdown=1.0,  # half the rate, so the two spacings cannot be mistaken for each other
            careful_seconds=careful_seconds,
            sleep=sleep,
        )
        return _open(opened, shared)

    first, second = budget(engines[0], 0.5), budget(engines[1], 0.5)
    await first.take()  # the burst of one: leaves at once
    await first.hold(0.0)  # what a global 429 with no wait to speak of leaves behind
    slots.clear()
    await second.take()
    await second.take()
    # The second replica saw no 429 itself, yet its next reservation lies one careful slot further on.
    assert slots[1] - slots[0] == pytest.approx(2 / RATE, abs=0.002)

    await asyncio.sleep(0.6)  # the careful half second is over: the full rate is back
    await second.take()
    slots.clear()
    await second.take()
    await second.take()
    assert slots[1] - slots[0] == pytest.approx(1 / RATE, abs=0.002)
