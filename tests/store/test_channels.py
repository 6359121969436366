"""Channel preferences on SQLite and PostgreSQL: subscriptions, digest schedules and the tick that advances them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.ports import ChannelKey
from bot.store.channels import DueSchedule, SqlChannelStore, TickDecision
from bot.store.engine import StoreError, create_engine
from bot.store.migrate import upgrade_database
from bot.store.tables import deliveries, schedules, subscriptions
from tests.store.conftest import T0

GENERAL = ChannelKey("discord", "g1", "c1")
OTHER = ChannelKey("slack", "T1", "C9")
DM = ChannelKey("console", "", "me")
DAY = timedelta(days=1)


async def test_subscribe_and_unsubscribe(channels: SqlChannelStore) -> None:
    assert await channels.subscribe(GENERAL, "drones", user="u1", now=T0) is True
    assert await channels.subscribe(GENERAL, "drones", user="u2", now=T0 + timedelta(hours=1)) is False
    assert await channels.subscribe(GENERAL, "ai", user="u2", now=T0) is True
    subs = await channels.subscriptions(GENERAL)
    assert [(s.topic_id, s.created_by) for s in subs] == [("ai", "u2"), ("drones", "u1")]
    assert subs[1].created_at == T0
    assert subs[1].created_at.utcoffset() == timedelta(0)
    assert await channels.subscriptions(OTHER) == []

    assert await channels.unsubscribe(GENERAL, "drones") is True
    assert await channels.unsubscribe(GENERAL, "drones") is False
    assert [s.topic_id for s in await channels.subscriptions(GENERAL)] == ["ai"]


async def test_channels_are_kept_apart(channels: SqlChannelStore) -> None:
    await channels.subscribe(GENERAL, "drones", user=None, now=T0)
    await channels.subscribe(DM, "ai", user=None, now=T0)
    assert await channels.unsubscribe(OTHER, "drones") is False
    assert await channels.channel_topics(GENERAL) == ["drones"]
    assert await channels.channel_topics(DM) == ["ai"]
    assert await channels.channel_topics(OTHER) == []


async def test_schedule_is_created_replaced_and_cleared(channels: SqlChannelStore) -> None:
    assert await channels.get_schedule(GENERAL) is None
    first_fire = T0 + timedelta(hours=20)
    await channels.set_schedule(
        GENERAL, cron="0 8 * * *", timezone="Europe/Berlin", user="u1", now=T0, next_fire_at=first_fire
    )
    schedule = await channels.get_schedule(GENERAL)
    assert schedule is not None
    assert (schedule.key, schedule.cron, schedule.timezone, schedule.created_by) == (
        GENERAL,
        "0 8 * * *",
        "Europe/Berlin",
        "u1",
    )
    assert schedule.next_fire_at == first_fire
    assert schedule.updated_at.utcoffset() == timedelta(0)

    await channels.set_schedule(
        GENERAL, cron="30 7 * * 1-5", timezone="UTC", user="u2", now=T0 + timedelta(days=1), next_fire_at=None
    )
    replaced = await channels.get_schedule(GENERAL)
    assert replaced is not None
    assert (replaced.cron, replaced.timezone, replaced.created_by, replaced.next_fire_at) == (
        "30 7 * * 1-5",
        "UTC",
        "u2",
        None,
    )
    assert replaced.updated_at == T0 + timedelta(days=1)
    assert await channels.get_schedule(OTHER) is None

    assert await channels.clear_schedule(GENERAL) is True
    assert await channels.clear_schedule(GENERAL) is False
    assert await channels.get_schedule(GENERAL) is None


def _every_day(schedule: DueSchedule) -> TickDecision:
    """A planner that owes the slot that came and moves the schedule a day on."""
    return TickDecision(f"digest:{schedule.key.channel}", schedule.next_fire_at, schedule.next_fire_at + DAY)


def _unreadable(_schedule: DueSchedule) -> TickDecision:
    return TickDecision(None, None, None, pause_reason="invalid schedule: bad expression")


async def test_the_tick_advances_only_due_schedules_of_the_platforms_asked(channels: SqlChannelStore) -> None:
    await channels.set_schedule(GENERAL, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0)
    later = T0 + timedelta(hours=3)
    await channels.set_schedule(
        OTHER, cron="0 11 * * *", timezone="UTC", user=None, now=T0, next_fire_at=later
    )
    await channels.set_schedule(DM, cron="0 9 * * *", timezone="UTC", user=None, now=T0, next_fire_at=None)
    assert await channels.tick(T0 - timedelta(seconds=1), _every_day, platforms=["discord", "slack"]) == (
        0,
        0,
    )
    assert await channels.tick(later, _every_day, platforms=["discord"]) == (1, 1)
    moved = await channels.get_schedule(GENERAL)
    assert moved is not None
    assert moved.next_fire_at == T0 + DAY
    untouched = await channels.get_schedule(OTHER)
    assert untouched is not None
    assert untouched.next_fire_at == later
    assert await channels.tick(later, _every_day, platforms=[]) == (0, 0)


async def test_a_schedule_the_tick_cannot_plan_is_paused_until_set_again(channels: SqlChannelStore) -> None:
    await channels.set_schedule(GENERAL, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0)
    assert await channels.tick(T0, _unreadable, platforms=["discord"]) == (1, 0)
    paused = await channels.get_schedule(GENERAL)
    assert paused is not None
    assert paused.paused_reason == "invalid schedule: bad expression"
    assert paused.next_fire_at is None
    assert await channels.tick(T0 + DAY, _every_day, platforms=["discord"]) == (0, 0)

    await channels.set_schedule(GENERAL, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0)
    resumed = await channels.get_schedule(GENERAL)
    assert resumed is not None
    assert resumed.paused_reason is None
    assert await channels.tick(T0 + DAY, _every_day, platforms=["discord"]) == (1, 1)


async def test_topics_are_listed_alphabetically_whatever_order_they_were_followed_in(
    channels: SqlChannelStore,
) -> None:
    for n, topic in enumerate(["zeppelins", "ai", "maritime", "drones"]):
        await channels.subscribe(GENERAL, topic, user="u1", now=T0 + timedelta(minutes=n))
    await channels.subscribe(OTHER, "batteries", user="u1", now=T0)

    subs = await channels.subscriptions(GENERAL)
    assert [s.topic_id for s in subs] == ["ai", "drones", "maritime", "zeppelins"]
    assert {s.key for s in subs} == {GENERAL}  # /subscriptions shows this channel's, not another's
    assert await channels.channel_topics(GENERAL) == ["ai", "drones", "maritime", "zeppelins"]


async def test_following_a_paused_topic_again_resumes_only_that_topic_in_that_channel(
    channels: SqlChannelStore, engine: AsyncEngine
) -> None:
    for key in (GENERAL, OTHER):
        for topic in ("ai", "drones"):
            await channels.subscribe(key, topic, user="u1", now=T0)
    async with engine.begin() as conn:  # as a channel Discord or Slack no longer lets the bot post in
        await conn.execute(update(subscriptions).values(paused_reason="not found"))

    assert await channels.subscribe(GENERAL, "drones", user="u2", now=T0 + DAY) is False

    paused = {
        (s.key, s.topic_id): s.paused_reason
        for key in (GENERAL, OTHER)
        for s in await channels.subscriptions(key)
    }
    assert paused == {
        (GENERAL, "ai"): "not found",
        (GENERAL, "drones"): None,
        (OTHER, "ai"): "not found",
        (OTHER, "drones"): "not found",
    }


async def test_a_database_without_newsbot_tables_is_named_in_the_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    try:
        store = SqlChannelStore(engine)
        with pytest.raises(
            StoreError, match=r"blank\.db has no newsbot tables yet; run `newsbot db upgrade`"
        ):
            await store.subscribe(GENERAL, "drones", user=None, now=T0)
        with pytest.raises(StoreError, match=r"blank\.db has no newsbot tables yet"):
            await store.subscriptions(GENERAL)
    finally:
        await engine.dispose()


async def test_a_tick_takes_the_most_overdue_schedules_first_and_leaves_the_rest_for_the_next(
    channels: SqlChannelStore,
) -> None:
    for key, overdue in (
        (GENERAL, timedelta(hours=1)),
        (OTHER, timedelta(hours=3)),
        (DM, timedelta(hours=2)),
    ):
        await channels.set_schedule(
            key, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0 - overdue
        )
    every = ["discord", "slack", "console"]

    assert await channels.tick(T0, _every_day, platforms=every, limit=2) == (2, 2)
    left = [k for k in (GENERAL, OTHER, DM) if (s := await channels.get_schedule(k)) and s.next_fire_at < T0]
    assert left == [GENERAL]
    assert await channels.tick(T0, _every_day, platforms=every, limit=2) == (1, 1)


@pytest.mark.postgres
async def test_a_tick_skips_a_schedule_another_process_holds_instead_of_waiting_for_it(
    postgres_url: str,
) -> None:
    await upgrade_database(postgres_url)
    engine = create_engine(postgres_url)
    try:
        channels = SqlChannelStore(engine)
        await channels.set_schedule(
            GENERAL, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0
        )
        await channels.set_schedule(
            OTHER, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0
        )
        async with engine.connect() as other_process, other_process.begin():
            await other_process.execute(
                select(schedules).where(schedules.c.channel == GENERAL.channel).with_for_update()
            )
            # Waiting here would stall every channel's digest until the other process commits.
            async with asyncio.timeout(10):
                assert await channels.tick(T0, _every_day, platforms=["discord", "slack"]) == (1, 1)
        held = await channels.get_schedule(GENERAL)
        assert held is not None
        assert held.next_fire_at == T0  # still owed: the next tick advances it
    finally:
        await engine.dispose()


def _pause_general(schedule: DueSchedule) -> TickDecision:
    return _unreadable(schedule) if schedule.key == GENERAL else _every_day(schedule)


async def test_a_schedule_the_tick_cannot_plan_does_not_hold_up_the_others(channels: SqlChannelStore) -> None:
    hour = timedelta(hours=1)
    await channels.set_schedule(GENERAL, cron="x", timezone="UTC", user=None, now=T0, next_fire_at=T0 - hour)
    await channels.set_schedule(OTHER, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0)

    assert await channels.tick(T0, _pause_general, platforms=["discord", "slack"]) == (2, 1)
    moved = await channels.get_schedule(OTHER)
    assert moved is not None
    assert moved.next_fire_at == T0 + DAY


async def test_the_digest_row_stands_for_its_slot_not_for_when_the_tick_ran(
    channels: SqlChannelStore, engine: AsyncEngine
) -> None:
    # After downtime the tick runs late; the digest still covers the stories up to its own slot.
    slot = T0 - timedelta(hours=2)
    await channels.set_schedule(
        GENERAL, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=slot
    )

    assert await channels.tick(T0, _every_day, platforms=["discord"]) == (1, 1)
    async with engine.connect() as conn:
        assert (await conn.execute(select(deliveries.c.slot_at))).scalars().all() == [slot]


async def test_a_tick_moves_only_its_own_schedule_beside_ones_sharing_its_channel_id_or_workspace(
    channels: SqlChannelStore,
) -> None:
    # A Slack Connect channel keeps its id in every workspace it is shared with.
    mine = OTHER
    others = [
        ChannelKey("slack", "T2", "C9"),
        ChannelKey("discord", "T1", "C9"),
        ChannelKey("slack", "T1", "C8"),
    ]
    later = T0 + timedelta(hours=5)
    await channels.set_schedule(mine, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0)
    for key in others:
        await channels.set_schedule(
            key, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=later
        )

    assert await channels.tick(T0, _every_day, platforms=["slack", "discord"]) == (1, 1)
    fires = [s.next_fire_at for k in (mine, *others) if (s := await channels.get_schedule(k))]
    assert fires == [T0 + DAY, later, later, later]
