"""Channel preferences on SQLite and PostgreSQL: subscriptions, digest schedules and the tick that advances them."""

from __future__ import annotations

from datetime import timedelta

from bot.core.ports import ChannelKey
from bot.store.channels import DueSchedule, SqlChannelStore, TickDecision
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
