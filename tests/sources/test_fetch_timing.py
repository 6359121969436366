"""When feeds are polled again: HTTP freshness, Retry-After, slots spread over the interval, backoff."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.fetch import (
    DEFAULT_FLOOR,
    DEFAULT_INTERVAL,
    FRESHNESS_CAP,
    failure_delay,
    fresh_for,
    next_fetch_at,
    parse_retry_after,
    should_pause,
    slot_offset,
)

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
HTTP_NOW = "Tue, 01 Dec 2026 15:00:00 GMT"
URL = "https://example.org/feed.xml"
REPO = Path(__file__).resolve().parents[2]

# -- freshness ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Cache-Control": "max-age=600"}, timedelta(minutes=10)),
        ({"cache-control": "public, max-age=600"}, timedelta(minutes=10)),
        ({"Cache-Control": "max-age=600", "Age": "100"}, timedelta(seconds=500)),
        ({"Cache-Control": "max-age=600", "Age": "900"}, None),
        ({"Cache-Control": "max-age=86400"}, FRESHNESS_CAP),
        ({"Cache-Control": "no-cache, max-age=600"}, None),
        ({"Cache-Control": "max-age=600, no-store"}, None),
        ({"Cache-Control": "max-age=0"}, None),
        ({"Cache-Control": "max-age=soon"}, None),
        ({"Expires": "Tue, 01 Dec 2026 15:20:00 GMT"}, timedelta(minutes=20)),
        (
            {"Expires": "Tue, 01 Dec 2026 15:20:00 GMT", "Date": "Tue, 01 Dec 2026 15:15:00 GMT"},
            timedelta(minutes=5),
        ),
        ({"Expires": "Tue, 01 Dec 2026 19:00:00 GMT"}, FRESHNESS_CAP),
        ({"Expires": "Tue, 01 Dec 2026 14:00:00 GMT"}, None),
        ({"Expires": "0"}, None),
        ({"Expires": "Tue, 01 Dec 2026 15:20:00 GMT", "Cache-Control": "max-age=60"}, timedelta(minutes=1)),
    ],
)
def test_freshness_follows_cache_control_then_expires_and_never_exceeds_an_hour(
    headers: dict[str, str], expected: timedelta | None
) -> None:
    assert fresh_for(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        ("120", None, timedelta(seconds=120)),
        (" 0 ", None, timedelta(0)),
        ("Tue, 01 Dec 2026 15:05:00 GMT", None, timedelta(minutes=5)),
        ("Tue, 01 Dec 2026 15:05:00 GMT", "Tue, 01 Dec 2026 15:04:00 GMT", timedelta(minutes=1)),
        ("Tue, 01 Dec 2026 14:00:00 GMT", None, timedelta(0)),
        ("-5", None, None),
        ("1.5", None, None),
        ("later", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_retry_after_accepts_seconds_or_an_http_date_and_nothing_else(
    value: str | None, date: str | None, expected: timedelta | None
) -> None:
    assert parse_retry_after(value, now=NOW, date=date) == expected


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fetch_at(datetime(2026, 12, 1, 15, 0), url=URL)  # noqa: DTZ001 - the point of the test


# -- next poll ---------------------------------------------------------------------------------------

durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400))
maybe = st.none() | durations
EARLIEST = datetime(2001, 1, 1)  # noqa: DTZ001 - hypothesis bounds are naive; timezones= makes values aware
LATEST = datetime(2090, 1, 1)  # noqa: DTZ001
moments = st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(
    now=moments,
    url=st.text(min_size=1, max_size=60),
    interval=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=2)),
    floor=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2)),
    extra=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    fresh=maybe,
    ttl=maybe,
    retry=maybe,
)
def test_the_next_poll_is_never_before_the_floor_or_retry_after_and_never_after_the_ceiling(
    now: datetime,
    url: str,
    interval: timedelta,
    floor: timedelta,
    extra: timedelta,
    fresh: timedelta | None,
    ttl: timedelta | None,
    retry: timedelta | None,
) -> None:
    ceiling = floor + extra
    hints = {"fresh_for": fresh, "ttl_hint": ttl, "retry_after": retry}
    at = next_fetch_at(now, url=url, interval=interval, floor=floor, ceiling=ceiling, **hints)

    wait = at - now
    assert floor <= wait <= ceiling
    if retry is not None:
        assert wait >= min(retry, ceiling)
    assert at == next_fetch_at(now, url=url, interval=interval, floor=floor, ceiling=ceiling, **hints)


@settings(max_examples=200, deadline=None)
@given(
    now=moments,
    url=st.text(min_size=1, max_size=60),
    late=st.timedeltas(max_value=timedelta(minutes=9), min_value=timedelta(0)),
)
def test_a_feed_polled_a_little_late_keeps_its_slot(now: datetime, url: str, late: timedelta) -> None:
    slot = next_fetch_at(now, url=url)
    after = next_fetch_at(slot + late, url=url)

    assert after == slot + DEFAULT_INTERVAL


def test_a_feed_polled_too_late_for_the_floor_skips_to_the_slot_after() -> None:
    slot = next_fetch_at(NOW, url=URL)
    after = next_fetch_at(slot + DEFAULT_INTERVAL - DEFAULT_FLOOR + timedelta(seconds=1), url=URL)

    assert after == slot + 2 * DEFAULT_INTERVAL


def test_polls_of_many_feeds_spread_over_the_interval_instead_of_bunching() -> None:
    urls = [f"https://site{n}.example/feed.xml" for n in range(1500)]
    minutes = Counter((next_fetch_at(NOW, url=u) - NOW) // timedelta(minutes=1) for u in urls)

    # Waits fall in [5, 20) minutes: every minute of the interval gets some feeds, none gets a crowd.
    assert set(minutes) == set(range(5, 20))
    assert max(minutes.values()) < 3 * 1500 / 15


def test_hints_raise_the_wait_and_a_ttl_counts_for_at_most_a_day() -> None:
    plain = next_fetch_at(NOW, url=URL) - NOW
    hourly = next_fetch_at(NOW, url=URL, ttl_hint=timedelta(hours=1)) - NOW
    weekly = next_fetch_at(NOW, url=URL, ttl_hint=timedelta(days=7), ceiling=timedelta(days=30)) - NOW
    shorter = next_fetch_at(NOW, url=URL, ttl_hint=timedelta(minutes=1)) - NOW

    assert plain <= timedelta(minutes=20)
    assert timedelta(minutes=45) < hourly <= timedelta(hours=1)
    assert timedelta(hours=23) < weekly <= timedelta(days=1)
    assert shorter == plain


def test_the_slot_of_a_url_is_the_same_in_every_process() -> None:
    # str hashes are salted per process; replicas must still agree on each feed's slot.
    script = "from datetime import timedelta; from bot.sources.fetch import slot_offset; print(slot_offset('%s', timedelta(minutes=15)))"
    seen = {
        subprocess.run(  # noqa: S603 - our own interpreter running our own module
            [sys.executable, "-c", script % URL],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }

    assert seen == {str(slot_offset(URL, timedelta(minutes=15)))}


def test_the_next_poll_is_computed_in_any_time_zone_alike() -> None:
    elsewhere = NOW.astimezone(timezone(timedelta(hours=-5)))

    assert next_fetch_at(elsewhere, url=URL) == next_fetch_at(NOW, url=URL)


# -- failures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail_count", "delay"),
    [
        (0, timedelta(minutes=5)),
        (1, timedelta(minutes=5)),
        (2, timedelta(minutes=10)),
        (3, timedelta(minutes=20)),
        (9, timedelta(minutes=5 * 256)),
        (10, timedelta(days=1)),
        (10_000, timedelta(days=1)),
    ],
)
def test_failures_back_off_exponentially_up_to_a_day(fail_count: int, delay: timedelta) -> None:
    assert failure_delay(fail_count) == delay


@pytest.mark.parametrize(
    ("first_failure_at", "paused"),
    [
        (None, False),
        (NOW - timedelta(days=6, hours=23), False),
        (NOW - timedelta(days=7), True),
        (NOW - timedelta(days=30), True),
    ],
)
def test_a_feed_failing_for_a_week_is_paused(first_failure_at: datetime | None, paused: bool) -> None:
    assert should_pause(first_failure_at, NOW, timedelta(days=7)) is paused
