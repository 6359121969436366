"""A request budget shared by every replica: one token bucket row, drawn from by one UPDATE per request.

Discord allows a bot 50 requests a second across all of its processes; three replicas that each keep
to 50 send 150 and collect 429s (and 10,000 invalid requests in 10 minutes ban the token). PostgreSQL is
already what replicas share, so the bucket lives there: each request takes a token in a single
statement that refills the bucket from the time elapsed on the *database's* clock, so replicas whose
clocks disagree still count alike. A draw may leave the bucket negative: that is a reservation, and the
caller waits until its token would have been there, so waiting requests are served in arrival order
without polling. SQLite serves one process, which keeps its in-process limiter.

The per-channel buckets Discord announces in its headers are shared the same way (`SqlChannelBuckets`):
a request takes one of the channel's remaining posts in one upsert, so three replicas posting to one
channel spend its 5 posts per 5 s once between them, not three times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import Executable, Result, TextClause, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.engine import StoreError, translated_errors
from bot.store.tables import rate_budgets

log = logging.getLogger(__name__)

# Refill from the database's clock, cap at the burst, take one: the new level is the answer, with whether
# the budget is being careful (a global 429 came back lately), when it refills at the careful rate.
_DRAW = text(
    "UPDATE rate_budgets SET "
    "tokens = LEAST(:burst, tokens + EXTRACT(EPOCH FROM (clock_timestamp() - refreshed_at)) * "
    "CASE WHEN careful_until > clock_timestamp() THEN CAST(:careful_rate AS FLOAT) "
    "ELSE CAST(:rate AS FLOAT) END) - :n, "
    "refreshed_at = clock_timestamp() "
    "WHERE name = :name RETURNING tokens, COALESCE(careful_until > clock_timestamp(), false) AS careful"
)
# Hold every replica after a global 429: the bucket is emptied into debt worth `seconds` of refill, and
# the budget stays careful for `careful` seconds (longer if it already was).
_HOLD = text(
    "UPDATE rate_budgets SET "
    "tokens = LEAST(LEAST(:burst, tokens + EXTRACT(EPOCH FROM (clock_timestamp() - refreshed_at)) * :rate), "
    ":debt), refreshed_at = clock_timestamp(), "
    "careful_until = GREATEST(careful_until, clock_timestamp() + make_interval(secs => CAST(:careful AS FLOAT))) "
    "WHERE name = :name"
)
UNREACHABLE_WAIT_SECONDS = 1.0
# A reservation woken later than this is queued again rather than sent beside later slots' requests,
# unless the budget is told how late its spacing tolerates (`late_seconds`, the window margin).
LATE_SECONDS = 0.02
MAX_REDRAWS = 3  # so a process that keeps stalling still sends, late

Sleep = Callable[[float], Awaitable[None]]


class _Link:
    """One connection held open in autocommit: a draw is one round trip, with no pool checkout, ping,
    BEGIN or COMMIT around it, and no fsync (synchronous_commit off). Measured with three replicas at
    50 requests/s on a loaded two-core machine: a grant (channel bucket + budget) took p99 33 ms through
    the pool in transactions, 18 ms this way. Statements from one process take turns on it; a failed
    one drops it and the next reconnects."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._url = engine.url.render_as_string(hide_password=True)
        self._conn: AsyncConnection | None = None
        self._turn = asyncio.Lock()

    async def execute(self, statement: Executable, params: Mapping[str, object]) -> Result[Any]:
        """Run one statement on the held connection (connecting first if need be)."""
        return (await self.execute_timed(statement, params))[0]

    async def execute_timed(
        self, statement: Executable, params: Mapping[str, object]
    ) -> tuple[Result[Any], float]:
        """Run one statement; also return when it was sent (time.monotonic()), after its turn came."""
        async with self._turn, translated_errors(self._url):
            try:
                sent = time.monotonic()
                if self._conn is None:
                    self._conn = await self._engine.connect()
                    # A bucket's level needs no fsync per draw: after a database crash the worst
                    # case is a refilled bucket, which Discord's own limit then catches.
                    await self._conn.exec_driver_sql("SET synchronous_commit TO off")
                    sent = time.monotonic()
                return await self._conn.execute(statement, params), sent
            except BaseException:
                await self._drop()
                raise

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        """Give the connection back."""
        async with self._turn:
            await self._drop()


