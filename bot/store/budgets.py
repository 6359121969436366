"""A request budget shared by every replica: one token bucket row, drawn from by one UPDATE per request.

Discord allows a bot 50 requests a second across all of its processes; three replicas that each keep
to 50 send 150 and collect 429s (and 10,000 invalid requests in 10 minutes ban the token). PostgreSQL is
already what replicas share, so the bucket lives there: each request takes a token in a single
statement that refills the bucket from the time elapsed on the *database's* clock, so replicas whose
clocks disagree still count alike. A draw may leave the bucket negative: that is a reservation, and the
caller waits until its token would have been there, so waiting requests are served in arrival order
without polling. SQLite serves one process, which keeps its in-process limiter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.engine import WRITE, StoreError, translated_errors
from bot.store.tables import rate_budgets

log = logging.getLogger(__name__)

# Refill from the database's clock, cap at the burst, take one: the new level is the answer.
_DRAW = text(
    "UPDATE rate_budgets SET "
    "tokens = LEAST(:burst, tokens + EXTRACT(EPOCH FROM (clock_timestamp() - refreshed_at)) * :rate) - :n, "
    "refreshed_at = clock_timestamp() "
    "WHERE name = :name RETURNING tokens"
)
UNREACHABLE_WAIT_SECONDS = 1.0  # a replica that cannot reach the budget waits, never sends faster

Sleep = Callable[[float], Awaitable[None]]


class SqlRateBudget:
    """A token bucket in PostgreSQL that several processes draw from (`rate` per second, `burst` at once)."""

    def __init__(
        self, engine: AsyncEngine, name: str, *, rate: float, burst: int, sleep: Sleep = asyncio.sleep
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("a shared rate budget needs PostgreSQL (SQLite serves a single process)")
        self._writer = engine.execution_options(**WRITE)
        self._url = engine.url.render_as_string(hide_password=True)
        self.name = name
        self.rate = rate
        self.burst = burst
        self._sleep = sleep
        self._ready = False
        self._unreachable = False

    async def _ensure(self) -> None:
        row = {"name": self.name, "tokens": float(self.burst)}
        async with translated_errors(self._url), self._writer.begin() as conn:
            stmt = pg_insert(rate_budgets).values(**row, refreshed_at=text("clock_timestamp()"))
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        self._ready = True

    async def _draw(self, n: int) -> float:
        if not self._ready:
            await self._ensure()
        params = {"name": self.name, "rate": self.rate, "burst": self.burst, "n": n}
        async with translated_errors(self._url), self._writer.begin() as conn:
            return float((await conn.execute(_DRAW, params)).scalar_one())

    async def take(self) -> float:
        """Wait until one request may go under the shared budget; return how long that took (seconds)."""
        waited = 0.0
        while True:
            try:
                level = await self._draw(1)
            except StoreError as error:
                if not self._unreachable:
                    log.error(
                        "rate budget %s unreachable (%s): holding requests until it answers", self.name, error
                    )
                    self._unreachable = True
                await self._sleep(UNREACHABLE_WAIT_SECONDS)
                waited += UNREACHABLE_WAIT_SECONDS
                continue
            if self._unreachable:
                log.warning("rate budget %s reachable again", self.name)
                self._unreachable = False
            if level < 0:
                # A reservation: our token arrives when the refill has covered the debt.
                delay = -level / self.rate
                await self._sleep(delay)
                waited += delay
            return waited

    async def give_back(self) -> None:
        """Return a token the platform did not count (a request answered 429)."""
        try:
            await self._draw(-1)
        except StoreError:
            log.debug("rate budget %s: could not give a token back", self.name)
