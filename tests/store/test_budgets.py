"""A Discord budget shared by replicas on PostgreSQL: together they never send more than one bot may.

Each "replica" here has its own engine (its own connections), as separate processes would; what the test
counts is when each request was allowed to leave, from the time its draw returned plus the wait the budget
imposed, which is when a real sender would post.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.budgets import SqlRateBudget
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


async def test_three_replicas_together_stay_within_one_bots_rate(engines: list[AsyncEngine]) -> None:
    budgets = [SqlRateBudget(e, "discord:test", rate=RATE, burst=int(RATE)) for e in engines]
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


async def test_a_replica_that_cannot_reach_the_budget_waits_instead_of_sending(postgres_url: str) -> None:
    await upgrade_database(postgres_url)
    broken = create_engine(postgres_url.rsplit("/", 1)[0] + "/no_such_database_for_newsbot")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) >= 3:
            raise asyncio.CancelledError  # enough: it kept waiting

    budget = SqlRateBudget(broken, "discord:test", rate=RATE, burst=int(RATE), sleep=sleep)
    try:
        with pytest.raises(asyncio.CancelledError):
            await budget.take()
    finally:
        await broken.dispose()
    assert slept == [1.0, 1.0, 1.0]


async def test_a_token_given_back_after_a_429_is_there_for_the_next_request(
    engines: list[AsyncEngine],
) -> None:
    budget = SqlRateBudget(engines[0], "discord:refund", rate=1.0, burst=1)
    await budget.take()
    await budget.give_back()
    async with engines[0].connect() as conn:
        tokens = (
            await conn.execute(text("SELECT tokens FROM rate_budgets WHERE name = 'discord:refund'"))
        ).scalar_one()
    assert tokens >= 0.99
