"""The delivery outbox: one row per thing to post, unique by dedupe key, leased by whichever process is free.

Rows are inserted in the transaction that decides they are owed (a schedule's tick, a story's ingest),
so a slot or an alert exists exactly once; sending is at least once, made idempotent by the platform
key each part carries. PostgreSQL leases with `FOR UPDATE SKIP LOCKED`, so any number of processes
share the work; SQLite has a single writer (and newsbot refuses a second process on one file).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.ports import ChannelKey, PutOutcome, StoredStory, TaggedSummary
from bot.core.summary import Summary
from bot.store.engine import WRITE, translated_errors
from bot.store.tables import UTCDateTime, metadata, schedules, story_topics, subscriptions, summaries

Status = Literal["pending", "sending", "sent", "dead", "skipped"]
Kind = Literal["digest", "alert"]
STATUSES: tuple[Status, ...] = ("pending", "sending", "sent", "dead", "skipped")
NO_SENDER_PLATFORMS = frozenset({"console"})  # channels no process can post to: never queued

# The outbox tables join the store's one MetaData, so the migration check sees the whole schema.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("dedupe_key", String(400), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("workspace", String(128), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("slot_at", UTCDateTime(), nullable=True),  # digest: the slot it stands for
    Column("summary_id", String(80), nullable=True),  # alert: the story
    Column(
        "topics", Text(), nullable=False, server_default=""
    ),  # space-separated: alert topics, digest filter
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False, server_default="0"),
    Column("parts_sent", Integer(), nullable=False, server_default="0"),
    Column("bodies", Text(), nullable=True),  # JSON list of rendered bodies, frozen at the first attempt
    Column("message_ids", Text(), nullable=False, server_default=""),  # space-separated, one per sent part
    Column("available_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", Text(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    UniqueConstraint("dedupe_key", name="uq_deliveries_dedupe_key"),
    Index("ix_deliveries_status_available", "status", "available_at"),
    Index("ix_deliveries_channel", "platform", "workspace", "channel"),
)

digest_watermarks = Table(
    "digest_watermarks",
    metadata,
    Column("platform", String(32), nullable=False),
    Column("workspace", String(128), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("digested_until", UTCDateTime(), nullable=False),  # stories ingested up to here were in a digest
    PrimaryKeyConstraint("platform", "workspace", "channel", name="pk_digest_watermarks"),
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row."""

    id: int
    dedupe_key: str
    kind: Kind
    key: ChannelKey
    slot_at: datetime | None
    summary_id: str | None
    topics: tuple[str, ...]
    status: Status
    attempts: int
    parts_sent: int
    bodies: list[dict[str, Any]] | None
    message_ids: tuple[str, ...]
    available_at: datetime
    lease_owner: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    @property
    def part_keys(self) -> list[str]:
        """Return the idempotency key of each part: stable across retries and processes."""
        return [f"{self.id}:{n}" for n in range(len(self.bodies or []))]


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


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=int(row.id),
        dedupe_key=row.dedupe_key,
        kind=row.kind,
        key=ChannelKey(row.platform, row.workspace, row.channel),
        slot_at=row.slot_at,
        summary_id=row.summary_id,
        topics=tuple(row.topics.split()),
        status=row.status,
        attempts=int(row.attempts),
        parts_sent=int(row.parts_sent),
        bodies=json.loads(row.bodies) if row.bodies else None,
        message_ids=tuple(row.message_ids.split()),
        available_at=row.available_at,
        lease_owner=row.lease_owner,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def _insert_ignoring_duplicates(conn: AsyncConnection, rows: list[dict[str, Any]]) -> Any:
    # The unique dedupe key is what makes a slot or an alert happen once, whichever process inserts it.
    if conn.dialect.name == "postgresql":
        return pg_insert(deliveries).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return sqlite_insert(deliveries).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])


def _same_channel(table: Table, key: ChannelKey) -> Any:
    return and_(
        table.c.platform == key.platform, table.c.workspace == key.workspace, table.c.channel == key.channel
    )


def _new_row(dedupe_key: str, kind: Kind, key: ChannelKey, now: datetime, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dedupe_key": dedupe_key,
        "kind": kind,
        "platform": key.platform,
        "workspace": key.workspace,
        "channel": key.channel,
        "status": "pending",
        "attempts": 0,
        "parts_sent": 0,
        "topics": "",
        "message_ids": "",
        "available_at": now,
        "created_at": now,
        "updated_at": now,
        "slot_at": None,
        "summary_id": None,
    }
    row.update(extra)
    return row