class SqlRateBudget:
    """A token bucket in PostgreSQL that several processes draw from (`rate` per second, `burst` at once)."""

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        *,
        rate: float,
        burst: int,
        late_seconds: float = LATE_SECONDS,
        careful_slowdown: float = 0.0,
        careful_seconds: float = 0.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("a shared rate budget needs PostgreSQL (SQLite serves a single process)")
        self._link = _Link(engine)
        self.name = name
        self.rate = rate
        # After a global 429 every replica draws `careful_slowdown` slower for `careful_seconds`
        # (bot/settings.py's DeliverySettings says why).
        self.careful_rate = rate / (1 + max(0.0, careful_slowdown))
        self.careful_seconds = careful_seconds
        self.burst = burst
        # How late a woken reservation may still be sent. Queuing it again costs its slot: the slot
        # passes unused, and the bot's rate with it. Three replicas on a busy two-core machine (load
        # average 4-6) woke more than 20 ms late for a quarter of their grants, and a quarter of the
        # rate went that way (1,000 posts in 29.5 s instead of 21); sent up to 50 ms late (the window
        # margin they ran with), the same posts took 21.0-22.0 s, with 0-0.2 % answered 429.
        self.late_seconds = late_seconds
        self._sleep = sleep
        self._ready = False
        self._unreachable = False

    async def _ensure(self) -> None:
        row = {"name": self.name, "tokens": float(self.burst)}
        stmt = pg_insert(rate_budgets).values(**row, refreshed_at=text("clock_timestamp()"))
        await self._link.execute(stmt.on_conflict_do_nothing(index_elements=["name"]), {})
        self._ready = True

    async def _draw(self, n: int) -> tuple[float, float, float]:
        """Take `n` tokens; return the bucket's new level, the rate it refills at now, and when the draw
        was sent."""
        if not self._ready:
            await self._ensure()
        params = {
            "name": self.name,
            "rate": self.rate,
            "careful_rate": self.careful_rate,
            "burst": self.burst,
            "n": n,
        }
        result, sent = await self._link.execute_timed(_DRAW, params)
        row = result.mappings().one()
        return float(row["tokens"]), self.careful_rate if row["careful"] else self.rate, sent

    async def take(self) -> float:
        """Wait until one request may go under the shared budget; return how long that took (seconds)."""
        waited = 0.0
        redraws = 0
        while True:
            try:
                level, rate, sent = await self._draw(1)
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
                # A reservation: our token arrives when the refill has covered the debt, counted from
                # when the draw was sent, not from when its answer came back: draws of one process
                # queue for their turn on the connection, and timing from the answer would add that
                # queueing to some requests and not others, bunching them at Discord.
                slot = sent - level / rate
                delay = max(0.0, slot - time.monotonic())
                await self._sleep(delay)
                waited += delay
                late = time.monotonic() - slot
                if late > self.late_seconds and redraws < MAX_REDRAWS:
                    # This process woke late (a stalled event loop wakes several sleepers at once):
                    # sending now would land beside requests of later slots. Queue again instead;
                    # the missed slot is simply lost, which costs rate only while the process stalls.
                    redraws += 1
                    continue
            return waited

    async def give_back(self) -> None:
        """Return a token the platform did not count (a request answered 429)."""
        try:
            await self._draw(-1)
        except StoreError:
            log.debug("rate budget %s: could not give a token back", self.name)

    async def hold(self, seconds: float) -> None:
        """Let no replica draw for `seconds`, then draw slower for a while (the platform answered a global
        429)."""
        params = {
            "name": self.name,
            "rate": self.rate,
            "burst": self.burst,
            "debt": -seconds * self.rate,
            "careful": self.careful_seconds,
        }
        try:
            await self._link.execute(_HOLD, params)
        except StoreError:
            log.debug("rate budget %s: could not share a global hold", self.name)

    async def close(self) -> None:
        """Give back the connection the budget holds."""
        await self._link.close()


