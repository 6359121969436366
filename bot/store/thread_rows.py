"""A delivery's thread as outbox rows: the parent, then one row per step, each waiting for the one before.

Why rows of their own: the parent message, the Discord thread and every reply succeed, fail, wait out a
429 and are retried separately, and each is posted exactly once however often the others are retried.

When they are created, and why that is crash-safe: the steps are inserted in the same transaction that
freezes the parent's bodies (`SqlOutbox.freeze`/`freeze_digest` run `queue_steps`), so a crash leaves
either no frozen parent and no steps (the delivery is rendered again) or both. A step names the row it
`waits_for`; the lease query skips it until that row is `sent`, and `record_part` marks a row sent in the
same transaction that stores its message ids. So a reply is never taken before its parent's id (the
thread id, or Slack's `ts`) is recorded, replies go out in order, and after a crash at any point the
next lease resumes at the first step not recorded. Dedupe keys derive from the parent's
(`<parent>#thread`, `<parent>#reply:N`), so queuing the same steps twice inserts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.engine import WRITE, translated_errors
from bot.store.outbox import Also, Delivery, insert_rows, new_row
from bot.store.tables import deliveries

Step = Literal["thread", "forum", "reply"]


@dataclass(frozen=True, slots=True)
class StepRow:
    """One step to queue behind a parent: what it is and the one body it posts."""

    step: Step
    body: dict[str, Any]


def step_key(parent_key: str, step: StepRow, index: int) -> str:
    """Return a step's dedupe key, derived from its parent's."""
    return f"{parent_key}#thread" if step.step == "thread" else f"{parent_key}#reply:{index}"


def queue_steps(
    parent: Delivery, steps: Sequence[StepRow], now: datetime, *, parent_step: Step | None
) -> Also:
    """Return what the parent's freeze transaction also writes: its own step, and the rows behind it."""

    async def write(conn: AsyncConnection) -> None:
        if parent_step is not None:
            await conn.execute(
                update(deliveries).where(deliveries.c.id == parent.id).values(step=parent_step)
            )
        rows: list[dict[str, Any]] = []
        before = parent.dedupe_key
        replies = 0
        for step in steps:
            key = step_key(parent.dedupe_key, step, replies)
            replies += step.step == "reply"
            rows.append(
                new_row(
                    key,
                    parent.kind,
                    parent.key,
                    now,
                    slot_at=parent.slot_at,
                    summary_id=parent.summary_id,
                    topics=" ".join(parent.topics),
                    bodies=json.dumps([step.body], ensure_ascii=False),
                    step=step.step,
                    thread_of=parent.dedupe_key,
                    waits_for=before,
                )
            )
            before = key
        if rows:
            await insert_rows(conn, rows)

    return write


class SqlThreadRows:
    """Read a thread's anchor and record the intent to post where the platform has no idempotency key."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._url = engine.url.render_as_string(hide_password=True)

    async def anchor(self, parent_key: str) -> str | None:
        """Return the first message id the parent recorded (the thread's id, or Slack's ts), once it is sent."""
        d = deliveries.c
        stmt = select(d.message_ids).where(d.dedupe_key == parent_key, d.status == "sent")
        async with translated_errors(self._url), self._engine.connect() as conn:
            ids: str | None = (await conn.execute(stmt)).scalar_one_or_none()
        first = (ids or "").split()
        return first[0] if first and first[0] != "-" else None

    async def note_intent(self, delivery: Delivery, owner: str, now: datetime) -> bool:
        """Record, before the request goes out, that this row is about to post; False if the lease was lost."""
        d = deliveries.c
        async with translated_errors(self._url), self._writer.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(d.id == delivery.id, d.lease_owner == owner, d.status == "sending")
                .values(intent_at=now, updated_at=now)
            )
            return bool(result.rowcount)
