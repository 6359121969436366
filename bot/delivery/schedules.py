"""Which digest slot a due schedule owes now: dedupe keys on the local wall clock, and catch-up within a grace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.ports import ChannelKey
from bot.delivery.cron import ApsCronRules, slot_label

_JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """What a tick does for one due schedule: the slot to deliver (None: all missed ones are too old) and the next one."""

    slot: datetime | None
    next_fire_at: datetime
    dropped: bool  # due slots were passed over: the bot was not ticking for a while


def digest_key(key: ChannelKey, slot: datetime, timezone: str) -> str:
    """Return the outbox dedupe key of a channel's digest slot: its local wall-clock minute."""
    return f"digest:{key.platform}:{key.workspace}:{key.channel}:{slot_label(slot, timezone)}"


def plan_due(
    rules: ApsCronRules,
    cron: str,
    timezone: str,
    next_fire_at: datetime,
    now: datetime,
    *,
    grace: timedelta,
) -> SlotPlan:
    """Plan a schedule whose `next_fire_at` has come: deliver the latest slot no older than `grace`, skip older ones.

    However long the bot was down, a schedule yields at most one digest per tick, so a restart never
    floods a channel; the digest's content covers everything since the channel's watermark anyway.
    """
    start = next_fire_at
    oldest = now - grace
    if start < oldest:
        start = rules.next_fire(cron, timezone, oldest - _JUST_BEFORE)
    latest: datetime | None = None
    slot = start
    while slot <= now:
        latest = slot
        slot = rules.next_fire(cron, timezone, slot)
    return SlotPlan(latest, slot, latest != next_fire_at)
