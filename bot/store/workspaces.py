"""Pausing and resuming everything newsbot posts to one workspace, and a per-key lock across replicas.

A workspace that uninstalls newsbot (or whose token Slack refuses) cannot be posted to until someone
installs newsbot there again. Rather than let each queued delivery fail on its own and pause its channel
with a different reason, the whole workspace is paused in one transaction: its channels' alerts and
schedules stop queueing new rows, and the rows already queued wait as "paused" with the reason. A new
installation lifts exactly those pauses (matched by their prefix); a pause an admin or a failed
channel caused stays.

`KeyedLock` serialises work on one key (refreshing one workspace's rotating token) across every
process sharing a PostgreSQL database, with a transaction-scoped advisory lock that the server drops
if the holder dies; on SQLite, where only one newsbot process runs, an asyncio lock per key suffices.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, func, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.engine import WRITE, translated_errors
from bot.store.tables import deliveries, schedules, subscriptions

# Every workspace-wide pause reason starts with this, so resuming lifts those and no other pause.
WORKSPACE_PAUSE = "workspace paused: "
WAITING = ("pending", "sending")  # rows that would still be posted


@dataclass(frozen=True, slots=True)
class PauseCount:
    """How many rows a pause or a resume changed."""

    subscriptions: int
    schedules: int
    deliveries: int


class SqlWorkspacePauses:
    """Pause or resume every subscription, schedule and queued delivery of one platform workspace."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._writer = engine.execution_options(**WRITE)
        self._url = engine.url.render_as_string(hide_password=True)

    async def pause(self, platform: str, workspace: str, why: str, now: datetime) -> PauseCount:
        """Pause the workspace with `why` (prefixed with WORKSPACE_PAUSE); earlier pauses keep their reasons.

        A row leased by a sender at this moment is paused too: its sender's result is then discarded
        (the outbox only records what a lease still holds), since the workspace's token is gone.
        """
        reason = WORKSPACE_PAUSE + why
        async with translated_errors(self._url), self._writer.begin() as conn:
            counts = []
            for table in (subscriptions, schedules):
                result = await conn.execute(
                    update(table)
                    .where(_in_workspace(table, platform, workspace), table.c.paused_reason.is_(None))
                    .values(paused_reason=reason)
                )
                counts.append(max(0, result.rowcount or 0))
            d = deliveries.c
            result = await conn.execute(
                update(deliveries)
                .where(_in_workspace(deliveries, platform, workspace), d.status.in_(WAITING))
                .values(
                    status="paused", last_error=reason, lease_owner=None, lease_until=None, updated_at=now
                )
            )
            return PauseCount(counts[0], counts[1], max(0, result.rowcount or 0))

    async def resume(self, platform: str, workspace: str, now: datetime) -> PauseCount:
        """Lift the workspace-wide pause: its alerts and schedules run again, paused rows are posted now."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            counts = []
            for table in (subscriptions, schedules):
                result = await conn.execute(
                    update(table)
                    .where(
                        _in_workspace(table, platform, workspace), _workspace_paused(table.c.paused_reason)
                    )
                    .values(paused_reason=None)
                )
                counts.append(max(0, result.rowcount or 0))
            d = deliveries.c
            result = await conn.execute(
                update(deliveries)
                .where(_in_workspace(deliveries, platform, workspace), d.status == "paused")
                .values(status="pending", available_at=now, updated_at=now)
            )
            return PauseCount(counts[0], counts[1], max(0, result.rowcount or 0))


def _in_workspace(table: Table, platform: str, workspace: str) -> ColumnElement[bool]:
    return and_(table.c.platform == platform, table.c.workspace == workspace)


def _workspace_paused(column: ColumnElement[str | None]) -> ColumnElement[bool]:
    # substr rather than LIKE: the prefix needs no escaping, and both engines spell it the same.
    return func.substr(column, 1, len(WORKSPACE_PAUSE)) == WORKSPACE_PAUSE


class KeyedLock:
    """One holder per key at a time: across processes on PostgreSQL, within this process on SQLite."""

    def __init__(self, engine: AsyncEngine, namespace: str) -> None:
        self._engine = engine
        self._namespace = namespace
        self._local: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Wait for the key, run the block, release it (also when the block raises or the process dies)."""
        # The in-process lock first: callers in this process queue here without holding a connection.
        local = self._local.setdefault(key, asyncio.Lock())
        async with local:
            if self._engine.dialect.name != "postgresql":
                yield
                return
            async with translated_errors(), self._engine.connect() as conn, conn.begin():
                # Released at COMMIT or ROLLBACK, or by the server when the connection drops.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": self._lock_id(key)})
                yield

    def _lock_id(self, key: str) -> int:
        digest = hashlib.sha256(f"{self._namespace}\0{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)  # advisory locks take a signed bigint
