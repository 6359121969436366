"""The archive on SQLite and PostgreSQL: storing, replacing, topic pages, full-text search, digests."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.ports import HitPage, StoredStory
from bot.store.archive import SqlArchive, fts5_query
from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database
from tests.store.conftest import T0, story

DRONES = ("Drone Technology", "Both sides discussed unmanned drones and counter-drone systems.", ["drones"])
CHIPS = ("Chip Investment", "Foundry capacity and semiconductor export controls.", ["semiconductors"])
MINERALS = ("Critical Minerals", "Lithium and rare earths supply chains.", ["critical-minerals"])

HOSTILE = [
    '"',
    '""',
    "*",
    "drones*",
    "NEAR(",
    "NEAR(drones chips, 2)",
    "-",
    "-drones",
    ":",
    "title:drones",
    "title : text",
    "AND",
    "OR OR",
    "NOT drones",
    "(",
    ")",
    "^drones",
    "{title text}: drones",
    "drones + chips",
    "'; DROP TABLE summaries; --",
    "\\",
    "\x00drones",
    "🚁 drones",
    "a" * 500,
    "w " * 200,
]


async def test_put_reports_created_unchanged_and_updated(archive: SqlArchive) -> None:
    first = [story(1, sections=[DRONES]), story(2, sections=[CHIPS])]
    assert await archive.put_many(first, T0) == ["created", "created"]
    assert await archive.put_many(first, T0 + timedelta(hours=1)) == ["unchanged", "unchanged"]
    changed = story(2, sections=[CHIPS], lede="A new lede.")
    assert await archive.put_many([first[0], changed, story(3)], T0) == ["unchanged", "updated", "created"]
    assert await archive.count_stories() == 3
    assert await archive.put_many([], T0) == []


async def test_the_same_story_twice_in_one_call(archive: SqlArchive) -> None:
    a, b = story(1, sections=[DRONES]), story(1, sections=[DRONES], lede="Corrected.")
    assert await archive.put_many([a, a, b], T0) == ["created", "unchanged", "updated"]
    [stored] = await archive.recent_stories()
    assert stored.summary.lede == "Corrected."


async def test_a_changed_story_replaces_its_sections(archive: SqlArchive) -> None:
    await archive.put_many(
        [story(1, sections=[DRONES, ("Zeppelins", "Airships were mentioned.", ["airships"])])], T0
    )
    assert (await archive.search_sections("airships", limit=5)).hits
    assert (await archive.sections_for_topic("airships", limit=5)).hits

    replaced = story(1, sections=[("Drone Technology", "Only quadcopters this time.", ["drones"])])
    assert await archive.put_many([replaced], T0) == ["updated"]

    assert (await archive.search_sections("airships", limit=5)).hits == []
    assert (await archive.search_sections("unmanned", limit=5)).hits == []
    assert (await archive.sections_for_topic("airships", limit=5)).hits == []
    [hit] = (await archive.sections_for_topic("drones", limit=5)).hits
    assert hit.text == "Only quadcopters this time."
    assert [h.text for h in (await archive.search_sections("quadcopters", limit=5)).hits] == [hit.text]
    assert await archive.topic_counts() == {"drones": 1}


async def test_replacing_keeps_the_first_ingest_time(archive: SqlArchive) -> None:
    await archive.put_many([story(1)], T0)
    await archive.put_many([story(1, lede="Update.")], T0 + timedelta(days=2))
    [stored] = await archive.recent_stories()
    assert stored.ingested_at == T0
    assert stored.summary.lede == "Update."


async def test_topic_sections_come_newest_story_first_then_in_story_order(archive: SqlArchive) -> None:
    older = story(1, sections=[DRONES, CHIPS, ("Drone Exports", "Licensing of drone exports.", ["drones"])])
    newer = story(5, sections=[("Counter-drone", "Jamming systems.", ["drones"]), MINERALS])
    await archive.put_many([older, newer], T0)
    page = await archive.sections_for_topic("drones", limit=10)
    assert [(h.headline, h.title) for h in page.hits] == [
        ("Story number 5", "Counter-drone"),
        ("Story number 1", "Drone Technology"),
        ("Story number 1", "Drone Exports"),
    ]
    assert page.has_more is False
    hit = page.hits[1]
    assert hit.summary_id == older.summary.id
    assert hit.url == "https://example.com/story/1"
    assert hit.published == T0 + timedelta(hours=1)
    assert hit.published.tzinfo is not None
    assert hit.published.utcoffset() == timedelta(0)
    assert hit.topics == ("drones",)


async def test_topic_pages_cover_everything_once(archive: SqlArchive) -> None:
    items = [
        story(n, sections=[(f"Part {p}", f"Drone detail {n}.{p}", ["drones"]) for p in range(n % 3 + 1)])
        for n in range(12)
    ]
    await archive.put_many(items, T0)
    everything = (await archive.sections_for_topic("drones", limit=100)).hits
    assert len(everything) == sum(n % 3 + 1 for n in range(12))
    pages, offset = [], 0
    while True:
        page = await archive.sections_for_topic("drones", limit=5, offset=offset)
        pages.extend(page.hits)
        offset += 5
        if not page.has_more:
            break
    assert pages == everything
    assert [h.published for h in everything] == sorted((h.published for h in everything), reverse=True)
    assert (await archive.sections_for_topic("drones", limit=5, offset=500)).hits == []
    assert (await archive.sections_for_topic("nothing-here", limit=5)).hits == []


async def test_a_story_tagged_only_at_story_level_is_found_as_one_hit_by_its_headline(
    archive: SqlArchive,
) -> None:
    await archive.put_many([story(1, sections=[CHIPS], story_topics=["taiwan"])], T0)
    assert await archive.topic_counts() == {"semiconductors": 1, "taiwan": 1}
    [hit] = (await archive.sections_for_topic("taiwan", limit=5)).hits
    assert (hit.summary_id, hit.title) == (story(1).summary.id, story(1).summary.headline)
    assert [s.summary.id for s in await archive.recent_stories(topics=["taiwan"])] == [story(1).summary.id]


async def test_search_finds_words_in_titles_and_text_with_stemming(archive: SqlArchive) -> None:
    await archive.put_many([story(1, sections=[DRONES, CHIPS]), story(2, sections=[MINERALS])], T0)
    assert [h.title for h in (await archive.search_sections("drone", limit=5)).hits] == ["Drone Technology"]
    assert [h.title for h in (await archive.search_sections("Lithium", limit=5)).hits] == [
        "Critical Minerals"
    ]
    assert [h.title for h in (await archive.search_sections("chip investment", limit=5)).hits] == [
        "Chip Investment"
    ]
    assert (await archive.search_sections("drones lithium", limit=5)).hits == []  # every word must match
    assert (await archive.search_sections("zeppelin", limit=5)).hits == []


async def test_search_is_newest_first_then_by_relevance(archive: SqlArchive) -> None:
    old = story(1, sections=[("Energy", "Energy prices.", [])])
    new = story(
        9,
        sections=[
            ("Budget", "The energy budget was mentioned once.", []),
            ("Energy Transition", "Energy, energy and more energy.", []),
        ],
    )
    await archive.put_many([old, new], T0)
    hits = (await archive.search_sections("energy", limit=5)).hits
    assert [h.title for h in hits] == ["Energy Transition", "Budget", "Energy"]


async def test_search_pages_cover_everything_once(archive: SqlArchive) -> None:
    items = [
        story(n, sections=[(f"Part {p}", f"Tariff note {n}.{p} on tariffs.", []) for p in range(3)])
        for n in range(7)
    ]
    await archive.put_many(items, T0)
    everything = (await archive.search_sections("tariffs", limit=100)).hits
    assert len(everything) == 21
    pages = []
    for offset in range(0, 25, 4):
        page = await archive.search_sections("tariffs", limit=4, offset=offset)
        pages.extend(page.hits)
        assert page.has_more is (offset + 4 < 21)
    assert pages == everything


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_search_text_never_breaks_the_query(archive: SqlArchive, query: str) -> None:
    await archive.put_many([story(1, sections=[DRONES, CHIPS])], T0)
    page = await archive.search_sections(query, limit=5)
    assert len(page.hits) <= 2  # it searched (or found nothing); it did not raise


async def test_punctuation_only_search_finds_nothing(archive: SqlArchive) -> None:
    await archive.put_many([story(1, sections=[DRONES])], T0)
    for query in ["", "   ", "?!", '"*"', "-:-"]:
        assert await archive.search_sections(query, limit=5) == HitPage([], has_more=False)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fts5_query_is_always_valid_fts5(text: str) -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE VIRTUAL TABLE f USING fts5(title, text, tokenize='porter unicode61 remove_diacritics 2')"
    )
    connection.execute("INSERT INTO f(title, text) VALUES ('drones', 'semiconductor chips')")
    expression = fts5_query(text)
    if expression:
        connection.execute("SELECT rowid FROM f WHERE f MATCH ?", (expression,)).fetchall()


async def test_recent_stories_newest_first_with_since_limit_and_topics(archive: SqlArchive) -> None:
    items = [
        story(1, sections=[DRONES]),
        story(2, sections=[CHIPS]),
        story(3, sections=[MINERALS, DRONES]),
        story(4, undated=True, sections=[CHIPS]),  # published falls back to the ingest time
    ]
    ingested = T0 + timedelta(hours=10)
    await archive.put_many(items, ingested)
    ids = [s.summary.id for s in items]
    recent = await archive.recent_stories()
    assert [s.summary.id for s in recent] == [ids[3], ids[2], ids[1], ids[0]]
    assert recent[0].published == ingested
    assert [s.summary.id for s in await archive.recent_stories(limit=2)] == [ids[3], ids[2]]
    since = await archive.recent_stories(since=T0 + timedelta(hours=2))
    assert [s.summary.id for s in since] == [ids[3], ids[2], ids[1]]
    drones = await archive.recent_stories(topics=["drones"])
    assert [s.summary.id for s in drones] == [ids[2], ids[0]]
    either = await archive.recent_stories(topics=["drones", "semiconductors"], limit=3)
    assert [s.summary.id for s in either] == [ids[3], ids[2], ids[1]]
    assert await archive.recent_stories(topics=["unknown-topic"]) == []
    assert await archive.recent_stories(limit=0) == []


async def test_stored_stories_round_trip_with_utc_datetimes(archive: SqlArchive) -> None:
    original = story(
        1,
        sections=[DRONES],
        lede="Lede.",
        participants=[{"name": "Delegation A", "role": "host"}],
        unknown=["mystery-tag"],
    )
    await archive.put_many([original], T0)
    [stored] = await archive.recent_stories()
    assert stored.summary == original.summary
    assert stored.topics == ("drones",)
    assert stored.unknown_tags == ("mystery-tag",)
    for moment in (stored.published, stored.ingested_at):
        assert moment.tzinfo is not None
        assert moment.utcoffset() == timedelta(0)
    assert stored.published == T0 + timedelta(hours=1)


async def test_a_published_time_in_another_zone_is_kept_as_the_same_instant(archive: SqlArchive) -> None:
    from zoneinfo import ZoneInfo

    when = T0.astimezone(ZoneInfo("Asia/Taipei"))
    await archive.put_many([story(1, published=when, sections=[DRONES])], T0)
    [stored] = await archive.recent_stories(since=T0)
    assert stored.published == T0
    assert stored.published.tzinfo == UTC


async def test_a_digest_reads_the_stories_first_ingested_in_its_window_newest_published_first(
    archive: SqlArchive,
) -> None:
    later = T0 + timedelta(minutes=5)
    await archive.put_many([story(5, sections=[DRONES])], T0)
    await archive.put_many([story(1, sections=[CHIPS]), story(2, sections=[DRONES])], later)

    def headlines(found: list[StoredStory]) -> list[str]:
        return [s.summary.headline for s in found]

    everything = await archive.stories_for_digest(after=None, until=later, topics=(), limit=10)
    assert headlines(everything) == ["Story number 5", "Story number 2", "Story number 1"]
    since_first = await archive.stories_for_digest(after=T0, until=later, topics=(), limit=10)
    assert headlines(since_first) == ["Story number 2", "Story number 1"]
    drones = await archive.stories_for_digest(after=T0, until=later, topics=["drones"], limit=10)
    assert headlines(drones) == ["Story number 2"]
    assert len(await archive.stories_for_digest(after=None, until=later, topics=(), limit=1)) == 1
    assert await archive.stories_for_digest(after=later, until=later, topics=(), limit=10) == []
    assert (
        await archive.stories_for_digest(after=None, until=T0 - timedelta(seconds=1), topics=(), limit=10)
        == []
    )
    one = await archive.story(story(1).summary.id)
    assert one is not None
    assert one.summary.headline == "Story number 1"
    assert await archive.story("no-such-story") is None


async def test_stories_published_in_the_same_instant_are_all_kept(archive: SqlArchive) -> None:
    same = T0.replace(hour=0)
    items = [story(n, published=same, sections=[(f"Part {n}", "Drone news.", ["drones"])]) for n in range(30)]
    await archive.put_many(items[:10], T0)
    await archive.put_many(items[10:], T0)
    assert await archive.count_stories() == 30
    hits = (await archive.sections_for_topic("drones", limit=100)).hits
    assert sorted(h.title for h in hits) == sorted(f"Part {n}" for n in range(30))
    assert len((await archive.search_sections("drone", limit=100)).hits) == 30
    changed = story(3, published=same, sections=[("Part 3", "Drone news, corrected.", ["drones"])])
    assert await archive.put_many([changed], T0) == ["updated"]
    assert len((await archive.sections_for_topic("drones", limit=100)).hits) == 30


async def test_topic_counts_count_stories(archive: SqlArchive) -> None:
    await archive.put_many(
        [story(1, sections=[DRONES, DRONES]), story(2, sections=[DRONES, CHIPS]), story(3)], T0
    )
    assert await archive.topic_counts() == {"drones": 2, "semiconductors": 1}


async def test_two_writers_storing_the_same_stories_at_once(archive: SqlArchive, database_url: str) -> None:
    other_engine = create_engine(database_url)
    try:
        other = SqlArchive(other_engine)
        items = [story(n, sections=[DRONES]) for n in range(20)]
        first, second = await asyncio.gather(archive.put_many(items, T0), other.put_many(items, T0))
        assert sorted([*first, *second]) == ["created"] * 20 + ["unchanged"] * 20
        assert await archive.count_stories() == 20
        assert len((await archive.sections_for_topic("drones", limit=50)).hits) == 20
    finally:
        await other_engine.dispose()


@pytest.mark.postgres
async def test_a_lost_insert_race_is_retried(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite writers take the write lock before looking, so only PostgreSQL writers can race.
    await upgrade_database(postgres_url)
    look_up = SqlArchive._existing
    looked = 0
    both_looked = asyncio.Event()

    async def look_up_together(self: SqlArchive, conn: Any, ids: Any) -> Any:
        # Both writers look before either inserts: the loser must retry, not fail.
        nonlocal looked
        found = await look_up(self, conn, ids)
        looked += 1
        if looked == 2:
            both_looked.set()
        if looked <= 2:
            await both_looked.wait()
        return found

    monkeypatch.setattr(SqlArchive, "_existing", look_up_together)
    engines = [create_engine(postgres_url), create_engine(postgres_url)]
    try:
        # Stories of one second are allocated under a lock; a story moved to another second is not,
        # so two writers can still both find it missing and both insert it.
        items = [story(n, sections=[DRONES]) for n in range(5)]
        moved = [story(n, sections=[DRONES], published=T0 + timedelta(hours=n, minutes=1)) for n in range(5)]
        first, second = await asyncio.gather(
            SqlArchive(engines[0]).put_many(items, T0), SqlArchive(engines[1]).put_many(moved, T0)
        )
        assert sorted([*first, *second]) == ["created"] * 5 + ["updated"] * 5
        assert looked == 3
        assert await SqlArchive(engines[0]).count_stories() == 5
    finally:
        for engine in engines:
            await engine.dispose()


async def test_many_writers_storing_different_stories_of_one_second_lose_none(
    archive: SqlArchive, database_url: str
) -> None:
    # Each put is its own transaction, as when replicas or API requests ingest at once: all pick the
    # same preferred story key, and every one of them must still be stored.
    same = T0.replace(hour=0)
    items = [
        story(n, published=same, sections=[(f"Part {n}", "Drone news.", ["drones"])]) for n in range(220)
    ]
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        writers = [SqlArchive(e) for e in engines]
        outcomes = await asyncio.gather(
            *(writers[n % len(writers)].put_many([item], T0) for n, item in enumerate(items))
        )
        assert [o for (o,) in outcomes] == ["created"] * len(items)
        assert await archive.count_stories() == len(items)
        assert len((await archive.sections_for_topic("drones", limit=500)).hits) == len(items)
    finally:
        for engine in engines:
            await engine.dispose()
