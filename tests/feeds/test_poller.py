"""The poller against a loopback feed server: each new item stored and alerted once, whatever the feed does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.ports import ChannelKey
from bot.core.tagging import Tagger
from bot.core.taxonomy import load_taxonomy
from bot.feeds.poller import FeedPoller, PollSettings, feed_topic
from bot.sources.fetch import FeedFetcher, FetchSettings
from bot.store.archive import SqlArchive
from bot.store.channels import SqlChannelStore
from bot.store.engine import create_engine
from bot.store.feeds import SqlFeedStore
from bot.store.migrate import upgrade_database
from bot.store.outbox import AlertEnqueuer, deliveries
from bot.store.tables import summaries
from tests.fakes.feeds import FakeFeeds

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CHANNEL = ChannelKey("slack", "T1", "C-news")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def rss(*items: tuple[str, str, str, datetime]) -> bytes:
    """Return RSS 2.0 with items given as (guid, title, link, published), newest first."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>"
        f"<pubDate>{format_datetime(when)}</pubDate><description>{title}. More on {title.lower()}.</description></item>"
        for guid, title, link, when in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link>'
        f"<description>d</description>{body}</channel></rss>"
    ).encode()


def item(
    n: int, *, guid: str | None = None, title: str | None = None, when: datetime | None = None
) -> tuple[str, str, str, datetime]:
    return (
        guid or f"urn:wire:{n}",
        title or f"Drone talks round {n}",
        f"https://wire.example/story/{n}",
        when or T0 - timedelta(hours=n),
    )


@dataclass
class World:
    engine: AsyncEngine
    server: FakeFeeds
    store: SqlFeedStore
    poller: FeedPoller
    clock: Clock

    async def alerts(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries.c.summary_id).where(deliveries.c.kind == "alert").order_by(deliveries.c.id)
            )
            return [r.summary_id for r in rows]

    async def headlines(self) -> list[str]:
        async with self.engine.connect() as conn:
            return sorted(r.headline for r in await conn.execute(select(summaries.c.headline)))

    async def poll(self) -> str:
        self.clock.advance(hours=1)
        [report] = await self.poller.poll_named(["wire"])
        return report.line()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = f"sqlite:///{tmp_path}/feeds.db"
    await upgrade_database(url)
    engine = create_engine(url)
    clock = Clock()
    async with FakeFeeds() as server, FeedFetcher(FetchSettings()) as fetcher:
        store = SqlFeedStore(engine)
        archive = SqlArchive(engine, on_stored=AlertEnqueuer())
        tagger = Tagger(load_taxonomy(ROOT / "config" / "topics.yaml"))
        poller = FeedPoller(
            store, archive, tagger, fetcher, settings=PollSettings(), clock=clock, owner="test"
        )
        await store.add("wire", server.url("/feed.xml"), added_url=server.url("/feed.xml"), now=T0)
        await SqlChannelStore(engine).subscribe(CHANNEL, feed_topic("wire"), user="U1", now=T0)
        yield World(engine, server, store, poller, clock)
    await engine.dispose()


async def test_the_first_poll_stores_every_entry_and_alerts_nobody(world: World) -> None:
    world.server.serve("/feed.xml", rss(item(1), item(2), item(3)))
    line = await world.poll()
    assert "3 new" in line
    assert "0 announced" in line
    assert "first poll" in line
    assert len(await world.headlines()) == 3
    assert await world.alerts() == []


async def test_a_new_item_is_stored_and_alerted_exactly_once(world: World) -> None:
    world.server.serve("/feed.xml", rss(item(1), item(2)))
    await world.poll()
    world.server.serve("/feed.xml", rss(item(0), item(1), item(2)))
    assert "1 new" in await world.poll()
    await world.poll()
    alerts = await world.alerts()
    assert len(alerts) == 1
    assert alerts[0].startswith("drone-talks-round-0")


async def test_guid_and_date_rewrites_and_reordering_alert_nobody(world: World) -> None:
    world.server.serve("/feed.xml", rss(item(1), item(2), item(3)))
    await world.poll()
    world.server.serve("/feed.xml", rss(*(item(n, guid=f"tag:v2:{n}") for n in (1, 2, 3))))
    await world.poll()
    world.server.serve("/feed.xml", rss(*(item(n, when=T0 + timedelta(days=1)) for n in (1, 2, 3))))
    await world.poll()
    world.server.serve("/feed.xml", rss(item(3), item(1), item(2)))
    await world.poll()
    assert await world.alerts() == []
    assert len(await world.headlines()) == 3


async def test_an_edited_item_updates_its_story_without_a_second_alert(world: World) -> None:
    world.server.serve("/feed.xml", rss(item(1)))
    await world.poll()
    world.server.serve("/feed.xml", rss(item(0), item(1)))
    await world.poll()
    world.server.serve("/feed.xml", rss(item(0, title="Drone talks round 0 resume"), item(1)))
    line = await world.poll()
    assert "1 updated" in line
    assert "Drone talks round 0 resume" in await world.headlines()
    assert len(await world.alerts()) == 1


