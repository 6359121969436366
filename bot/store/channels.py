"""Per-channel preferences on SQLAlchemy: topic subscriptions and digest schedules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.ports import ChannelKey, Schedule, Subscription
from bot.store.engine import READ, WRITE, translated_errors
from bot.store.tables import schedules, subscriptions


def _is_channel(table: Table, key: ChannelKey) -> ColumnElement[bool]:
    return and_(
        table.c.platform == key.platform,
        table.c.workspace == key.workspace,
        table.c.channel == key.channel,
    )


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
    """The ChannelStore port on SQLAlchemy, plus what delivery needs: pausing and finding subscribers."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._reader = engine.execution_options(**READ)
        self._url = engine.url.render_as_string(hide_password=True)

    async def subscribe(self, key: ChannelKey, topic_id: str, *, user: str | None, now: datetime) -> bool:
        """Follow a topic; False when the channel already followed it (a paused one is resumed)."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            stmt = (
                _upsert(conn, subscriptions)
                .values(
                    platform=key.platform,
                    workspace=key.workspace,
                    channel=key.channel,
                    topic_id=topic_id,
                    created_by=user,
                    created_at=now,
                    paused_reason=None,
                )
                .on_conflict_do_nothing()
            )
            if (await conn.execute(stmt)).rowcount == 1:
                return True
            await conn.execute(
                update(subscriptions)
                .where(_is_channel(subscriptions, key), subscriptions.c.topic_id == topic_id)
                .values(paused_reason=None)
            )
            return False

    async def unsubscribe(self, key: ChannelKey, topic_id: str) -> bool:
        """Stop following a topic; False when the channel did not follow it."""
        stmt = delete(subscriptions).where(
            _is_channel(subscriptions, key), subscriptions.c.topic_id == topic_id
        )
        async with translated_errors(self._url), self._writer.begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def subscriptions(self, key: ChannelKey) -> list[Subscription]:
        """Return the channel's subscriptions, ordered by topic id."""
        stmt = select(subscriptions).where(_is_channel(subscriptions, key)).order_by(subscriptions.c.topic_id)
        async with translated_errors(self._url), self._reader.connect() as conn:
            return [_subscription(row) for row in await conn.execute(stmt)]

    async def subscribers(self, topic_ids: Sequence[str]) -> list[Subscription]:
        """Return the unpaused subscriptions to any of `topic_ids`, ordered by channel, then topic."""
        if not topic_ids:
            return []
        stmt = (
            select(subscriptions)
            .where(subscriptions.c.topic_id.in_(list(topic_ids)), subscriptions.c.paused_reason.is_(None))
            .order_by(
                subscriptions.c.platform,
                subscriptions.c.workspace,
                subscriptions.c.channel,
                subscriptions.c.topic_id,
            )
        )
        async with translated_errors(self._url), self._reader.connect() as conn:
            return [_subscription(row) for row in await conn.execute(stmt)]

    async def pause_subscription(self, key: ChannelKey, topic_id: str, reason: str) -> bool:
        """Stop alerts for one subscription until the channel subscribes again; False when there is none."""
        stmt = (
            update(subscriptions)
            .where(_is_channel(subscriptions, key), subscriptions.c.topic_id == topic_id)
            .values(paused_reason=reason)
        )
        async with translated_errors(self._url), self._writer.begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

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
        async with translated_errors(self._url), self._writer.begin() as conn:
            stmt = _upsert(conn, schedules).values(
                platform=key.platform, workspace=key.workspace, channel=key.channel, **values
            )
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=["platform", "workspace", "channel"], set_=values)
            )

    async def clear_schedule(self, key: ChannelKey) -> bool:
        """Remove the channel's schedule; False when it had none."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            return (await conn.execute(delete(schedules).where(_is_channel(schedules, key)))).rowcount > 0

    async def get_schedule(self, key: ChannelKey) -> Schedule | None:
        """Return the channel's schedule, if any."""
        async with translated_errors(self._url), self._reader.connect() as conn:
            row = (await conn.execute(select(schedules).where(_is_channel(schedules, key)))).first()
        return None if row is None else _schedule(row)

    async def pause_schedule(self, key: ChannelKey, reason: str) -> bool:
        """Stop the channel's digests until its schedule is set again; False when it has none."""
        stmt = update(schedules).where(_is_channel(schedules, key)).values(paused_reason=reason)
        async with translated_errors(self._url), self._writer.begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def due_schedules(self, now: datetime, *, limit: int = 100) -> list[Schedule]:
        """Return unpaused schedules whose next slot is at or before `now`, earliest first."""
        stmt = (
            select(schedules)
            .where(schedules.c.next_fire_at <= now, schedules.c.paused_reason.is_(None))
            .order_by(schedules.c.next_fire_at)
            .limit(max(0, limit))
        )
        async with translated_errors(self._url), self._reader.connect() as conn:
            return [_schedule(row) for row in await conn.execute(stmt)]

    async def set_next_fire(self, key: ChannelKey, next_fire_at: datetime | None) -> bool:
        """Record the schedule's next slot; False when the channel has no schedule."""
        stmt = update(schedules).where(_is_channel(schedules, key)).values(next_fire_at=next_fire_at)
        async with translated_errors(self._url), self._writer.begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0