async def _insert_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    inserted = 0
    for start in range(0, len(rows), 500):  # keeps each statement under SQLite's bound-parameter limit
        result = await conn.execute(_insert_ignoring_duplicates(conn, rows[start : start + 500]))
        inserted += max(0, result.rowcount or 0)
    return inserted


class AlertEnqueuer:
    """Insert one alert row per (following channel, story) inside the archive's put_many transaction.

    Without `on_revision` a story alerts each channel once: a revision's row has the same dedupe key
    and is ignored. With it, each stored revision alerts again.
    """

    def __init__(self, *, on_revision: bool = False) -> None:
        self.on_revision = on_revision

    async def __call__(
        self,
        conn: AsyncConnection,
        items: Sequence[TaggedSummary],
        outcomes: Sequence[PutOutcome],
        ingested_at: datetime,
    ) -> None:
        """Queue the alerts the stored items owe."""
        from bot.delivery.schedules import alert_key

        stored = [
            (item, outcome) for item, outcome in zip(items, outcomes, strict=True) if outcome != "unchanged"
        ]
        wanted = sorted({t for item, _ in stored for t in item.topics})
        if not wanted:
            return
        followers: dict[str, dict[ChannelKey, list[str]]] = {}
        stmt = select(
            subscriptions.c.platform,
            subscriptions.c.workspace,
            subscriptions.c.channel,
            subscriptions.c.topic_id,
        ).where(subscriptions.c.paused_reason.is_(None))
        by_topic: dict[str, list[ChannelKey]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for row in await conn.execute(stmt.where(subscriptions.c.topic_id.in_(chunk))):
                if row.platform in NO_SENDER_PLATFORMS:
                    continue
                by_topic.setdefault(row.topic_id, []).append(
                    ChannelKey(row.platform, row.workspace, row.channel)
                )
        rows: list[dict[str, Any]] = []
        for item, outcome in stored:
            channels = followers.setdefault(item.summary.id, {})
            for topic in item.topics:
                for key in by_topic.get(topic, ()):
                    channels.setdefault(key, []).append(topic)
            revision = ingested_at.isoformat() if self.on_revision and outcome == "updated" else None
            for key, topics in channels.items():
                rows.append(
                    _new_row(
                        alert_key(key, item.summary.id, revision),
                        "alert",
                        key,
                        ingested_at,
                        summary_id=item.summary.id,
                        topics=" ".join(topics),
                    )
                )
        if rows:
            await _insert_rows(conn, rows)


class SqlOutbox:
    """The outbox table and the schedule tick, on SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._url = engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """Return "sqlite" or "postgresql"."""
        return self._engine.dialect.name

    # -- deciding what is owed -------------------------------------------------------------------------

    async def tick(
        self, now: datetime, plan: Planner, *, platforms: Iterable[str], limit: int = 500
    ) -> tuple[int, int]:
        """Advance every due schedule of `platforms` and insert its digest row, in one transaction.

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
        async with translated_errors(self._url), self._writer.begin() as conn:
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
                        .where(_same_channel(schedules, k))
                        .values(next_fire_at=None, paused_reason=decision.pause_reason)
                    )
                    continue
                moves.append(
                    {"b_platform": k.platform, "b_workspace": k.workspace, "b_channel": k.channel,
                     "b_next": decision.next_fire_at}
                )  # fmt: skip
                if decision.dedupe_key is not None:
                    rows.append(_new_row(decision.dedupe_key, "digest", k, now, slot_at=decision.slot_at))
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
                inserted = await _insert_rows(conn, rows)
        return advanced, inserted

    # -- leasing and recording -------------------------------------------------------------------------

    async def lease(
        self, now: datetime, owner: str, *, platforms: Iterable[str], limit: int, lease_for: timedelta
    ) -> list[Delivery]:
        """Take up to `limit` due rows (pending, or abandoned by a process whose lease ran out)."""
        wanted = sorted(set(platforms))
        if not wanted or limit <= 0:
            return []
        d = deliveries.c
        pick = (
            select(d.id)
            .where(
                d.platform.in_(wanted),
                or_(
                    and_(d.status == "pending", d.available_at <= now),
                    and_(d.status == "sending", d.lease_until <= now),
                ),
            )
            .order_by(d.available_at, d.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with translated_errors(self._url), self._writer.begin() as conn:
            ids = [row.id for row in await conn.execute(pick)]
            if not ids:
                return []
            rows = await conn.execute(
                update(deliveries)
                .where(d.id.in_(ids))
                .values(status="sending", lease_owner=owner, lease_until=now + lease_for, updated_at=now)
                .returning(*deliveries.c)
            )
            leased = [_delivery(row) for row in rows]
        return sorted(leased, key=lambda x: (x.available_at, x.id))

    def _mine(self, delivery_id: int, owner: str) -> Any:
        d = deliveries.c
        return and_(d.id == delivery_id, d.lease_owner == owner, d.status == "sending")

    async def freeze(self, delivery_id: int, owner: str, bodies: list[dict[str, Any]], now: datetime) -> bool:
        """Store the rendered bodies of a leased row, so every retry posts exactly these parts."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(self._mine(delivery_id, owner))
                .values(bodies=json.dumps(bodies, ensure_ascii=False), updated_at=now)
            )
            return bool(result.rowcount)

    async def watermark(self, key: ChannelKey) -> datetime | None:
        """Return up to when the channel's stories have been in a digest."""
        stmt = select(digest_watermarks.c.digested_until).where(_same_channel(digest_watermarks, key))
        async with translated_errors(self._url), self._engine.connect() as conn:
            value: datetime | None = (await conn.execute(stmt)).scalar_one_or_none()
            return value

    async def freeze_digest(
        self,
        delivery: Delivery,
        owner: str,
        bodies: list[dict[str, Any]] | None,
        covered_until: datetime,
        now: datetime,
        *,
        skip_reason: str | None = None,
    ) -> bool:
        """Freeze a digest's bodies (or mark it skipped) and move the channel's watermark, in one transaction."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            values: dict[str, Any] = {"updated_at": now}
            if bodies is None:
                values.update(status="skipped", last_error=skip_reason, lease_owner=None, lease_until=None)
            else:
                values["bodies"] = json.dumps(bodies, ensure_ascii=False)
            result = await conn.execute(
                update(deliveries).where(self._mine(delivery.id, owner)).values(**values)
            )
            if not result.rowcount:
                return False
            w = digest_watermarks.c
            current = (
                await conn.execute(
                    select(w.digested_until)
                    .where(_same_channel(digest_watermarks, delivery.key))
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if current is None:
                await conn.execute(
                    digest_watermarks.insert().values(
                        platform=delivery.key.platform,
                        workspace=delivery.key.workspace,
                        channel=delivery.key.channel,
                        digested_until=covered_until,
                    )
                )
            elif covered_until > current:
                await conn.execute(
                    update(digest_watermarks)
                    .where(_same_channel(digest_watermarks, delivery.key))
                    .values(digested_until=covered_until)
                )
            return True

    async def record_part(
        self,
        delivery: Delivery,
        owner: str,
        parts_sent: int,
        message_ids: Sequence[str],
        now: datetime,
        *,
        done: bool,
        lease_for: timedelta,
    ) -> bool:
        """Record that the first `parts_sent` parts are posted (and the row sent when `done`); False if the lease was lost."""
        values: dict[str, Any] = {
            "parts_sent": parts_sent,
            "message_ids": " ".join(message_ids),
            "updated_at": now,
            "lease_until": now + lease_for,
        }
        if done:
            values.update(status="sent", sent_at=now, lease_owner=None, lease_until=None, last_error=None)
        async with translated_errors(self._url), self._writer.begin() as conn:
            result = await conn.execute(
                update(deliveries).where(self._mine(delivery.id, owner)).values(**values)
            )
            return bool(result.rowcount)

    async def retry_later(
        self, delivery: Delivery, owner: str, at: datetime, reason: str, now: datetime, *, counts: bool
    ) -> bool:
        """Put a leased row back to wait until `at`; a rate limit does not count as an attempt."""
        values = _handed_back("pending", reason, now, counts=counts, available_at=at)
        async with translated_errors(self._url), self._writer.begin() as conn:
            result = await conn.execute(
                update(deliveries).where(self._mine(delivery.id, owner)).values(**values)
            )
            return bool(result.rowcount)

    async def mark_dead(
        self, delivery: Delivery, owner: str, reason: str, now: datetime, *, counts: bool = True
    ) -> bool:
        """Give a row up for good and pause what produced it (the schedule, or the channel's subscriptions)."""
        values = _handed_back("dead", reason, now, counts=counts)
        async with translated_errors(self._url), self._writer.begin() as conn:
            result = await conn.execute(
                update(deliveries).where(self._mine(delivery.id, owner)).values(**values)
            )
            if not result.rowcount:
                return False
            paused = f"{reason} (delivery {delivery.id})"
            table = schedules if delivery.kind == "digest" else subscriptions
            await conn.execute(
                update(table)
                .where(_same_channel(table, delivery.key), table.c.paused_reason.is_(None))
                .values(paused_reason=paused)
            )
            return True

    # -- operating -------------------------------------------------------------------------------------

    async def get(self, delivery_id: int) -> Delivery | None:
        """Return one row."""
        async with translated_errors(self._url), self._engine.connect() as conn:
            row = (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).first()
        return _delivery(row) if row is not None else None

    async def find(
        self,
        *,
        status: Status | None = None,
        channel: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Return rows, newest first, optionally of one status or one channel id."""
        stmt = select(deliveries).order_by(deliveries.c.id.desc()).limit(max(1, limit))
        if status is not None:
            stmt = stmt.where(deliveries.c.status == status)
        if channel is not None:
            stmt = stmt.where(deliveries.c.channel == channel)
        async with translated_errors(self._url), self._engine.connect() as conn:
            return [_delivery(row) for row in await conn.execute(stmt)]

    async def counts(self) -> dict[str, int]:
        """Return how many rows are in each status."""
        stmt = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        async with translated_errors(self._url), self._engine.connect() as conn:
            return {str(status): int(n) for status, n in (await conn.execute(stmt)).all()}

    async def requeue(self, delivery_id: int, now: datetime) -> Delivery | None:
        """Put a dead row back in the queue (attempts reset) and lift the pause its failure caused."""
        d = deliveries.c
        async with translated_errors(self._url), self._writer.begin() as conn:
            row = (
                await conn.execute(select(deliveries).where(d.id == delivery_id).with_for_update())
            ).first()
            if row is None or row.status != "dead":
                return None
            await conn.execute(
                update(deliveries)
                .where(d.id == delivery_id)
                .values(status="pending", attempts=0, available_at=now, updated_at=now, lease_owner=None)
            )
            found = _delivery(row)
            table = schedules if found.kind == "digest" else subscriptions
            await conn.execute(
                update(table)
                .where(
                    _same_channel(table, found.key),
                    table.c.paused_reason == f"{found.last_error} (delivery {found.id})",
                )
                .values(paused_reason=None)
            )
        return await self.get(delivery_id)

    # -- what deliveries say -----------------------------------------------------------------------------

    async def stories_for_digest(
        self, *, after: datetime | None, until: datetime, topics: Sequence[str], limit: int
    ) -> list[StoredStory]:
        """Return up to `limit` stories first ingested in (after, until], newest published first."""
        s = summaries.c
        stmt = _story_select().where(s.ingested_at <= until).order_by(s.published.desc(), s.story_key.desc())
        if after is not None:
            stmt = stmt.where(s.ingested_at > after)
        if topics:
            carriers = select(story_topics.c.story_key).where(story_topics.c.topic_id.in_(list(topics)))
            stmt = stmt.where(s.story_key.in_(carriers))
        async with translated_errors(self._url), self._engine.connect() as conn:
            return [_story(row) for row in await conn.execute(stmt.limit(max(1, limit)))]

    async def story(self, summary_id: str) -> StoredStory | None:
        """Return one stored story."""
        async with translated_errors(self._url), self._engine.connect() as conn:
            row = (await conn.execute(_story_select().where(summaries.c.id == summary_id))).first()
        return _story(row) if row is not None else None

    async def channel_topics(self, key: ChannelKey) -> list[str]:
        """Return the topics a channel follows, paused ones included (a digest is not an alert)."""
        stmt = (
            select(subscriptions.c.topic_id)
            .where(_same_channel(subscriptions, key))
            .order_by(subscriptions.c.topic_id)
        )
        async with translated_errors(self._url), self._engine.connect() as conn:
            return [str(t) for t in (await conn.execute(stmt)).scalars()]


def _handed_back(status: Status, reason: str, now: datetime, *, counts: bool, **extra: Any) -> dict[str, Any]:
    """Return the column values that release a leased row in `status`, counting the attempt if asked."""
    values: dict[str, Any] = {
        "status": status,
        "last_error": reason,
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now,
        **extra,
    }
    if counts:
        values["attempts"] = deliveries.c.attempts + 1
    return values


def _story_select() -> Any:
    s = summaries.c
    return select(s.doc, s.published, s.ingested_at, s.topics, s.unknown_tags)


def _story(row: Row[Any]) -> StoredStory:
    return StoredStory(
        summary=Summary.model_validate_json(row.doc),
        published=row.published,
        ingested_at=row.ingested_at,
        topics=tuple(row.topics.split()),
        unknown_tags=tuple(row.unknown_tags.split()),
    )
