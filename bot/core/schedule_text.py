"""What `/schedule …` asks for: presets and cron expressions in an IANA time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from rapidfuzz import process

WEEKDAYS = {
    "mon": "mon", "monday": "mon", "tue": "tue", "tues": "tue", "tuesday": "tue",
    "wed": "wed", "wednesday": "wed", "thu": "thu", "thur": "thu", "thurs": "thu", "thursday": "thu",
    "fri": "fri", "friday": "fri", "sat": "sat", "saturday": "sat", "sun": "sun", "sunday": "sun",
}  # fmt: skip
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
USAGE = (
    "schedule daily HH:MM [TZ] · schedule weekly DAY HH:MM [TZ] · "
    'schedule cron "m h dom mon dow" [TZ] · schedule off · schedule show'
)


class ScheduleError(ValueError):
    """The schedule text could not be understood; the message says what to type instead."""


class CronRules(Protocol):
    """Validates cron expressions and computes their next slot (implemented with APScheduler)."""

    def next_fire(self, cron: str, timezone: str, after: datetime) -> datetime:
        """Return the first slot strictly after `after`; raise ValueError for a bad expression."""
        ...


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    """A parsed `/schedule` request."""

    action: Literal["set", "off", "show"]
    cron: str = ""
    timezone: str = ""
    description: str = ""


def parse_schedule(args: str, default_timezone: str) -> ScheduleRequest:
    """Parse "daily 08:00 Europe/Berlin", "weekly mon 08:00", "cron '0 8 * * 1-5' UTC", "off" or "show"."""
    words = args.replace('"', " ").replace("'", " ").split()
    if not words:
        return ScheduleRequest("show")
    kind, rest = words[0].lower(), words[1:]
    if kind in {"show", "status"} and not rest:
        return ScheduleRequest("show")
    if kind in {"off", "stop", "none", "clear"} and not rest:
        return ScheduleRequest("off")
    if kind == "daily":
        if len(rest) not in (1, 2):
            raise ScheduleError(
                f"Expected `daily HH:MM [time zone]`, e.g. `daily 08:00 Europe/Berlin`.\nUsage: {USAGE}"
            )
        hour, minute = _parse_time(rest[0])
        tz = check_timezone(rest[1] if len(rest) == 2 else default_timezone)
        return ScheduleRequest(
            "set", f"{minute} {hour} * * *", tz, f"every day at {hour:02d}:{minute:02d} ({tz})"
        )
    if kind == "weekly":
        if len(rest) not in (2, 3):
            raise ScheduleError(
                f"Expected `weekly DAY HH:MM [time zone]`, e.g. `weekly mon 08:00 UTC`.\nUsage: {USAGE}"
            )
        day = WEEKDAYS.get(rest[0].lower())
        if day is None:
            raise ScheduleError(
                f"“{rest[0]}” is not a day of the week; use mon, tue, wed, thu, fri, sat or sun."
            )
        hour, minute = _parse_time(rest[1])
        tz = check_timezone(rest[2] if len(rest) == 3 else default_timezone)
        return ScheduleRequest(
            "set", f"{minute} {hour} * * {day}", tz, f"every {day} at {hour:02d}:{minute:02d} ({tz})"
        )
    if kind == "cron":
        if len(rest) not in (5, 6):
            raise ScheduleError(
                f"A cron expression has five fields (minute hour day-of-month month day-of-week), "
                f'found {len(rest) if len(rest) < 5 else len(rest) - 1}: e.g. `cron "0 8 * * mon-fri" Europe/Berlin`.'
            )
        tz = check_timezone(rest[5] if len(rest) == 6 else default_timezone)
        cron = " ".join(rest[:5])
        return ScheduleRequest("set", cron, tz, f"cron “{cron}” ({tz})")
    raise ScheduleError(f"Unknown schedule “{words[0]}”.\nUsage: {USAGE}")


def check_timezone(name: str) -> str:
    """Return the IANA zone name, or raise ScheduleError suggesting the nearest real one."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = ""
        found = process.extractOne(name, _zones(), score_cutoff=80)
        if found is not None:
            hint = f" Did you mean {found[0]}?"
        raise ScheduleError(
            f"“{name}” is not an IANA time zone.{hint} Use a name such as Europe/Berlin, America/New_York or UTC."
        ) from None
    return name


@cache
def _zones() -> list[str]:
    return sorted(available_timezones())


def _parse_time(text: str) -> tuple[int, int]:
    m = _TIME.match(text)
    if m is None:
        raise ScheduleError(f"“{text}” is not a time of day; use 24-hour HH:MM such as 08:00 or 17:30.")
    return int(m.group(1)), int(m.group(2))
