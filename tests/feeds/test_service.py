"""Adding feeds checks them first: a page leads to its feed, a dead URL or a bad name is refused with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.feeds.service import FeedProblem, FeedService
from bot.sources.fetch import FeedFetcher, FetchSettings
from bot.store.engine import create_engine
from bot.store.feeds import SqlFeedStore
from bot.store.migrate import upgrade_database
from tests.fakes.feeds import FakeFeeds, sample_rss

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PAGE = b"""<!doctype html><html><head><title>Wire</title>
<link rel="alternate" type="application/rss+xml" title="Wire" href="/feed.xml"></head>
<body><p>Hello</p></body></html>"""


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[FeedService, FakeFeeds]]:
    url = f"sqlite:///{tmp_path}/feeds.db"
    await upgrade_database(url)
    engine = create_engine(url)
    async with FakeFeeds() as server, FeedFetcher(FetchSettings()) as fetcher:
        yield FeedService(SqlFeedStore(engine), fetcher, clock=lambda: T0, topic_ids=["drones"]), server
    await engine.dispose()


async def test_a_feed_url_is_fetched_once_and_named_after_its_title(
    service: tuple[FeedService, FakeFeeds],
) -> None:
    feeds, server = service
    server.serve("/feed.xml", sample_rss("One", "Two"))
    added = await feeds.add(server.url("/feed.xml"), topics=["drones"])
    assert (added.feed.name, added.entries, added.feed.topics) == ("fake-feed", 2, ("drones",))


async def test_a_page_url_leads_to_the_feed_it_announces(service: tuple[FeedService, FakeFeeds]) -> None:
    feeds, server = service
    server.serve("/", PAGE, content_type="text/html")
    server.serve("/feed.xml", sample_rss("One"))
    added = await feeds.add(server.url("/"), name="wire")
    assert added.feed.url == server.url("/feed.xml")
    assert added.discovered_from == server.url("/")


async def test_a_page_without_a_feed_is_refused_saying_so(service: tuple[FeedService, FakeFeeds]) -> None:
    feeds, server = service
    server.serve("/", b"<html><body><p>No feed here</p></body></html>", content_type="text/html")
    with pytest.raises(FeedProblem, match="announces no feed"):
        await feeds.add(server.url("/"))
    assert await feeds.list_feeds() == []


async def test_a_dead_url_is_refused_with_the_http_status(service: tuple[FeedService, FakeFeeds]) -> None:
    feeds, server = service
    server.fail("/gone.xml", 404)
    with pytest.raises(FeedProblem, match="404"):
        await feeds.add(server.url("/gone.xml"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name"}, "cannot name a feed"),
        ({"topics": ["dragons"]}, "unknown topic"),
    ],
)
async def test_a_bad_name_or_topic_is_refused_before_any_fetch(
    service: tuple[FeedService, FakeFeeds], kwargs: dict[str, object], message: str
) -> None:
    feeds, server = service
    with pytest.raises(FeedProblem, match=message):
        await feeds.add(server.url("/feed.xml"), **kwargs)  # type: ignore[arg-type]
    assert server.requests == []


async def test_the_same_feed_twice_is_refused_naming_the_first(
    service: tuple[FeedService, FakeFeeds],
) -> None:
    feeds, server = service
    server.serve("/feed.xml", sample_rss("One"))
    await feeds.add(server.url("/feed.xml"), name="wire")
    with pytest.raises(FeedProblem, match="as 'wire'"):
        await feeds.add(server.url("/feed.xml"), name="again")


async def test_opml_export_then_import_gives_back_the_same_feeds(
    service: tuple[FeedService, FakeFeeds],
) -> None:
    feeds, server = service
    server.serve("/a.xml", sample_rss("One"))
    await feeds.add(server.url("/a.xml"), name="alpha")
    exported = await feeds.export_opml()
    assert await feeds.remove("alpha")
    result = await feeds.import_opml(exported.encode())
    assert result.added == ["fake-feed"]
    [feed] = await feeds.list_feeds()
    assert feed.url == server.url("/a.xml")
