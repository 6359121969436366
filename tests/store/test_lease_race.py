"""Two workers racing for the same outbox rows on PostgreSQL: no row is leased twice, and nobody queues.

A double lease is a double post, and Slack has no nonce to hide it, so this test forces the race instead of
hoping for it: worker A stops right after its lease SELECT returned (inside its transaction), and worker B
leases while A is stopped there. Each worker runs in its own thread with its own event loop and engine, so
A's pause blocks only A. Without the row lock B reads A's rows as still pending and both lease them;
without SKIP LOCKED B waits on A's locks, which the test sees as B not finishing while A holds them.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database
from bot.store.outbox import SqlOutbox

NOW = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
ROWS = 40
BATCH = 20  # each worker asks for half the rows, so a correct pair of workers leases all of them once
B_MAY_TAKE = 10.0  # seconds A waits for B's lease; B needs milliseconds unless it is queued behind A

pytestmark = pytest.mark.postgres


# Plain SQL keeps this test independent of where the outbox's table definition lives.
INSERT = text(
    "INSERT INTO deliveries (dedupe_key, kind, platform, workspace, channel, status, attempts, parts_sent,"
    " topics, message_ids, available_at, created_at, updated_at) VALUES (:dedupe_key, :kind, :platform,"
    " :workspace, :channel, :status, :attempts, :parts_sent, :topics, :message_ids, :available_at,"
    " :created_at, :updated_at)"
)


def _row(n: int) -> dict[str, Any]:
    return {
        "dedupe_key": f"alert:discord:g:c{n}:story-{n}",
        "kind": "alert",
        "platform": "discord",
        "workspace": "g",
        "channel": f"c{n}",
        "status": "pending",
        "attempts": 0,
        "parts_sent": 0,
        "topics": "",
        "message_ids": "",
        "available_at": NOW - timedelta(minutes=1),
        "created_at": NOW - timedelta(minutes=1),
        "updated_at": NOW - timedelta(minutes=1),
    }


def _is_lease_pick(statement: str) -> bool:
    text = " ".join(statement.split()).upper()
    return text.startswith("SELECT DELIVERIES.ID") and "FROM DELIVERIES" in text


class _Worker(threading.Thread):
    """Lease once from its own engine and event loop; optionally pause just after the lease SELECT."""

    def __init__(self, url: str, owner: str, *, after_pick: Any) -> None:
        super().__init__(name=f"lease-{owner}", daemon=True)
        self.url, self.owner, self.after_pick = url, owner, after_pick
        self.leased: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._lease())
        except BaseException as error:  # reported to the test thread, which fails with it
            self.error = error

    async def _lease(self) -> None:
        engine = create_engine(self.url)

        def picked(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if _is_lease_pick(statement):
                self.after_pick()

        event.listen(engine.sync_engine, "after_cursor_execute", picked)
        try:
            rows = await SqlOutbox(engine).lease(
                NOW, self.owner, platforms=["discord"], limit=BATCH, lease_for=timedelta(minutes=5)
            )
            self.leased = [r.id for r in rows]
        finally:
            await engine.dispose()


async def test_two_workers_racing_for_the_same_rows_never_lease_one_twice(postgres_url: str) -> None:
    await upgrade_database(postgres_url)
    engine = create_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(INSERT, [_row(n) for n in range(ROWS)])
    finally:
        await engine.dispose()

    a_picked, b_done = threading.Event(), threading.Event()
    b_finished_while_a_held_its_rows: list[bool] = []

    def a_pauses() -> None:
        a_picked.set()
        b_finished_while_a_held_its_rows.append(b_done.wait(B_MAY_TAKE))

    a = _Worker(postgres_url, "worker-a", after_pick=a_pauses)
    b = _Worker(postgres_url, "worker-b", after_pick=lambda: None)
    a.start()
    assert await asyncio.to_thread(a_picked.wait, 30), "worker A never ran its lease query"
    b.start()
    await asyncio.to_thread(b.join, B_MAY_TAKE + 30)
    b_done.set()
    await asyncio.to_thread(a.join, 30)
    for worker in (a, b):
        assert not worker.is_alive(), f"{worker.name} did not finish"
        if worker.error is not None:
            raise worker.error

    assert len(a.leased) == BATCH
    assert set(a.leased).isdisjoint(b.leased), f"leased twice: {sorted(set(a.leased) & set(b.leased))}"
    assert b_finished_while_a_held_its_rows == [True], "B queued behind A's locks instead of skipping them"
    assert len(b.leased) == BATCH
    assert sorted(a.leased + b.leased) == sorted(set(a.leased + b.leased))
