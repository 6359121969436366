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
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Table, and_, func, select, text, union, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.engine import WRITE, translated_errors
from bot.store.tables import deliveries, schedules, slack_bots, subscriptions

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


@dataclass(frozen=True, slots=True)
class SlackWorkspace:
    """A Slack workspace as `newsbot slack workspaces` lists it: installed or not, and why it is paused."""

    workspace: str
    name: str | None
    installed_at: datetime | None  # None: not installed (uninstalled, or never)
    token_expires_at: datetime | None  # None: a token that does not expire
    paused_reason: str | None
    paused_deliveries: int


async def list_slack_workspaces(engine: AsyncEngine, client_id: str) -> list[SlackWorkspace]:
    """Return every workspace newsbot is installed in or still holds paused work for, by id."""
    b = slack_bots.c
    installed: dict[str, tuple[str | None, datetime | None, datetime | None]] = {}
    paused: dict[str, tuple[str | None, int]] = {}
    async with translated_errors(), engine.connect() as conn:
        rows = await conn.execute(
            select(b.team_id, b.team_name, b.installed_at, b.bot_token_expires_at)
            .where(b.client_id == client_id, b.bot_token.is_not(None))
            .order_by(b.installed_at)
        )
        for row in rows:  # oldest first: the latest installation of a workspace wins
            installed[row.team_id or ""] = (
                row.team_name,
                _utc(row.installed_at),
                _utc(row.bot_token_expires_at),
            )
        reasons = union(
            *(
                select(t.c.workspace, t.c.paused_reason).where(
                    t.c.platform == "slack", _workspace_paused(t.c.paused_reason)
                )
                for t in (subscriptions, schedules)
            )
        ).subquery()
        by_workspace = select(reasons.c.workspace, func.max(reasons.c.paused_reason)).group_by(
            reasons.c.workspace
        )
        for workspace, reason in await conn.execute(by_workspace):
            paused[workspace] = (reason, 0)
        d = deliveries.c
        counted = (
            select(d.workspace, func.count())
            .where(d.platform == "slack", d.status == "paused")
            .group_by(d.workspace)
        )
        for workspace, n in await conn.execute(counted):
            reason = paused.get(workspace, (None, 0))[0]
            paused[workspace] = (reason, int(n))
    found = []
    for workspace in sorted(set(installed) | set(paused)):
        name, installed_at, expires = installed.get(workspace, (None, None, None))
        reason, count = paused.get(workspace, (None, 0))
        found.append(SlackWorkspace(workspace, name, installed_at, expires, reason, count))
    return found


def _utc(value: datetime | None) -> datetime | None:
    # slack_sdk's tables keep naive UTC timestamps (see bot/store/tables.py).
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
