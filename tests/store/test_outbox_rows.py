"""The outbox's rows on each database, read back after every call: what the worker, the status page and
`newsbot deliveries` rely on when they lease, record, give up and retry.

The delivery tests (tests/delivery/test_outbox.py) drive these calls through a worker and see the posts;
these see the columns behind them: when a row may be leased again, by whom, what it records and what a
failure pauses. A wrong column here is a double post, a lost one, or a pause nobody can lift.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.ports import ChannelKey, PutOutcome, TaggedSummary
from bot.store.channels import SqlChannelStore
from bot.store.engine import StoreError, create_engine
from bot.store.outbox import AlertEnqueuer, Delivery, SqlOutbox, insert_rows, new_row
from bot.store.tables import deliveries, digest_watermarks, subscriptions
from tests.store.conftest import story

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
CHAN = ChannelKey("discord", "g1", "c1")
OTHER = ChannelKey("discord", "g1", "c2")
SLACK = ChannelKey("slack", "T1", "C1")
ME, YOU = "worker-a", "worker-b"


@pytest.fixture
def outbox(engine: AsyncEngine) -> SqlOutbox:
    return SqlOutbox(engine)


async def queue(engine: AsyncEngine, *rows: dict[str, Any]) -> list[int]:
    """Insert rows as the tick and the ingest do; return their ids in the order given."""
    async with engine.begin() as conn:
        for one in rows:  # one statement each: a multi-row INSERT takes its columns from the first row only
            await insert_rows(conn, [one])
        found = await conn.execute(select(deliveries.c.dedupe_key, deliveries.c.id))
        ids = {key: int(row_id) for key, row_id in found}
    return [ids[r["dedupe_key"]] for r in rows]


def alert(n: int, key: ChannelKey = CHAN, *, at: datetime = NOW, **extra: Any) -> dict[str, Any]:
    return new_row(
        f"alert:{key.channel}:s{n}", "alert", key, at, summary_id=f"s{n}", topics="drones", **extra
    )


def digest(n: int, key: ChannelKey = CHAN, *, at: datetime = NOW) -> dict[str, Any]:
    return new_row(f"digest:{key.channel}:{n}", "digest", key, at, slot_at=at)


async def lease(
    outbox: SqlOutbox,
    now: datetime,
    owner: str = ME,
    *,
    limit: int = 10,
    platforms: Sequence[str] = ("discord",),
) -> list[Delivery]:
    return await outbox.lease(now, owner, platforms=platforms, limit=limit, lease_for=LEASE)


async def leased_alert(engine: AsyncEngine, outbox: SqlOutbox, **extra: Any) -> Delivery:
    """Queue one alert to CHAN and lease it as `ME`."""
    await queue(engine, alert(1, **extra))
    [leased] = await lease(outbox, NOW)
    return leased


async def row(outbox: SqlOutbox, delivery_id: int) -> Delivery:
    found = await outbox.get(delivery_id)
    assert found is not None
    return found


class AlsoWrites:
    """What a freeze also writes in its transaction (the thread steps): counts its runs, sets the row's step."""

    def __init__(self, delivery_id: int | None = None) -> None:
        self.delivery_id = delivery_id
        self.runs = 0

    async def __call__(self, conn: AsyncConnection) -> None:
        self.runs += 1
        if self.delivery_id is not None:
            await conn.execute(
                update(deliveries).where(deliveries.c.id == self.delivery_id).values(step="forum")
            )


# -- leasing --------------------------------------------------------------------------------------------


