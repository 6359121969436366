"""Per-channel preferences on SQLAlchemy: topic subscriptions and digest schedules, and the tick that turns
a due schedule into its digest row (beside the schedules it locks and advances)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.ports import ChannelKey, Schedule, Subscription
from bot.store.engine import READ, WRITE, translated_errors
from bot.store.outbox import insert_rows, new_row
from bot.store.tables import is_channel, schedules, subscriptions


@dataclass(frozen=True, slots=True)
class DueSchedule:
    """A schedule whose next slot has come, as the tick sees it."""

    key: ChannelKey
    cron: str
    timezone: str
    next_fire_at: datetime


@dataclass(frozen=True, slots=True)
class TickDecision:
    """What the tick decided for one due schedule: a digest row to insert (or none) and the next slot."""

    dedupe_key: str | None
    slot_at: datetime | None
    next_fire_at: datetime | None
    pause_reason: str | None = None


Planner = Callable[[DueSchedule], TickDecision]


def _key(row: Row[Any]) -> ChannelKey:
    return ChannelKey(row.platform, row.workspace, row.channel)


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(_key(row), row.topic_id, row.created_by, row.created_at, row.paused_reason)


def _schedule(row: Row[Any]) -> Schedule:
    return Schedule(
        _key(row), row.cron, row.timezone, row.created_by, row.updated_at, row.next_fire_at, row.paused_reason
    )


def _upsert(conn: AsyncConnection, table: Table) -> Any:
    # Both dialects spell INSERT … ON CONFLICT the same way; only the construct's module differs.
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


class SqlChannelStore:
    """The ChannelStore port on SQLAlchemy, plus what delivery reads and advances: followed topics and the tick."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._writer = engine.execution_options(**WRITE)
        self._reader = engine.execution_options(**READ)
        self._url = engine.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction whose database errors become StoreErrors naming the database."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        async with translated_errors(self._url), self._reader.connect() as conn:
            yield conn

    async def subscribe(self, key: ChannelKey, topic_id: str, *, user: str | None, now: datetime) -> bool:
        """Follow a topic; False when the channel already followed it (a paused one is resumed)."""
        async with self._writing() as conn:
            stmt = (
                _upsert(conn, subscriptions)
                .values(
                    platform=key.platform,
                    workspace=key.workspace,
                    channel=key.channel,
                    topic_id=topic_id,
                    created_by=user,
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
            if (await conn.execute(stmt)).rowcount == 1:
                return True
            await conn.execute(
                update(subscriptions)
                .where(is_channel(subscriptions, key), subscriptions.c.topic_id == topic_id)
                .values(paused_reason=None)
            )
            return False

    async def unsubscribe(self, key: ChannelKey, topic_id: str) -> bool:
        """Stop following a topic; False when the channel did not follow it."""
        stmt = delete(subscriptions).where(
            is_channel(subscriptions, key), subscriptions.c.topic_id == topic_id
        )
        async with self._writing() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def subscriptions(self, key: ChannelKey) -> list[Subscription]:
        """Return the channel's subscriptions, ordered by topic id."""
        stmt = select(subscriptions).where(is_channel(subscriptions, key)).order_by(subscriptions.c.topic_id)
        async with self._reading() as conn:
            return [_subscription(row) for row in await conn.execute(stmt)]

    async def set_schedule(
        self,
        key: ChannelKey,
        *,
        cron: str,
        timezone: str,
        user: str | None,
        now: datetime,
        next_fire_at: datetime | None,
    ) -> None:
        """Create or replace the channel's digest schedule (clears any pause)."""
        values = {
            "cron": cron,
            "timezone": timezone,
            "created_by": user,
            "updated_at": now,
            "next_fire_at": next_fire_at,
            "paused_reason": None,
        }
        async with self._writing() as conn:
            stmt = _upsert(conn, schedules).values(
                platform=key.platform, workspace=key.workspace, channel=key.channel, **values
            )
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=["platform", "workspace", "channel"], set_=values)
            )

    async def clear_schedule(self, key: ChannelKey) -> bool:
        """Remove the channel's schedule; False when it had none."""
        async with self._writing() as conn:
            return (await conn.execute(delete(schedules).where(is_channel(schedules, key)))).rowcount > 0

    async def get_schedule(self, key: ChannelKey) -> Schedule | None:
        """Return the channel's schedule, if any."""
        async with self._reading() as conn:
            row = (await conn.execute(select(schedules).where(is_channel(schedules, key)))).first()
        return None if row is None else _schedule(row)

    async def channel_topics(self, key: ChannelKey) -> list[str]:
        """Return the topics a channel follows, paused ones included (a digest is not an alert)."""
        stmt = (
            select(subscriptions.c.topic_id)
            .where(is_channel(subscriptions, key))
            .order_by(subscriptions.c.topic_id)
        )
        async with self._reading() as conn:
            return [str(t) for t in (await conn.execute(stmt)).scalars()]

    async def tick(
        self, now: datetime, plan: Planner, *, platforms: Iterable[str], limit: int = 500
    ) -> tuple[int, int]:
        """Advance every due schedule of `platforms` and insert its digest row in the outbox, in one transaction.

        `plan` decides each schedule's slot while its row is locked (the ticker's cron rules); it
        only computes, so the transaction stays short.

        Returns (schedules advanced, rows inserted). Another process ticking at the same moment skips
        the schedules this one holds, and the dedupe key would stop a second row regardless.
        """
        wanted = sorted(set(platforms))
        if not wanted:
            return 0, 0
        stmt = (
            select(
                schedules.c.platform,
                schedules.c.workspace,
                schedules.c.channel,
                schedules.c.cron,
                schedules.c.timezone,
                schedules.c.next_fire_at,
            )
            .where(
                schedules.c.paused_reason.is_(None),
                schedules.c.next_fire_at.is_not(None),
                schedules.c.next_fire_at <= now,
                schedules.c.platform.in_(wanted),
            )
            .order_by(schedules.c.next_fire_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        advanced = inserted = 0
        async with self._writing() as conn:
            due = [
                DueSchedule(
                    ChannelKey(r.platform, r.workspace, r.channel), r.cron, r.timezone, r.next_fire_at
                )
                for r in await conn.execute(stmt)
            ]
            rows: list[dict[str, Any]] = []
            moves: list[dict[str, Any]] = []
            for schedule in due:
                decision = plan(schedule)
                k = schedule.key
                if decision.pause_reason is not None:
                    await conn.execute(
                        update(schedules)
                        .where(is_channel(schedules, k))
                        .values(next_fire_at=None, paused_reason=decision.pause_reason)
                    )
                    continue
                moves.append(
                    {"b_platform": k.platform, "b_workspace": k.workspace, "b_channel": k.channel,
                     "b_next": decision.next_fire_at}
                )  # fmt: skip
                if decision.dedupe_key is not None:
                    rows.append(new_row(decision.dedupe_key, "digest", k, now, slot_at=decision.slot_at))
            if moves:
                # The rows are locked (PostgreSQL) or the database is (SQLite's BEGIN IMMEDIATE), so no
                # /schedule can change them between the select and this update.
                await conn.execute(
                    update(schedules)
                    .where(
                        schedules.c.platform == bindparam("b_platform"),
                        schedules.c.workspace == bindparam("b_workspace"),
                        schedules.c.channel == bindparam("b_channel"),
                    )
                    .values(next_fire_at=bindparam("b_next")),
                    moves,
                )
            advanced = len(due)
            if rows:
                inserted = await insert_rows(conn, rows)
        return advanced, inserted
