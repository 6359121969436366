"""The rules that decide which entries of a fetch are news, run over sequences of fetches."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.sources.decide import FLOOD_MIN_NEW, FeedDecision, decide

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    key: str
    fingerprint: str
    published: datetime | None = None
    updated: datetime | None = None
    position: int = 0


def feed(n: int, *, start: int = 0, hours_apart: int = 1) -> list[Entry]:
    """Return n entries newest first, as feeds list them."""
    return [
        Entry(f"id-{i}", f"fp-{i}", NOW - timedelta(hours=hours_apart * (i - start)), position=i - start)
        for i in range(start, start + n)
    ]


class Memory:
    """The poller's view of one feed across fetches: keys and fingerprints it has seen."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.fingerprints: dict[str, str] = {}
        self.announced: list[str] = []
        self.last_announced: datetime | None = None

    def poll(self, entries: list[Entry], now: datetime = NOW) -> FeedDecision[Entry]:
        decision = decide(
            entries,
            known_keys=self.keys,
            known_fingerprints=self.fingerprints,
            first_poll=not self.keys,
            now=now,
            last_announced=self.last_announced,
        )
        for v in decision.verdicts:
            self.keys.add(v.entry.key)
            self.fingerprints.setdefault(v.entry.fingerprint, v.rewrite_of or v.entry.key)
        for e in decision.announced:
            self.announced.append(e.key)
            when = e.published or e.updated
            if when and (self.last_announced is None or when > self.last_announced):
                self.last_announced = when
        return decision


def test_the_first_poll_stores_every_entry_and_announces_none() -> None:
    memory = Memory()
    decision = memory.poll(feed(50))
    assert decision.announced == []
    assert len(decision.with_action("quiet")) == 50
    assert "first poll" in decision.note


def test_an_added_item_is_announced_once_and_never_again() -> None:
    memory = Memory()
    memory.poll(feed(20, start=1))
    entries = feed(21)
    assert [e.key for e in memory.poll(entries).announced] == ["id-0"]
    assert memory.poll(entries).announced == []


def test_an_item_dated_before_the_newest_seen_is_still_announced() -> None:
    # A date high-water mark would skip it: this is the "missed items" complaint.
    memory = Memory()
    memory.poll(feed(5))
    late = Entry("late", "fp-late", NOW - timedelta(days=2), position=3)
    assert [e.key for e in memory.poll([*feed(5), late]).announced] == ["late"]


def test_a_feed_that_rewrites_its_guids_announces_nothing() -> None:
    memory = Memory()
    memory.poll(feed(5))
    rewritten = [replace(e, key=e.key + "-v2") for e in feed(5)]
    decision = memory.poll(rewritten)
    assert decision.announced == []
    assert [v.rewrite_of for v in decision.with_action("rewrite")] == [e.key for e in feed(5)]


def test_a_feed_that_rewrites_its_dates_announces_nothing() -> None:
    memory = Memory()
    memory.poll(feed(5))
    redated = [replace(e, published=NOW) for e in feed(5)]
    assert memory.poll(redated).announced == []


def test_a_feed_that_changes_most_ids_and_titles_at_once_is_a_rekeying_not_a_flood() -> None:
    memory = Memory()
    memory.poll(feed(30))
    moved = [
        Entry(f"new-{e.key}", f"new-{e.fingerprint}", e.published, position=e.position) for e in feed(30)
    ]
    decision = memory.poll(moved)
    assert decision.announced == []
    assert "re-keying" in decision.note


def test_a_rekeying_still_lets_through_an_entry_newer_than_the_last_announced() -> None:
    memory = Memory()
    memory.poll(feed(30, start=1))
    memory.poll(feed(31))  # announces id-0, dated NOW
    fresh = Entry("brand-new", "fp-brand-new", NOW + timedelta(minutes=5), position=0)
    moved = [fresh] + [
        Entry(f"x{e.key}", f"x{e.fingerprint}", e.published, position=e.position + 1) for e in feed(31)
    ]
    decision = memory.poll(moved, NOW + timedelta(minutes=10))
    assert [e.key for e in decision.announced] == ["brand-new"]


def test_a_busy_feed_below_the_flood_threshold_announces_everything_new() -> None:
    memory = Memory()
    memory.poll(feed(50, start=FLOOD_MIN_NEW))
    decision = memory.poll(feed(50 + FLOOD_MIN_NEW))
    assert len(decision.announced) == FLOOD_MIN_NEW


def test_new_entries_are_announced_oldest_first() -> None:
    memory = Memory()
    memory.poll(feed(10, start=3))
    assert [e.key for e in memory.poll(feed(13)).announced] == ["id-2", "id-1", "id-0"]


def test_undated_entries_are_announced_in_reverse_feed_order() -> None:
    memory = Memory()
    memory.poll([Entry("old", "fp-old")])
    undated = [Entry(f"u{i}", f"fu{i}", position=i) for i in range(3)] + [Entry("old", "fp-old", position=3)]
    assert [e.key for e in memory.poll(undated).announced] == ["u2", "u1", "u0"]


def test_an_entry_first_seen_with_an_old_date_is_stored_without_an_alert() -> None:
    memory = Memory()
    memory.poll(feed(3))
    archived = Entry("archived", "fp-archived", NOW - timedelta(days=30), position=3)
    decision = memory.poll([*feed(3), archived])
    assert decision.announced == []
    assert "older than 7 days" in decision.with_action("quiet")[0].reason


def test_an_entry_with_a_future_date_is_announced() -> None:
    memory = Memory()
    memory.poll(feed(3))
    future = Entry("future", "fp-future", NOW + timedelta(days=300))
    assert [e.key for e in memory.poll([future, *feed(3)]).announced] == ["future"]


def test_a_duplicate_id_inside_one_fetch_is_announced_once() -> None:
    memory = Memory()
    memory.poll(feed(3, start=1))
    twice = [Entry("dup", "fp-a", NOW), Entry("dup", "fp-b", NOW, position=1), *feed(3, start=1)]
    assert [e.key for e in memory.poll(twice).announced] == ["dup"]


def test_an_entry_that_leaves_the_feed_and_comes_back_is_not_news() -> None:
    memory = Memory()
    memory.poll(feed(5))
    memory.poll(feed(4))
    assert memory.poll(feed(5)).announced == []


keys = st.text("abcdefgh", min_size=1, max_size=3)


@given(st.lists(st.lists(st.tuples(keys, keys), max_size=15), min_size=1, max_size=6))
def test_no_key_or_fingerprint_is_ever_announced_twice_across_any_sequence_of_fetches(
    fetches: list[list[tuple[str, str]]],
) -> None:
    memory = Memory()
    fingerprints_announced: list[str] = []
    for n, fetch in enumerate(fetches):
        entries = [Entry(k, f, NOW, position=i) for i, (k, f) in enumerate(fetch)]
        for e in memory.poll(entries, NOW + timedelta(minutes=n)).announced:
            fingerprints_announced.append(e.fingerprint)
    assert len(memory.announced) == len(set(memory.announced))
    assert len(fingerprints_announced) == len(set(fingerprints_announced))
