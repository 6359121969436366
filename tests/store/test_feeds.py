"""The feed store: names and URLs unique, due feeds leased to one process, seen keys remembered."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.feeds import EntryRow, FeedExists, SqlFeedStore
from bot.store.tables import feeds
from tests.store.conftest import T0

LEASE = timedelta(minutes=2)


@pytest.fixture
def store(engine: AsyncEngine) -> SqlFeedStore:
    return SqlFeedStore(engine)


def row(n: int, *, quiet: bool = False) -> EntryRow:
    return EntryRow(f"k{n}", "id", f"f{n}", f"h{n}", f"story-{n}", T0, quiet)


async def test_a_feed_is_added_due_at_once_and_listed_with_its_settings(store: SqlFeedStore) -> None:
    await store.add(
        "kagi", "https://kagi.example/feed", added_url="https://kagi.example/", now=T0, topics=["ai"]
    )
    [feed] = await store.list_feeds()
    assert (feed.name, feed.url, feed.topics, feed.next_fetch_at, feed.first_poll) == (
        "kagi",
        "https://kagi.example/feed",
        ("ai",),
        T0,
        True,
    )


async def test_a_second_feed_with_the_same_name_or_url_is_refused_naming_the_clash(
    store: SqlFeedStore,
) -> None:
    await store.add("kagi", "https://kagi.example/feed", added_url="x", now=T0)
    with pytest.raises(FeedExists, match="name 'kagi'"):
        await store.add("kagi", "https://other.example/feed", added_url="x", now=T0)
    with pytest.raises(FeedExists, match="as 'kagi'"):
        await store.add("other", "https://kagi.example/feed", added_url="x", now=T0)


async def test_a_due_feed_is_leased_to_one_process_until_it_is_released(store: SqlFeedStore) -> None:
    await store.add("a", "https://a.example/feed", added_url="x", now=T0)
    [mine] = await store.claim(T0, "one", lease_for=LEASE, limit=10)
    assert await store.claim(T0, "two", lease_for=LEASE, limit=10) == []
    await store.release_many("two", [(mine.id, {"next_fetch_at": T0})])  # not the holder: no effect
    assert await store.claim(T0, "two", lease_for=LEASE, limit=10) == []
    done = {"next_fetch_at": T0 + timedelta(minutes=15), "last_status": 304}
    await store.release_many("one", [(mine.id, done)])
    assert await store.claim(T0 + timedelta(minutes=1), "two", lease_for=LEASE, limit=10) == []
    [again] = await store.claim(T0 + timedelta(minutes=15), "two", lease_for=LEASE, limit=10)
    assert again.last_status == 304


async def test_a_lease_abandoned_by_a_dead_process_is_taken_over_when_it_runs_out(
    store: SqlFeedStore,
) -> None:
    await store.add("a", "https://a.example/feed", added_url="x", now=T0)
    await store.claim(T0, "dead", lease_for=LEASE, limit=10)
    assert await store.claim(T0 + LEASE, "alive", lease_for=LEASE, limit=10) != []


async def test_a_paused_feed_is_not_polled_until_resumed(store: SqlFeedStore) -> None:
    await store.add("a", "https://a.example/feed", added_url="x", now=T0)
    assert await store.pause("a", "HTTP 410 Gone", T0)
    assert await store.claim(T0, "p", lease_for=LEASE, limit=10) == []
    assert (await store.get("a")).paused_reason == "HTTP 410 Gone"  # type: ignore[union-attr]
    assert await store.pause("a", None, T0)
    assert len(await store.claim(T0, "p", lease_for=LEASE, limit=10)) == 1


async def test_many_processes_claiming_at_once_never_lease_one_feed_twice(
    store: SqlFeedStore, engine: AsyncEngine
) -> None:
    for n in range(40):
        await store.add(f"f{n}", f"https://f{n}.example/feed", added_url="x", now=T0)
    others = [SqlFeedStore(engine) for _ in range(4)]
    claims = await asyncio.gather(
        *(s.claim(T0, f"p{i}", lease_for=LEASE, limit=15) for i, s in enumerate(others))
    )
    names = [f.name for claim in claims for f in claim]
    assert len(names) == len(set(names)) == 40


async def test_seen_keys_are_remembered_and_moved_not_duplicated(
    store: SqlFeedStore, engine: AsyncEngine
) -> None:
    feed = await store.add("a", "https://a.example/feed", added_url="x", now=T0)
    async with engine.begin() as conn:
        await store.record_entries(conn, feed.id, [row(1), row(2, quiet=True)], T0)
    async with engine.begin() as conn:
        await store.record_entries(conn, feed.id, [row(2)], T0 + timedelta(hours=1))
    seen = await store.seen(feed.id)
    assert seen.keys == {"k1": "h1", "k2": "h2"}
    assert seen.fingerprints == {"f1": "k1", "f2": "k2"}
    assert (await store.get("a")).stories == 2  # type: ignore[union-attr]


async def test_keys_still_in_the_feed_are_never_forgotten(store: SqlFeedStore, engine: AsyncEngine) -> None:
    feed = await store.add("a", "https://a.example/feed", added_url="x", now=T0)
    async with engine.begin() as conn:
        await store.record_entries(conn, feed.id, [row(1), row(2)], T0)
        await store.release_in(conn, feed.id, "nobody")
        await conn.execute(feeds.update().values(last_parsed_at=T0))
    # A feed that answered 304 for a year still lists both entries: nothing is forgotten.
    assert await store.forget(older_than=T0 + timedelta(days=365)) == 0
    async with engine.begin() as conn:
        await store.record_entries(conn, feed.id, [row(2)], T0 + timedelta(days=1))
        await conn.execute(feeds.update().values(last_parsed_at=T0 + timedelta(days=1)))
    assert await store.forget(older_than=T0 + timedelta(days=90)) == 1
    assert set((await store.seen(feed.id)).keys) == {"k2"}


async def test_removing_a_feed_forgets_its_keys(store: SqlFeedStore, engine: AsyncEngine) -> None:
    feed = await store.add("a", "https://a.example/feed", added_url="x", now=T0)
    async with engine.begin() as conn:
        await store.record_entries(conn, feed.id, [row(1)], T0)
    assert await store.remove("a")
    assert not await store.remove("a")
    async with engine.connect() as conn:
        assert (await conn.execute(select(feeds.c.id))).all() == []
    assert (await store.seen(feed.id)).keys == {}