async def test_a_304_parses_nothing_and_says_not_modified(world: World) -> None:
    world.server.serve("/feed.xml", rss(item(1)), etag='"v1"')
    await world.poll()
    assert "HTTP 304 not modified" in await world.poll()
    assert world.server.hits("/feed.xml")[-1].headers.get("If-None-Match") == '"v1"'


async def test_a_feed_that_answers_410_is_paused_with_the_reason(world: World) -> None:
    world.server.fail("/feed.xml", 410)
    line = await world.poll()
    assert "410" in line
    assert "paused" in line
    feed = await world.store.get("wire")
    assert feed is not None
    assert feed.paused_reason is not None
    assert "410" in feed.paused_reason


async def test_html_served_instead_of_a_feed_is_a_failure_that_backs_off(world: World) -> None:
    world.server.serve("/feed.xml", b"<html><body><p>Hello</p></body></html>", content_type="text/html")
    line = await world.poll()
    assert "failed" in line
    feed = await world.store.get("wire")
    assert feed is not None
    assert feed.fail_count == 1
    assert feed.next_fetch_at > world.clock.now
    assert feed.last_error
    assert "HTML" in feed.last_error


async def test_a_permanent_redirect_moves_the_stored_url(world: World) -> None:
    world.server.redirect("/feed.xml", "/new.xml", 301)
    world.server.serve("/new.xml", rss(item(1)))
    await world.poll()
    feed = await world.store.get("wire")
    assert feed is not None
    assert feed.url.endswith("/new.xml")


async def test_one_story_in_two_feeds_is_stored_once_even_under_another_title(world: World) -> None:
    world.server.serve("/feed.xml", rss(item(1)))
    world.server.serve("/mirror.xml", rss(item(1, guid="mirror-1", title="Drones: talks resume")))
    await world.store.add("mirror", world.server.url("/mirror.xml"), added_url="x", now=T0)
    world.clock.advance(hours=1)
    await world.poller.poll_named(["wire"])
    await world.poller.poll_named(["mirror"])
    assert len(await world.headlines()) == 1


async def test_a_digest_leaves_out_the_first_polls_stories_but_keeps_a_new_one(world: World) -> None:
    archive = SqlArchive(world.engine)
    world.server.serve("/feed.xml", rss(item(1), item(2)))
    await world.poll()
    world.server.serve("/feed.xml", rss(item(0), item(1), item(2)))
    await world.poll()
    stories = await archive.stories_for_digest(after=None, until=world.clock.now, topics=(), limit=10)
    assert [s.summary.headline for s in stories] == ["Drone talks round 0"]


async def test_a_feed_whose_ids_repeat_keys_on_id_and_link_and_loses_no_entry(world: World) -> None:
    world.server.serve("/feed.xml", rss(*(item(n, guid="same-id") for n in (1, 2, 3))))
    line = await world.poll()
    assert "3 new" in line
    world.server.serve("/feed.xml", rss(*(item(n, guid="same-id") for n in (0, 1, 2, 3))))
    assert "1 new" in await world.poll()
    assert len(await world.alerts()) == 1
    feed = await world.store.get("wire")
    assert feed is not None
    assert feed.id_scheme == "id+link"


async def test_a_backlog_larger_than_one_claim_is_polled_once_each_and_every_outcome_recorded(
    world: World,
) -> None:
    narrow = FeedPoller(
        world.store,
        world.poller.stories,
        world.poller.tagger,
        world.poller.fetcher,
        settings=PollSettings(concurrency=2),  # claims two at a time: seven feeds take several claims
        clock=world.clock,
        owner="narrow",
    )
    world.server.serve("/feed.xml", rss(item(1)))
    for n in range(6):
        path = f"/more/{n}.xml"
        if n % 2:
            world.server.fail(path, 500)
        else:
            world.server.serve(path, rss(item(n)), etag=f'"e{n}"')
        await world.store.add(f"more-{n}", world.server.url(path), added_url=path, now=T0)
    first = await narrow.poll_due()
    assert sorted(r.feed for r in first) == sorted(["wire", *(f"more-{n}" for n in range(6))])
    assert sum(1 for r in first if r.error) == 3
    assert await narrow.poll_due() == []  # every feed released with its next due time, none left leased
    world.clock.advance(hours=1)
    again = {r.feed: r.line() for r in await narrow.poll_due()}
    assert "HTTP 304 not modified" in again["more-0"]  # the ETag of the first poll was recorded
    assert "HTTP 500" in again["more-1"]
    assert "more-1" in {f.name for f in await world.store.list_feeds() if f.fail_count == 2}
    hits = [r.path for r in world.server.requests]
    assert all(hits.count(f"/more/{n}.xml") == 2 for n in range(6))