# Take one of a channel's remaining posts, if it has one and is not held after a 429. A window that has
# run out starts afresh (its length is the longest Discord announced), so the first replica after a
# reset opens the window for all. The WHERE makes a full bucket return no row: nothing is taken.
_TAKE = text(
    "INSERT INTO channel_buckets AS b (budget, channel, used_at) "
    "VALUES (:budget, :channel, statement_timestamp()) "
    "ON CONFLICT (budget, channel) DO UPDATE SET "
    "remaining = CASE WHEN b.remaining IS NULL THEN NULL "
    "  WHEN b.reset_at IS NULL OR b.reset_at <= statement_timestamp() "
    "    THEN CASE WHEN b.bucket_limit IS NULL THEN NULL ELSE b.bucket_limit - 1 END "
    "  ELSE b.remaining - 1 END, "
    "reset_at = CASE WHEN b.remaining IS NOT NULL AND b.bucket_limit IS NOT NULL "
    "  AND (b.reset_at IS NULL OR b.reset_at <= statement_timestamp()) "
    "  THEN statement_timestamp() + COALESCE(b.window_seconds, 1) * interval '1 second' "
    "  ELSE b.reset_at END, "
    "used_at = statement_timestamp() "
    "WHERE (b.blocked_until IS NULL OR b.blocked_until <= statement_timestamp()) "
    "  AND (b.remaining IS NULL OR b.remaining > 0 OR b.reset_at IS NULL "
    "       OR b.reset_at <= statement_timestamp()) "
    "RETURNING 1"
)
# How long until the channel may take a post again (asked only when _TAKE took nothing).
_WAIT = text(
    "SELECT EXTRACT(EPOCH FROM GREATEST("
    "  COALESCE(blocked_until, '-infinity'::timestamptz), "
    "  CASE WHEN remaining <= 0 THEN reset_at ELSE '-infinity'::timestamptz END"
    ") - statement_timestamp()) FROM channel_buckets WHERE budget = :budget AND channel = :channel"
)
# What Discord said after a post. Inside the same window the lower count wins: responses arrive out of
# order, and another replica may have taken posts Discord had not yet counted.
_OBSERVE = text(
    "INSERT INTO channel_buckets AS b "
    "(budget, channel, bucket_limit, remaining, reset_at, window_seconds, used_at) "
    "VALUES (:budget, :channel, :limit, :remaining, "
    "  statement_timestamp() + :after * interval '1 second', :after, statement_timestamp()) "
    "ON CONFLICT (budget, channel) DO UPDATE SET "
    "bucket_limit = COALESCE(EXCLUDED.bucket_limit, b.bucket_limit), "
    "remaining = CASE WHEN b.remaining IS NOT NULL AND b.reset_at > statement_timestamp() "
    "  THEN LEAST(b.remaining, EXCLUDED.remaining) ELSE EXCLUDED.remaining END, "
    "reset_at = EXCLUDED.reset_at, "
    "window_seconds = GREATEST(COALESCE(b.window_seconds, 0), EXCLUDED.window_seconds), "
    "used_at = statement_timestamp()"
)
_BLOCK = text(
    "INSERT INTO channel_buckets AS b (budget, channel, blocked_until, used_at) "
    "VALUES (:budget, :channel, statement_timestamp() + :seconds * interval '1 second', statement_timestamp()) "
    "ON CONFLICT (budget, channel) DO UPDATE SET "
    "blocked_until = GREATEST(COALESCE(b.blocked_until, '-infinity'::timestamptz), EXCLUDED.blocked_until), "
    "used_at = statement_timestamp()"
)
# Rows of channels nobody posted to for an hour hold no window or hold anyone still needs.
_PRUNE = text(
    "DELETE FROM channel_buckets WHERE budget = :budget "
    "AND used_at < statement_timestamp() - interval '1 hour' "
    "AND (blocked_until IS NULL OR blocked_until < statement_timestamp())"
)
PRUNE_EVERY = 10_000  # takes between two prunes of idle rows
MIN_WAIT_SECONDS = 0.01  # a bucket that reopens "now" is asked again after this, not in a busy loop


class SqlChannelBuckets:
    """Per-channel rate-limit buckets in PostgreSQL that every replica of one bot takes from."""

    def __init__(self, engine: AsyncEngine, budget: str, *, sleep: Sleep = asyncio.sleep) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("shared channel buckets need PostgreSQL (SQLite serves a single process)")
        self._link = _Link(engine)
        self.budget = budget
        self._sleep = sleep
        self._unreachable = False
        self._takes = 0

    async def _try_take(self, channel: str) -> float:
        """Take a post of `channel` and return 0, or take nothing and return how long to wait."""
        params = {"budget": self.budget, "channel": channel}
        if (await self._link.execute(_TAKE, params)).first() is not None:
            return 0.0
        wait = (await self._link.execute(_WAIT, params)).scalar_one_or_none()
        return max(MIN_WAIT_SECONDS, float(wait or 0.0))

    async def take(self, channel: str) -> float:
        """Wait until `channel` has room across every replica, take one post; return the seconds waited."""
        waited = 0.0
        while True:
            try:
                delay = await self._try_take(channel)
            except StoreError as error:
                if not self._unreachable:
                    log.error(
                        "channel buckets %s unreachable (%s): holding requests until they answer",
                        self.budget,
                        error,
                    )
                    self._unreachable = True
                delay = UNREACHABLE_WAIT_SECONDS
            else:
                if self._unreachable:
                    log.warning("channel buckets %s reachable again", self.budget)
                    self._unreachable = False
                if delay == 0.0:
                    await self._maybe_prune()
                    return waited
            await self._sleep(delay)
            waited += delay

    async def observe(self, channel: str, limit: int | None, remaining: int, reset_after: float) -> None:
        """Record the bucket Discord announced for `channel`."""
        params = {
            "budget": self.budget,
            "channel": channel,
            "limit": limit,
            "remaining": remaining,
            "after": max(0.0, reset_after),
        }
        await self._write(_OBSERVE, params)

    async def back_off(self, channel: str, seconds: float) -> None:
        """Hold `channel` for `seconds` in every replica (Discord answered 429 for it)."""
        await self._write(_BLOCK, {"budget": self.budget, "channel": channel, "seconds": max(0.0, seconds)})

    async def _write(self, statement: TextClause, params: Mapping[str, object]) -> None:
        try:
            await self._link.execute(statement, params)
        except StoreError as error:
            # The process's own copy of the bucket still holds what was learned; only sharing it failed.
            log.debug("channel buckets %s: could not record (%s)", self.budget, error)

    async def close(self) -> None:
        """Give back the connection the buckets hold."""
        await self._link.close()

    async def _maybe_prune(self) -> None:
        self._takes += 1
        if self._takes % PRUNE_EVERY == 0:
            await self._write(_PRUNE, {"budget": self.budget})
