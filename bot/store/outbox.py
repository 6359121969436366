"""The delivery outbox: one row per thing to post, unique by dedupe key, leased by whichever process is free.

Rows are inserted in the transaction that decides they are owed (a schedule's tick, a story's ingest),
so a slot or an alert exists exactly once; sending is at least once, made idempotent by the platform
key each part carries. PostgreSQL leases with `FOR UPDATE SKIP LOCKED`, so any number of processes
share the work; SQLite has a single writer (and newsbot refuses a second process on one file).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    and_,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.ports import ChannelKey, PutOutcome, TaggedSummary
from bot.store.engine import WRITE, translated_errors
from bot.store.tables import deliveries, digest_watermarks, is_channel, schedules, subscriptions

# "paused": waiting for a person (a missing permission) or for its Slack workspace to install newsbot
# again (bot/store/workspaces.py).
Status = Literal["pending", "sending", "sent", "dead", "skipped", "paused"]
Kind = Literal["digest", "alert"]
STATUSES: tuple[Status, ...] = ("pending", "sending", "sent", "dead", "skipped", "paused")
# Rows given up until a person acts: dead (refused for good) or paused (waiting for a permission).
RETRYABLE: frozenset[Status] = frozenset({"dead", "paused"})
NO_SENDER_PLATFORMS = frozenset({"console"})  # channels no process can post to: never queued
# More to write in the transaction that freezes a row's bodies (its thread steps, bot/store/thread_rows.py).
Also = Callable[[AsyncConnection], Awaitable[None]]


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
    step: str | None = None  # a thread step (bot/store/thread_rows.py), None for a plain channel post
    thread_of: str | None = None  # the dedupe key of the row whose first message anchors the thread
    intent_at: datetime | None = None  # when a post without an idempotency key was last tried

    def part_key(self, part: int) -> str:
        """Return the idempotency key of one part: stable across retries and processes."""
        return f"{self.id}:{part}"


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
        step=row.step,
        thread_of=row.thread_of,
        intent_at=row.intent_at,
    )


def _insert_ignoring_duplicates(conn: AsyncConnection, rows: list[dict[str, Any]]) -> Any:
    # The unique dedupe key is what makes a slot or an alert happen once, whichever process inserts it.
    if conn.dialect.name == "postgresql":
        return pg_insert(deliveries).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return sqlite_insert(deliveries).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])


def new_row(dedupe_key: str, kind: Kind, key: ChannelKey, now: datetime, **extra: Any) -> dict[str, Any]:
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


async def insert_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    inserted = 0
    for start in range(0, len(rows), 500):  # keeps each statement under SQLite's bound-parameter limit
        result = await conn.execute(_insert_ignoring_duplicates(conn, rows[start : start + 500]))
        inserted += max(0, result.rowcount or 0)
    return inserted


def alert_key(key: ChannelKey, summary_id: str, revision: str | None = None) -> str:
    """Return the outbox dedupe key of a topic alert: one per channel and story (and revision, when asked)."""
    base = f"alert:{key.platform}:{key.workspace}:{key.channel}:{summary_id}"
    return base if revision is None else f"{base}@{revision}"


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
                    new_row(
                        alert_key(key, item.summary.id, revision),
                        "alert",
                        key,
                        ingested_at,
                        summary_id=item.summary.id,
                        topics=" ".join(topics),
                    )
                )
        if rows:
            await insert_rows(conn, rows)


class SqlOutbox:
    """The outbox queue on SQLite or PostgreSQL: lease rows, record each part, give up, requeue.

    Rows get in from two transactions that live beside the data that owes them: the schedule tick
    (`SqlChannelStore.tick`) and the archive's ingest (`AlertEnqueuer`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._url = engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """Return "sqlite" or "postgresql"."""
        return self._engine.dialect.name

    # -- leasing and recording -------------------------------------------------------------------------

    async def lease(
        self, now: datetime, owner: str, *, platforms: Iterable[str], limit: int, lease_for: timedelta
    ) -> list[Delivery]:
        """Take up to `limit` due rows (pending, or abandoned by a process whose lease ran out)."""
        wanted = sorted(set(platforms))
        if not wanted or limit <= 0:
            return []
        d = deliveries.c
        before = deliveries.alias("before")
        pick = (
            select(d.id)
            .where(
                d.platform.in_(wanted),
                or_(
                    and_(d.status == "pending", d.available_at <= now),
                    and_(d.status == "sending", d.lease_until <= now),
                ),
                # A thread step waits until the row before it is posted (bot/store/thread_rows.py).
                or_(
                    d.waits_for.is_(None),
                    exists().where(before.c.dedupe_key == d.waits_for, before.c.status == "sent"),
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

    async def freeze(
        self,
        delivery_id: int,
        owner: str,
        bodies: list[dict[str, Any]],
        now: datetime,
        *,
        then: Also | None = None,
    ) -> bool:
        """Store the rendered bodies of a leased row, so every retry posts exactly these parts.

        `then` runs in the same transaction (it queues the row's thread steps), so both happen or neither.
        """
        async with translated_errors(self._url), self._writer.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(self._mine(delivery_id, owner))
                .values(bodies=json.dumps(bodies, ensure_ascii=False), updated_at=now)
            )
            if result.rowcount and then is not None:
                await then(conn)
            return bool(result.rowcount)

    async def watermark(self, key: ChannelKey) -> datetime | None:
        """Return up to when the channel's stories have been in a digest."""
        stmt = select(digest_watermarks.c.digested_until).where(is_channel(digest_watermarks, key))
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
        then: Also | None = None,
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
            if then is not None and bodies is not None:
                await then(conn)
            w = digest_watermarks.c
            current = (
                await conn.execute(
                    select(w.digested_until)
                    .where(is_channel(digest_watermarks, delivery.key))
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
                    .where(is_channel(digest_watermarks, delivery.key))
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

    async def record_accepted(
        self, delivery_id: int, parts_sent: int, message_ids: Sequence[str], now: datetime, *, done: bool
    ) -> None:
        """Record parts a platform accepted while the database could not be written, whoever holds the lease.

        Only ever moves `parts_sent` forward: the posts happened, and no process may send them again. A row
        already further along, or sent, is left as it is.
        """
        d = deliveries.c
        values: dict[str, Any] = {
            "parts_sent": parts_sent,
            "message_ids": " ".join(message_ids),
            "updated_at": now,
        }
        if done:
            values.update(status="sent", sent_at=now, lease_owner=None, lease_until=None, last_error=None)
        async with translated_errors(self._url), self._writer.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(d.id == delivery_id, d.parts_sent < parts_sent, d.status != "sent")
                .values(**values)
            )

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
        self,
        delivery: Delivery,
        owner: str,
        reason: str,
        now: datetime,
        *,
        counts: bool = True,
        status: Literal["dead", "paused"] = "dead",
        pause: bool = True,
    ) -> bool:
        """Give a row up (dead, or paused until someone acts) and, with `pause`, pause what produced it (the
        schedule, or the channel's alerts): only when the channel is at fault, not when the row's story is gone."""
        values = _handed_back(status, reason, now, counts=counts)
        async with translated_errors(self._url), self._writer.begin() as conn:
            result = await conn.execute(
                update(deliveries).where(self._mine(delivery.id, owner)).values(**values)
            )
            if not result.rowcount:
                return False
            if not pause:
                return True
            paused = f"{reason} (delivery {delivery.id})"
            table = schedules if delivery.kind == "digest" else subscriptions
            await conn.execute(
                update(table)
                .where(is_channel(table, delivery.key), table.c.paused_reason.is_(None))
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
            if row is None or row.status not in RETRYABLE:
                return None
            await conn.execute(
                update(deliveries)
                .where(d.id == delivery_id)
                # No lease to clear: a row is dead or paused only once its lease was let go.
                .values(status="pending", attempts=0, available_at=now, updated_at=now)
            )
            found = _delivery(row)
            table = schedules if found.kind == "digest" else subscriptions
            await conn.execute(
                update(table)
                .where(
                    is_channel(table, found.key),
                    table.c.paused_reason == f"{found.last_error} (delivery {found.id})",
                )
                .values(paused_reason=None)
            )
        return await self.get(delivery_id)


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
