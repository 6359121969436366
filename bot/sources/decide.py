"""Which entries of a fetched feed are news: the rules that keep a feed from missing, doubling or flooding.

Peers that compare dates against a high-water mark miss items whose dates are old or equal, and peers
that key on GUIDs alone post an item twice when a feed rewrites its ids. The rules here use no date
high-water mark at all: an entry is new when its key was never seen for the feed; a new key whose
title + link fingerprint was seen is a rewrite of a known story; the first poll of a feed and a feed
that changes most of its keys at once store what they find without announcing it; new entries are
announced oldest first. It is pure (no I/O), so the poller can run it inside its transaction and the
tests can run it on any sequence of fetches.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, Literal, Protocol, TypeVar

# A feed re-keying (a CMS migration, a GUID scheme change) shows up as almost every entry being new at
# once. Ten entries and 80 % of the feed is where an ordinary busy feed stops looking like that: a
# news feed of 50 entries rarely turns over 40 between two polls 15 minutes apart.
FLOOD_MIN_NEW = 10
FLOOD_MIN_SHARE = 0.8
# An entry first seen with a date this far in the past is a back-filled archive item, not news.
DEFAULT_STALE_AFTER = timedelta(days=7)

Action = Literal["announce", "quiet", "rewrite", "seen"]


class DatedEntry(Protocol):
    """What the rules need of a parsed feed entry (bot.sources.feed.FeedEntry has it)."""

    @property
    def key(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def published(self) -> datetime | None: ...

    @property
    def updated(self) -> datetime | None: ...

    @property
    def position(self) -> int: ...


E = TypeVar("E", bound=DatedEntry)


@dataclass(frozen=True, slots=True)
class Verdict(Generic[E]):
    """What to do with one entry, and why when it is not announced."""

    entry: E
    action: Action
    reason: str = ""
    rewrite_of: str | None = None  # the known key this entry's new key stands in for


@dataclass(frozen=True, slots=True)
class FeedDecision(Generic[E]):
    """The verdicts for one fetch, announced entries first and oldest first, and a note for `feeds poll`."""

    verdicts: list[Verdict[E]] = field(default_factory=list)
    note: str = ""

    def with_action(self, action: Action) -> list[Verdict[E]]:
        """Return the verdicts with `action`, in the decision's order."""
        return [v for v in self.verdicts if v.action == action]

    @property
    def announced(self) -> list[E]:
        """Return the entries to announce, oldest first."""
        return [v.entry for v in self.with_action("announce")]


def entry_time(entry: DatedEntry) -> datetime | None:
    """Return the date an entry is ordered and judged by: published, else updated."""
    return entry.published or entry.updated


def _oldest_first(entries: Sequence[E], now: datetime) -> list[E]:
    # Undated entries sort as "now"; ties go by reverse feed position, as feeds list newest first.
    return sorted(entries, key=lambda e: (entry_time(e) or now, -e.position))


def decide(
    entries: Sequence[E],
    *,
    known_keys: Collection[str],
    known_fingerprints: Mapping[str, str],
    first_poll: bool,
    now: datetime,
    last_announced: datetime | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> FeedDecision[E]:
    """Sort one fetch's entries into announce / quiet / rewrite / seen.

    `known_fingerprints` maps each fingerprint seen for the feed to its key; `last_announced` is the
    newest date among entries announced before, used only to let real news through a re-keying.
    """
    verdicts: list[Verdict[E]] = []
    fresh: list[E] = []
    fingerprints = dict(known_fingerprints)
    keys = set(known_keys)
    for entry in entries:
        if entry.key in keys:
            verdicts.append(Verdict(entry, "seen"))
        elif entry.fingerprint in fingerprints:
            old = fingerprints[entry.fingerprint]
            verdicts.append(Verdict(entry, "rewrite", "same title and link as a known entry", old))
        else:
            fresh.append(entry)
            keys.add(entry.key)  # a second copy in this fetch is seen, not new again
            fingerprints[entry.fingerprint] = entry.key
    ordered = _oldest_first(fresh, now)
    if first_poll:
        note = f"first poll: {len(ordered)} entries stored, none announced"
        quiet = [Verdict(e, "quiet", "first poll of the feed") for e in ordered]
        return FeedDecision(quiet + verdicts, note if ordered else "")
    flooded = len(ordered) >= FLOOD_MIN_NEW and len(ordered) >= FLOOD_MIN_SHARE * max(1, len(entries))
    announce: list[Verdict[E]] = []
    quiet = []
    for entry in ordered:
        when = entry_time(entry)
        if flooded and (last_announced is None or when is None or when <= last_announced):
            quiet.append(Verdict(entry, "quiet", "the feed changed most of its entry ids at once"))
        elif when is not None and when < now - stale_after:
            quiet.append(
                Verdict(entry, "quiet", f"dated {when:%Y-%m-%d}, older than {stale_after.days} days")
            )
        else:
            announce.append(Verdict(entry, "announce"))
    note = ""
    if flooded:
        note = (
            f"{len(ordered)} of {len(entries)} entries had new ids at once: treated as the feed re-keying, "
            f"{len(announce)} announced"
        )
    return FeedDecision(announce + quiet + verdicts, note)