async def test_a_row_is_leased_the_moment_it_is_due_and_not_before(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    [now_id, later_id] = await queue(engine, alert(1), alert(2, at=NOW + timedelta(microseconds=1)))
    assert [d.id for d in await lease(outbox, NOW)] == [now_id]
    assert [d.id for d in await lease(outbox, NOW + timedelta(microseconds=1))] == [later_id]


async def test_rows_are_leased_oldest_first_ties_by_id_and_no_more_than_asked(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    early = NOW - timedelta(minutes=5)
    ids = await queue(engine, alert(1), alert(2, at=early), alert(3), alert(4, at=early))
    async with engine.begin() as conn:  # PostgreSQL writes the new version of this row after the others'
        await conn.execute(update(deliveries).where(deliveries.c.id == ids[0]).values(last_error="touched"))
    first = await lease(outbox, NOW, limit=3)
    assert [d.id for d in first] == [ids[1], ids[3], ids[0]]
    assert [d.id for d in await lease(outbox, NOW, limit=3)] == [ids[2]]


async def test_a_worker_leases_only_its_own_platforms_rows(engine: AsyncEngine, outbox: SqlOutbox) -> None:
    [_, slack_id] = await queue(engine, alert(1), alert(2, SLACK))
    assert [d.id for d in await lease(outbox, NOW, platforms=["slack", "slack"])] == [slack_id]
    assert await lease(outbox, NOW, platforms=[]) == []
    assert await lease(outbox, NOW, limit=0) == []
    assert await lease(outbox, NOW, limit=-1) == []  # SQLite reads LIMIT -1 as "no limit"
    [left] = await lease(outbox, NOW, limit=1)  # the refused asks above left the Discord row due
    assert left.key == CHAN


async def test_a_leased_row_is_taken_over_exactly_when_its_lease_runs_out(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    mine = await leased_alert(engine, outbox)
    delivery_id = mine.id
    assert (mine.status, mine.lease_owner) == ("sending", ME)
    assert await lease(outbox, NOW + LEASE - timedelta(microseconds=1), YOU) == []
    [yours] = await lease(outbox, NOW + LEASE, YOU)
    assert (yours.id, yours.lease_owner, yours.attempts) == (delivery_id, YOU, 0)
    # The worker that lost it can no longer write to it.
    assert not await outbox.record_part(mine, ME, 1, ["m1"], NOW + LEASE, done=True, lease_for=LEASE)
    assert (await row(outbox, delivery_id)).status == "sending"


async def test_a_leased_row_reads_back_every_column_it_was_queued_with(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    earlier = NOW - timedelta(hours=1)
    queued = new_row(
        "alert:c1:s9@rev",
        "alert",
        CHAN,
        earlier,
        slot_at=earlier - timedelta(days=1),
        summary_id="s9",
        topics="drones ai",
        attempts=2,
        parts_sent=1,
        message_ids="m1 m2",
        bodies='[{"content": "Grüße"}]',
        last_error="503 upstream",
        sent_at=None,
        step="reply",
        thread_of="digest:c1:1",
        intent_at=earlier + timedelta(minutes=1),
    )
    [delivery_id] = await queue(engine, queued)
    [leased] = await lease(outbox, NOW)
    assert leased == Delivery(
        id=delivery_id,
        dedupe_key="alert:c1:s9@rev",
        kind="alert",
        key=CHAN,
        slot_at=earlier - timedelta(days=1),
        summary_id="s9",
        topics=("drones", "ai"),
        status="sending",
        attempts=2,
        parts_sent=1,
        bodies=[{"content": "Grüße"}],
        message_ids=("m1", "m2"),
        available_at=earlier,
        lease_owner=ME,
        last_error="503 upstream",
        created_at=earlier,
        sent_at=None,
        step="reply",
        thread_of="digest:c1:1",
        intent_at=earlier + timedelta(minutes=1),
    )
    assert leased.part_key(2) == f"{delivery_id}:2"
    assert (await row(outbox, delivery_id)).bodies == [{"content": "Grüße"}]


async def test_a_row_not_yet_rendered_has_no_bodies(engine: AsyncEngine, outbox: SqlOutbox) -> None:
    leased = await leased_alert(engine, outbox)
    assert (leased.bodies, leased.message_ids, leased.topics) == (None, (), ("drones",))


async def test_a_thread_step_is_leased_only_after_the_row_it_waits_for_is_sent(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    parent = alert(1)
    step = new_row("alert:c1:s1#thread", "alert", CHAN, NOW, waits_for=parent["dedupe_key"], step="thread")
    done = alert(2, OTHER)  # another channel's row, sent first: that must not release this step
    [parent_id, step_id, done_id] = await queue(engine, parent, step, done)
    leased = {d.id: d for d in await lease(outbox, NOW)}
    assert sorted(leased) == sorted([parent_id, done_id])
    assert await outbox.record_part(leased[done_id], ME, 1, ["m0"], NOW, done=True, lease_for=LEASE)
    assert await lease(outbox, NOW) == []  # the parent is being posted: its step still waits
    assert await outbox.record_part(leased[parent_id], ME, 1, ["m1"], NOW, done=True, lease_for=LEASE)
    [thread] = await lease(outbox, NOW)
    assert (thread.id, thread.step) == (step_id, "thread")


async def test_a_step_behind_a_dead_parent_is_never_leased(engine: AsyncEngine, outbox: SqlOutbox) -> None:
    parent = alert(1)
    step = new_row("alert:c1:s1#reply:0", "alert", CHAN, NOW, waits_for=parent["dedupe_key"], step="reply")
    await queue(engine, parent, step)
    [leased] = await lease(outbox, NOW)
    assert await outbox.mark_dead(leased, ME, "403 Missing Access", NOW)
    assert await lease(outbox, NOW + 10 * LEASE) == []


# -- freezing -------------------------------------------------------------------------------------------


async def test_frozen_bodies_are_kept_word_for_word_and_what_else_the_freeze_writes_happens_with_them(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    leased = await leased_alert(engine, outbox)
    delivery_id = leased.id
    also = AlsoWrites(delivery_id)
    bodies = [{"content": "Überschrift — 東京 ✓"}, {"embeds": [{"title": "two"}]}]
    assert not await outbox.freeze(delivery_id, YOU, bodies, NOW, then=also)  # not its lease
    assert also.runs == 0
    assert await outbox.freeze(delivery_id, ME, bodies, NOW, then=also)
    assert also.runs == 1
    frozen = await row(outbox, delivery_id)
    assert (frozen.bodies, frozen.step, frozen.status) == (bodies, "forum", "sending")
    assert await outbox.freeze(delivery_id, ME, bodies, NOW)  # no `then`: the bodies alone
    await outbox.retry_later(leased, ME, NOW, "503", NOW, counts=True)
    assert not await outbox.freeze(delivery_id, ME, [{"content": "other"}], NOW)  # handed back: not frozen
    assert (await row(outbox, delivery_id)).bodies == bodies


async def test_a_digest_moves_its_channels_watermark_forward_and_never_back(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    await queue(engine, digest(1), digest(2), digest(3), digest(4, OTHER))
    first, second, third, other = await lease(outbox, NOW)
    bodies = [{"content": "digest"}]
    assert await outbox.watermark(CHAN) is None
    assert await outbox.freeze_digest(first, ME, bodies, NOW - timedelta(hours=2), NOW)
    assert await outbox.watermark(CHAN) == NOW - timedelta(hours=2)
    assert await outbox.freeze_digest(second, ME, bodies, NOW - timedelta(hours=3), NOW)
    assert await outbox.watermark(CHAN) == NOW - timedelta(hours=2)  # an older digest does not move it back
    assert await outbox.freeze_digest(third, ME, bodies, NOW - timedelta(hours=1), NOW)
    assert await outbox.watermark(CHAN) == NOW - timedelta(hours=1)
    assert await outbox.watermark(OTHER) is None  # another channel's watermark is its own
    assert not await outbox.freeze_digest(other, YOU, bodies, NOW, NOW)  # not its lease: nothing moves
    assert await outbox.watermark(OTHER) is None
    async with engine.connect() as conn:
        assert len((await conn.execute(select(digest_watermarks))).all()) == 1
    assert (await row(outbox, first.id)).bodies == bodies
    assert first.topics == ()  # a digest names no topics (`newsbot deliveries --json` lists them)


async def test_an_empty_digest_is_skipped_with_its_reason_and_still_moves_the_watermark(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    [delivery_id] = await queue(engine, digest(1))
    [leased] = await lease(outbox, NOW)
    also = AlsoWrites()
    assert await outbox.freeze_digest(leased, ME, None, NOW, NOW, skip_reason="nothing new", then=also)
    skipped = await row(outbox, delivery_id)
    assert (skipped.status, skipped.last_error, skipped.lease_owner, skipped.bodies) == (
        "skipped",
        "nothing new",
        None,
        None,
    )
    assert also.runs == 0  # a skipped digest posts nothing, so it has no thread to queue
    assert await outbox.watermark(CHAN) == NOW
    assert await lease(outbox, NOW + 10 * LEASE) == []  # and it is never leased again


async def test_a_frozen_digest_runs_what_else_its_freeze_writes(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    await queue(engine, digest(1))
    [leased] = await lease(outbox, NOW)
    also = AlsoWrites()
    assert not await outbox.freeze_digest(leased, YOU, [{"content": "x"}], NOW, NOW, then=also)
    assert also.runs == 0
    assert await outbox.freeze_digest(leased, ME, [{"content": "x"}], NOW, NOW, then=also)
    assert also.runs == 1


# -- recording ------------------------------------------------------------------------------------------


async def test_each_recorded_part_extends_the_lease_and_the_last_marks_the_row_sent(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    leased = await leased_alert(engine, outbox, last_error="503 upstream")
    delivery_id = leased.id
    later = NOW + timedelta(seconds=50)
    assert await outbox.record_part(leased, ME, 1, ["m1"], later, done=False, lease_for=LEASE)
    halfway = await row(outbox, delivery_id)
    assert (halfway.status, halfway.parts_sent, halfway.message_ids, halfway.sent_at) == (
        "sending",
        1,
        ("m1",),
        None,
    )
    assert halfway.last_error == "503 upstream"
    # The lease now runs until `later + LEASE`, not NOW + LEASE: no one else takes the row in between.
    assert await lease(outbox, NOW + LEASE, YOU) == []
    assert await lease(outbox, later + LEASE - timedelta(microseconds=1), YOU) == []
    assert await outbox.record_part(leased, ME, 2, ["m1", "m2"], later, done=True, lease_for=LEASE)
    sent = await row(outbox, delivery_id)
    assert (sent.status, sent.parts_sent, sent.message_ids, sent.sent_at) == ("sent", 2, ("m1", "m2"), later)
    assert (sent.lease_owner, sent.last_error) == (None, None)
    assert await lease(outbox, later + 10 * LEASE, YOU) == []


async def test_posts_accepted_while_the_database_was_down_are_recorded_forward_only(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    leased = await leased_alert(engine, outbox, last_error="503 upstream")
    delivery_id = leased.id
    later = NOW + timedelta(minutes=5)
    await outbox.record_accepted(delivery_id, 2, ["m1", "m2"], later, done=False)
    partly = await row(outbox, delivery_id)
    # Only the parts move: the row stays with whoever holds it, and is not sent yet.
    assert (partly.parts_sent, partly.message_ids, partly.status, partly.lease_owner, partly.sent_at) == (
        2,
        ("m1", "m2"),
        "sending",
        ME,
        None,
    )
    await outbox.record_accepted(delivery_id, 2, ["x1", "x2"], later, done=True)  # not forward: ignored
    await outbox.record_accepted(delivery_id, 1, ["x1"], later, done=True)
    assert await row(outbox, delivery_id) == partly
    await outbox.record_accepted(delivery_id, 3, ["m1", "m2", "m3"], later, done=True)
    sent = await row(outbox, delivery_id)
    assert (sent.status, sent.parts_sent, sent.sent_at, sent.lease_owner, sent.last_error) == (
        "sent",
        3,
        later,
        None,
        None,
    )
    assert await lease(outbox, later + 10 * LEASE) == []
    await outbox.record_accepted(delivery_id, 4, ["y"] * 4, later, done=True)  # a sent row is final
    assert await row(outbox, delivery_id) == sent


async def test_a_retry_later_waits_until_its_time_and_only_counts_when_asked(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    leased = await leased_alert(engine, outbox)
    delivery_id = leased.id
    at = NOW + timedelta(seconds=30)
    assert not await outbox.retry_later(leased, YOU, at, "429", NOW, counts=False)  # not its lease
    assert await outbox.retry_later(leased, ME, at, "429 rate limited", NOW, counts=False)
    waiting = await row(outbox, delivery_id)
    assert (
        waiting.status,
        waiting.attempts,
        waiting.last_error,
        waiting.lease_owner,
        waiting.available_at,
    ) == (
        "pending",
        0,
        "429 rate limited",
        None,
        at,
    )
    assert await lease(outbox, at - timedelta(microseconds=1)) == []
    [again] = await lease(outbox, at)
    assert await outbox.retry_later(again, ME, at, "503 upstream", at, counts=True)
    assert (await row(outbox, delivery_id)).attempts == 1


# -- giving up and retrying -----------------------------------------------------------------------------


async def test_a_dead_alert_pauses_its_channels_alerts_with_the_first_reason_only(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    channels = SqlChannelStore(engine)
    for key in (CHAN, OTHER):
        await channels.subscribe(key, "drones", user="u", now=NOW)
    await channels.subscribe(CHAN, "ai", user="u", now=NOW)
    await channels.set_schedule(CHAN, cron="0 8 * * *", timezone="UTC", user="u", now=NOW, next_fire_at=NOW)
    [first_id, second_id] = await queue(engine, alert(1), alert(2))
    first, second = await lease(outbox, NOW)
    assert not await outbox.mark_dead(first, YOU, "403 Missing Access", NOW)  # not its lease
    assert [s.paused_reason for s in await channels.subscriptions(CHAN)] == [None, None]
    assert await outbox.mark_dead(first, ME, "403 Missing Access", NOW)
    assert await outbox.mark_dead(second, ME, "404 Unknown Channel", NOW)
    dead = await row(outbox, first_id)
    assert (dead.status, dead.attempts, dead.last_error, dead.lease_owner) == (
        "dead",
        1,
        "403 Missing Access",
        None,
    )
    reason = f"403 Missing Access (delivery {first_id})"
    assert [s.paused_reason for s in await channels.subscriptions(CHAN)] == [reason, reason]
    assert [s.paused_reason for s in await channels.subscriptions(OTHER)] == [None]
    schedule = await channels.get_schedule(CHAN)
    assert schedule is not None
    assert schedule.paused_reason is None  # an alert's failure pauses alerts, not the digest
    assert (await row(outbox, second_id)).status == "dead"


async def test_a_dead_digest_pauses_its_channels_schedule_and_a_paused_row_waits_uncounted(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    channels = SqlChannelStore(engine)
    await channels.subscribe(CHAN, "drones", user="u", now=NOW)
    for key in (CHAN, OTHER):
        await channels.set_schedule(
            key, cron="0 8 * * *", timezone="UTC", user="u", now=NOW, next_fire_at=NOW
        )
    [digest_id, alert_id] = await queue(engine, digest(1), alert(1))
    leased = {d.id: d for d in await lease(outbox, NOW)}
    assert await outbox.mark_dead(leased[digest_id], ME, "403 Missing Access", NOW)
    schedule = await channels.get_schedule(CHAN)
    assert schedule is not None
    assert schedule.paused_reason == f"403 Missing Access (delivery {digest_id})"
    other = await channels.get_schedule(OTHER)
    assert other is not None
    assert other.paused_reason is None
    assert [s.paused_reason for s in await channels.subscriptions(CHAN)] == [None]
    assert await outbox.mark_dead(
        leased[alert_id], ME, "workspace uninstalled", NOW, counts=False, status="paused"
    )
    paused = await row(outbox, alert_id)
    assert (paused.status, paused.attempts) == ("paused", 0)


async def test_a_requeued_row_goes_out_at_once_and_lifts_only_the_pause_its_own_failure_caused(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    channels = SqlChannelStore(engine)
    await channels.subscribe(CHAN, "drones", user="u", now=NOW)
    await channels.set_schedule(CHAN, cron="0 8 * * *", timezone="UTC", user="u", now=NOW, next_fire_at=NOW)
    [first_id, second_id, digest_id] = await queue(engine, alert(1), alert(2), digest(1))
    leased = {d.id: d for d in await lease(outbox, NOW)}
    for delivery_id in (first_id, second_id):
        await outbox.mark_dead(leased[delivery_id], ME, "403 Missing Access", NOW)
    await outbox.mark_dead(leased[digest_id], ME, "403 Missing Access", NOW)
    later = NOW + timedelta(hours=1)

    again = await outbox.requeue(second_id, later)  # its failure paused nothing: the first's did
    assert again is not None
    assert (again.status, again.attempts, again.available_at, again.lease_owner) == (
        "pending",
        0,
        later,
        None,
    )
    [sub] = await channels.subscriptions(CHAN)
    assert sub.paused_reason == f"403 Missing Access (delivery {first_id})"

    assert await outbox.requeue(first_id, later) is not None
    [sub] = await channels.subscriptions(CHAN)
    assert sub.paused_reason is None
    schedule = await channels.get_schedule(CHAN)
    assert schedule is not None
    assert schedule.paused_reason is not None  # the digest's own pause waits for its own retry
    assert await outbox.requeue(digest_id, later) is not None
    schedule = await channels.get_schedule(CHAN)
    assert schedule is not None
    assert schedule.paused_reason is None

    assert sorted(d.id for d in await lease(outbox, later)) == sorted([first_id, second_id, digest_id])


async def test_only_a_dead_or_paused_row_can_be_requeued(engine: AsyncEngine, outbox: SqlOutbox) -> None:
    [paused_id, sending_id] = await queue(engine, alert(1), alert(2))
    leased = {d.id: d for d in await lease(outbox, NOW)}
    await outbox.mark_dead(leased[paused_id], ME, "workspace uninstalled", NOW, counts=False, status="paused")
    assert await outbox.requeue(sending_id, NOW) is None
    assert (await row(outbox, sending_id)).status == "sending"
    assert await outbox.requeue(10_000, NOW) is None
    requeued = await outbox.requeue(paused_id, NOW)
    assert requeued is not None
    assert requeued.status == "pending"
    assert await outbox.requeue(paused_id, NOW) is None  # pending now: not again


# -- what the status page and `newsbot deliveries` read -------------------------------------------------


async def test_rows_are_listed_newest_first_by_status_and_channel(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    ids = await queue(engine, alert(1), alert(2, OTHER), alert(3), alert(4, SLACK))
    leased = {d.id: d for d in await lease(outbox, NOW, platforms=["discord"])}
    await outbox.mark_dead(leased[ids[0]], ME, "403", NOW)
    assert [d.id for d in await outbox.find()] == ids[::-1]
    assert [d.id for d in await outbox.find(status="dead")] == [ids[0]]
    assert [d.id for d in await outbox.find(status="pending")] == [ids[3]]
    assert [d.id for d in await outbox.find(channel="c1")] == [ids[2], ids[0]]
    assert [d.id for d in await outbox.find(status="sending", channel="c1")] == [ids[2]]
    assert [d.id for d in await outbox.find(limit=2)] == [ids[3], ids[2]]
    assert [d.id for d in await outbox.find(limit=0)] == [ids[3]]  # at least one row, as the CLI shows
    assert await outbox.counts() == {"dead": 1, "sending": 2, "pending": 1}
    assert await outbox.get(10_000) is None


async def test_a_listing_shows_a_hundred_rows_unless_asked_for_more(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    await queue(engine, *(alert(n) for n in range(101)))
    assert len(await outbox.find()) == 100
    assert len(await outbox.find(limit=101)) == 101
    assert await outbox.counts() == {"pending": 101}


async def test_rows_are_queued_in_batches_and_a_second_insert_of_the_same_keys_adds_none(
    engine: AsyncEngine,
) -> None:
    rows = [alert(n) for n in range(1001)]
    async with engine.begin() as conn:
        assert await insert_rows(conn, rows) == 1001
    async with engine.begin() as conn:
        assert await insert_rows(conn, rows) == 0
        assert await insert_rows(conn, [*rows[:3], alert(2000)]) == 1
        assert await insert_rows(conn, []) == 0


# -- alerts queued by an ingest -------------------------------------------------------------------------


async def enqueue(
    engine: AsyncEngine,
    items: Sequence[TaggedSummary],
    outcomes: Sequence[PutOutcome],
    *,
    on_revision: bool = False,
) -> None:
    async with engine.begin() as conn:  # the archive's put_many transaction
        await AlertEnqueuer(on_revision=on_revision)(conn, items, outcomes, NOW)


async def test_a_stored_story_alerts_each_following_channel_once_naming_the_topics_it_follows(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    channels = SqlChannelStore(engine)
    console, paused = ChannelKey("console", "", "stdout"), ChannelKey("discord", "g1", "paused")
    # The console follows first: the channels after it must still be alerted, whatever order rows come in.
    for key, topic in [
        (console, "drones"),
        (CHAN, "drones"),
        (CHAN, "ai"),
        (OTHER, "ai"),
        (paused, "drones"),
    ]:
        await channels.subscribe(key, topic, user="u", now=NOW)
    async with engine.begin() as conn:
        await conn.execute(
            update(subscriptions)
            .where(subscriptions.c.channel == "paused")
            .values(paused_reason="403 (delivery 1)")
        )
    both = story(1, story_topics=["drones", "ai"])
    await enqueue(engine, [both, story(2, story_topics=["drones"])], ["created", "unchanged"])
    queued = {(d.key, d.summary_id): d for d in await outbox.find()}
    sid = both.summary.id
    assert set(queued) == {(CHAN, sid), (OTHER, sid)}  # not the console, the paused channel, or story 2
    mine, other = queued[(CHAN, sid)], queued[(OTHER, sid)]
    assert (mine.dedupe_key, mine.kind, mine.topics, mine.status) == (
        f"alert:discord:g1:c1:{sid}",
        "alert",
        ("drones", "ai"),
        "pending",
    )
    assert (mine.available_at, mine.created_at, mine.slot_at, mine.attempts) == (NOW, NOW, None, 0)
    assert other.topics == ("ai",)


async def test_a_revised_story_alerts_again_only_when_asked_and_a_new_one_alerts_once(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    channels = SqlChannelStore(engine)
    await channels.subscribe(CHAN, "drones", user="u", now=NOW)
    first, second = story(1, story_topics=["drones"]), story(2, story_topics=["drones"])
    await enqueue(engine, [first, second], ["created", "created"], on_revision=True)
    await enqueue(engine, [first, second], ["updated", "updated"])  # revisions, not asked to alert
    await enqueue(engine, [first], ["updated"], on_revision=True)
    async with engine.begin() as conn:
        await AlertEnqueuer()(
            conn, [first], ["updated"], NOW + timedelta(hours=1)
        )  # by default: once a story
    keys = sorted(d.dedupe_key for d in await outbox.find())
    base = f"alert:discord:g1:c1:{first.summary.id}"
    assert keys == sorted([base, f"{base}@{NOW.isoformat()}", f"alert:discord:g1:c1:{second.summary.id}"])


async def test_an_ingest_of_many_topics_alerts_the_followers_of_every_one_of_them(
    engine: AsyncEngine, outbox: SqlOutbox
) -> None:
    channels = SqlChannelStore(engine)
    topics = [f"t{n:04d}" for n in range(1001)]  # sorted as numbered; more than one look-up's worth
    for topic in (topics[0], topics[500], topics[1000]):
        await channels.subscribe(CHAN, topic, user="u", now=NOW)
    items = [story(n, story_topics=[topic]) for n, topic in enumerate(topics)]
    await enqueue(engine, items, ["created"] * len(items))
    queued = sorted((d.summary_id, d.topics) for d in await outbox.find())
    assert queued == sorted((items[n].summary.id, (topics[n],)) for n in (0, 500, 1000))


async def test_every_outbox_call_on_a_database_without_newsbot_tables_names_that_database(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    outbox = SqlOutbox(engine)
    held = Delivery(
        1,
        "alert:c1:s1",
        "alert",
        CHAN,
        None,
        "s1",
        ("drones",),
        "sending",
        0,
        0,
        None,
        (),
        NOW,
        ME,
        None,
        NOW,
        None,
    )
    calls = {
        "lease": lambda: lease(outbox, NOW),
        "freeze": lambda: outbox.freeze(1, ME, [], NOW),
        "watermark": lambda: outbox.watermark(CHAN),
        "freeze_digest": lambda: outbox.freeze_digest(held, ME, [], NOW, NOW),
        "record_part": lambda: outbox.record_part(held, ME, 1, ["m1"], NOW, done=True, lease_for=LEASE),
        "record_accepted": lambda: outbox.record_accepted(1, 1, ["m1"], NOW, done=True),
        "retry_later": lambda: outbox.retry_later(held, ME, NOW, "503", NOW, counts=True),
        "mark_dead": lambda: outbox.mark_dead(held, ME, "403", NOW),
        "get": lambda: outbox.get(1),
        "find": lambda: outbox.find(),
        "counts": lambda: outbox.counts(),
        "requeue": lambda: outbox.requeue(1, NOW),
    }
    try:
        for call in calls.values():
            with pytest.raises(
                StoreError, match=r"blank\.db has no newsbot tables yet; run `newsbot db upgrade`"
            ):
                await call()
    finally:
        await engine.dispose()
