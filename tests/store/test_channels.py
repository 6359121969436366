"""Channel preferences on SQLite and PostgreSQL: subscriptions, pauses and digest schedules."""

from __future__ import annotations

from datetime import timedelta

from bot.core.ports import ChannelKey
from bot.store.channels import SqlChannelStore
from tests.store.conftest import T0

GENERAL = ChannelKey("discord", "g1", "c1")
OTHER = ChannelKey("slack", "T1", "C9")
DM = ChannelKey("console", "", "me")


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
    await channels.subscribe(DM, "drones", user=None, now=T0)
    assert await channels.unsubscribe(OTHER, "drones") is False
    assert [s.key for s in await channels.subscribers(["drones"])] == [DM, GENERAL]


async def test_a_paused_subscription_gets_no_alerts_until_subscribed_again(channels: SqlChannelStore) -> None:
    await channels.subscribe(GENERAL, "drones", user="u1", now=T0)
    await channels.subscribe(OTHER, "drones", user="u1", now=T0)
    await channels.subscribe(OTHER, "ai", user="u1", now=T0)
    assert await channels.pause_subscription(GENERAL, "drones", "missing access") is True
    assert await channels.pause_subscription(GENERAL, "chips", "missing access") is False

    assert [(s.key, s.topic_id) for s in await channels.subscribers(["drones", "ai"])] == [
        (OTHER, "ai"),
        (OTHER, "drones"),
    ]
    [paused] = await channels.subscriptions(GENERAL)
    assert paused.paused_reason == "missing access"

    assert await channels.subscribe(GENERAL, "drones", user="u2", now=T0) is False  # resumed, not new
    [resumed] = await channels.subscriptions(GENERAL)
    assert resumed.paused_reason is None
    assert resumed.created_by == "u1"
    assert len(await channels.subscribers(["drones"])) == 2
    assert await channels.subscribers([]) == []


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


async def test_setting_a_schedule_again_clears_its_pause(channels: SqlChannelStore) -> None:
    assert await channels.pause_schedule(GENERAL, "gone") is False
    await channels.set_schedule(GENERAL, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0)
    assert await channels.pause_schedule(GENERAL, "bot was removed") is True
    paused = await channels.get_schedule(GENERAL)
    assert paused is not None
    assert paused.paused_reason == "bot was removed"
    assert await channels.due_schedules(T0 + timedelta(days=1)) == []

    await channels.set_schedule(GENERAL, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0)
    resumed = await channels.get_schedule(GENERAL)
    assert resumed is not None
    assert resumed.paused_reason is None


async def test_due_schedules_and_next_fire(channels: SqlChannelStore) -> None:
    await channels.set_schedule(GENERAL, cron="0 8 * * *", timezone="UTC", user=None, now=T0, next_fire_at=T0)
    later = T0 + timedelta(hours=3)
    await channels.set_schedule(
        OTHER, cron="0 11 * * *", timezone="UTC", user=None, now=T0, next_fire_at=later
    )
    await channels.set_schedule(DM, cron="0 9 * * *", timezone="UTC", user=None, now=T0, next_fire_at=None)
    assert [s.key for s in await channels.due_schedules(T0 - timedelta(seconds=1))] == []
    assert [s.key for s in await channels.due_schedules(T0)] == [GENERAL]
    assert [s.key for s in await channels.due_schedules(later)] == [GENERAL, OTHER]
    assert [s.key for s in await channels.due_schedules(later, limit=1)] == [GENERAL]

    assert await channels.set_next_fire(GENERAL, T0 + timedelta(days=1)) is True
    assert [s.key for s in await channels.due_schedules(later)] == [OTHER]
    assert await channels.set_next_fire(ChannelKey("discord", "g9", "nope"), T0) is False
