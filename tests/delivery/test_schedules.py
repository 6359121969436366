"""Slot computation: wall-clock keys, DST changes and catch-up after downtime, without waiting for real days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.ports import ChannelKey
from bot.delivery.cron import ApsCronRules, slot_label
from bot.delivery.schedules import digest_key, plan_due

RULES = ApsCronRules()
BERLIN = "Europe/Berlin"
KEY = ChannelKey("discord", "g1", "c1")
GRACE = timedelta(hours=6)


def _run_ticks(cron: str, tz: str, start: datetime, end: datetime, every: timedelta) -> list[str]:
    """Tick like the bot would from `start` to `end`; return the dedupe keys inserted (a set, like the table)."""
    next_fire = RULES.next_fire(cron, tz, start)
    keys: list[str] = []
    now = start
    while now <= end:
        if next_fire <= now:
            plan = plan_due(RULES, cron, tz, next_fire, now, grace=GRACE)
            if plan.slot is not None:
                key = digest_key(KEY, plan.slot, tz)
                if key not in keys:
                    keys.append(key)
            next_fire = plan.next_fire_at
        now += every
    return keys


def test_berlin_0230_daily_posts_once_per_local_day_across_both_2026_dst_changes() -> None:
    for first, last in (
        (datetime(2026, 3, 26, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
        (datetime(2026, 10, 22, tzinfo=UTC), datetime(2026, 10, 29, tzinfo=UTC)),
    ):
        keys = _run_ticks("30 2 * * *", BERLIN, first, last, timedelta(minutes=5))
        expected = []
        for d in range((last - first).days):
            day = (first + timedelta(days=d)).date()
            # 02:30 does not exist on 29 March: the slot fires at 03:30, right after the jump.
            expected.append(
                f"digest:discord:g1:c1:{day.isoformat()}T{'03' if day.isoformat() == '2026-03-29' else '02'}:30"
            )
        assert keys == expected


def test_spring_gap_slot_fires_when_the_clock_jumps_over_it() -> None:
    slot = RULES.next_fire("30 2 * * *", BERLIN, datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert slot == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST, just after the jump


def test_autumn_repeated_slot_fires_once_at_its_first_pass() -> None:
    first = RULES.next_fire("30 2 * * *", BERLIN, datetime(2026, 10, 24, 12, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert RULES.next_fire("30 2 * * *", BERLIN, first) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    # Both passes of 02:30 read the same on the wall clock, so even a repeated slot shares one dedupe key.
    assert slot_label(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), BERLIN) == slot_label(
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC), BERLIN
    )


def test_during_the_repeated_autumn_hour_the_next_slot_skips_the_one_already_fired() -> None:
    # 01:10 UTC is 02:10 on Berlin's second pass; 02:30 fired on the first pass (00:30 UTC), so 03:30 is next.
    after = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    assert RULES.next_fire("30 * * * *", BERLIN, after) == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)


def test_hourly_schedule_has_one_slot_for_the_repeated_autumn_hour() -> None:
    keys = _run_ticks(
        "0 * * * *",
        BERLIN,
        datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 4, tzinfo=UTC),
        timedelta(minutes=1),
    )
    assert keys == [f"digest:discord:g1:c1:2026-10-25T{hour}:00" for hour in ("01", "02", "03", "04", "05")]


def test_downtime_longer_than_the_grace_yields_one_catch_up_digest() -> None:
    due = datetime(2026, 5, 1, 0, tzinfo=UTC)
    now = due + timedelta(hours=10, minutes=20)  # ten hourly slots missed, grace is six hours
    plan = plan_due(RULES, "0 * * * *", "UTC", due, now, grace=GRACE)
    assert plan.slot == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert plan.next_fire_at == datetime(2026, 5, 1, 11, tzinfo=UTC)
    assert plan.dropped


def test_a_slot_older_than_the_grace_is_skipped_not_posted_late() -> None:
    due = datetime(2026, 5, 1, 8, tzinfo=UTC)
    plan = plan_due(RULES, "0 8 * * *", "UTC", due, due + timedelta(hours=7), grace=GRACE)
    assert plan.slot is None
    assert plan.next_fire_at == datetime(2026, 5, 2, 8, tzinfo=UTC)


def test_a_missed_slot_exactly_the_grace_old_is_still_delivered() -> None:
    due = datetime(2026, 4, 30, 20, tzinfo=UTC)  # missed; the next slot, 02:00, is exactly six hours old
    plan = plan_due(RULES, "0 2,20 * * *", "UTC", due, datetime(2026, 5, 1, 8, tzinfo=UTC), grace=GRACE)
    assert plan.slot == datetime(2026, 5, 1, 2, tzinfo=UTC)
    assert plan.next_fire_at == datetime(2026, 5, 1, 20, tzinfo=UTC)
    assert plan.dropped


def test_on_time_slot_is_delivered_and_the_next_one_planned() -> None:
    due = datetime(2026, 5, 1, 2, 30, tzinfo=UTC)  # 08:00 in Kolkata
    plan = plan_due(RULES, "0 8 * * *", "Asia/Kolkata", due, due + timedelta(seconds=3), grace=GRACE)
    assert plan.slot == due
    assert not plan.dropped
    assert plan.next_fire_at == due + timedelta(days=1)
    assert digest_key(KEY, due, "Asia/Kolkata") == "digest:discord:g1:c1:2026-05-01T08:00"


def test_bad_expressions_and_zones_are_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        RULES.next_fire("0 8 * * *", "Mars/Olympus", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="25"):
        RULES.next_fire("0 25 * * *", "UTC", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match=r"^the expression never fires$"):  # 30 February
        RULES.next_fire("0 8 30 2 *", "UTC", datetime(2026, 1, 1, tzinfo=UTC))


# Hypothesis takes naive bounds and makes the values aware through `timezones=`.
LOW = datetime(2025, 1, 1)  # noqa: DTZ001
HIGH = datetime(2027, 1, 1)  # noqa: DTZ001
ZONES = ["UTC", BERLIN, "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "America/Santiago"]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    cron=st.sampled_from(["30 2 * * *", "0 * * * *", "*/20 * * * *", "15 1 * * sun", "0 0 1 * *"]),
    start=st.datetimes(min_value=LOW, max_value=HIGH, timezones=st.just(UTC)),
)
def test_slots_strictly_increase_and_keys_never_repeat(zone: str, cron: str, start: datetime) -> None:
    slot = start
    labels: list[str] = []
    for _ in range(30):
        nxt = RULES.next_fire(cron, zone, slot)
        assert nxt > slot
        slot = nxt
        labels.append(slot_label(slot, zone))
    assert len(labels) == len(set(labels))


def _offset_changes(zone: str, year: int) -> list[datetime]:
    """Return the UTC hours in `year` during which `zone`'s offset from UTC changes (its DST changes)."""
    tz = ZoneInfo(zone)
    hour = datetime(year, 1, 1, tzinfo=UTC)
    changes = []
    while hour.year == year:
        if hour.astimezone(tz).utcoffset() != (hour + timedelta(hours=1)).astimezone(tz).utcoffset():
            changes.append(hour)
        hour += timedelta(hours=1)
    return changes


