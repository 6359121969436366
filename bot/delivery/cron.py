"""Cron slots computed by APScheduler's CronTrigger, so newsbot's cron dialect is APScheduler's.

Slots are found on the local wall clock and only then placed on the time line: a wall-clock slot that
a DST change repeats (autumn) happens once, at its first occurrence, and one that a DST change skips
(spring) happens at the instant the clock jumps over it, so a daily 02:30 digest fires once every local day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

_ONE_SECOND = timedelta(seconds=1)
_MAX_STEPS = 10_000  # wall-clock slots inspected for one answer; only a DST fold needs more than one


@lru_cache(maxsize=1024)
def _trigger(cron: str) -> CronTrigger:
    # The trigger runs in UTC over naive wall-clock times treated as UTC, which has no DST at all.
    try:
        return CronTrigger.from_crontab(cron, timezone=UTC)
    except (ValueError, KeyError) as exc:
        raise ValueError(str(exc) or "unreadable expression") from None


@lru_cache(maxsize=512)
def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None


def slot_label(instant: datetime, timezone: str) -> str:
    """Return the local wall-clock minute of a slot, e.g. "2026-10-25T02:30": both passes of a repeated hour read alike."""
    return instant.astimezone(_zone(timezone)).strftime("%Y-%m-%dT%H:%M")


class ApsCronRules:
    """Validate 5-field cron expressions and find their next slot in a time zone."""

    def next_fire(self, cron: str, timezone: str, after: datetime) -> datetime:
        """Return the first slot strictly after `after`; raise ValueError for a bad expression."""
        trigger = _trigger(cron)
        zone = _zone(timezone)
        local = after.astimezone(zone).replace(tzinfo=None)
        fake = local.replace(tzinfo=UTC)
        for _ in range(_MAX_STEPS):
            nxt: datetime | None = trigger.get_next_fire_time(None, fake)
            # CronTrigger may return its start itself when it sits on a slot; a slot strictly later is wanted.
            while nxt is not None and nxt <= fake:
                nxt = trigger.get_next_fire_time(nxt, nxt.replace(microsecond=0) + _ONE_SECOND)
            if nxt is None:
                raise ValueError("the expression never fires")
            # fold=0: a repeated wall time means its first pass; a skipped one maps past the jump.
            instant = nxt.replace(tzinfo=zone, fold=0).astimezone(UTC)
            if instant > after:
                return instant
            fake = nxt
        raise ValueError("the expression never fires")