DST_ZONES = [BERLIN, "America/New_York", "America/Santiago", "Australia/Lord_Howe", "Australia/Sydney"]
DST_CHANGES_2026 = {zone: _offset_changes(zone, 2026) for zone in DST_ZONES}


def test_every_zone_in_the_property_test_changes_its_clock_twice_in_2026() -> None:
    assert all(len(changes) == 2 for changes in DST_CHANGES_2026.values()), DST_CHANGES_2026


@st.composite
def _runs_across_a_dst_change(draw: st.DrawFn) -> tuple[str, str, datetime, datetime]:
    """Draw a zone, a cron and a start one to two days before one of the zone's 2026 clock changes."""
    zone = draw(st.sampled_from(DST_ZONES))
    change = draw(st.sampled_from(DST_CHANGES_2026[zone]))  # spring and autumn both drawn, in every zone
    # More than a day before, so even a daily cron has a slot on each side of the change.
    before = draw(st.integers(min_value=25 * 60, max_value=48 * 60)) * timedelta(minutes=1)
    cron = draw(st.sampled_from(["30 2 * * *", "0 * * * *", "*/20 * * * *", "15 1 * * *", "0 3 * * *"]))
    return zone, cron, change - before, change


@settings(max_examples=80, deadline=None)
@given(run=_runs_across_a_dst_change())
def test_across_every_2026_dst_change_each_key_is_the_slots_local_wall_clock_minute(
    run: tuple[str, str, datetime, datetime],
) -> None:
    zone, cron, start, change = run
    slots, slot = [], start
    while slot < change + timedelta(days=2):
        nxt = RULES.next_fire(cron, zone, slot)
        assert nxt > slot
        slots.append(slot := nxt)
    assert slots[0] <= change, "no slot before the clock change"
    assert slots[-1] > change + timedelta(hours=1), "no slot after the clock change"
    keys = [digest_key(KEY, s, zone) for s in slots]
    local = [s.astimezone(ZoneInfo(zone)) for s in slots]
    assert keys == [f"digest:discord:g1:c1:{t:%Y-%m-%dT%H:%M}" for t in local]
    # A key repeats only for the two passes of a repeated (autumn) hour, which must stay one post.
    for (a, ka), (b, kb) in zip(
        zip(slots, keys, strict=True), zip(slots[1:], keys[1:], strict=True), strict=False
    ):
        if ka == kb:
            assert b - a <= timedelta(hours=1)
            assert a.astimezone(ZoneInfo(zone)).fold != b.astimezone(ZoneInfo(zone)).fold
