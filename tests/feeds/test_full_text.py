"""`--full-text` feeds: a teaser entry is stored with its page's article, and a page that fails falls back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, feed_poller, open_app
from bot.feeds.poller import FULL_TEXT_CONCURRENCY
from bot.settings import Settings
from tests.fakes.feeds import FakeFeeds

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ARTICLE = (
    "<!doctype html><html><head><title>Drone rules agreed</title></head><body>"
    "<nav>Home | World | Sport</nav><article><h1>Drone rules agreed</h1>"
    "<p>Regulators from both sides agreed common certification rules for small drones on Tuesday, "
    "after two years of talks between the aviation agencies and the manufacturers concerned.</p>"
    "<h2>What changes</h2><p>Makers will certify a model once and sell it in both markets, "
    "which the industry says saves months of paperwork for every new product line.</p>"
    "</article><footer>Copyright Example News</footer></body></html>"
)


def teaser_feed(base: str, count: int) -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>{base}/story/{i}</link><guid>s{i}</guid>"
        f"<description>Teaser {i}.</description></item>"
        for i in range(count)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><link>https://example.org/</link>'
        f"<description>d</description>{items}</channel></rss>"
    ).encode()


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'full.db'}", taxonomy_path=ROOT / "config" / "topics.yaml"
    )
    async with open_app(settings, clock=lambda: NOW) as application:
        yield application


async def test_a_full_text_feed_stores_the_article_of_each_entry_and_falls_back_when_a_page_fails(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeFeeds() as server:
        server.serve("/feed.xml", teaser_feed(server.base_url, 2))
        server.serve("/story/0", ARTICLE.encode(), content_type="text/html; charset=utf-8")
        server.fail("/story/1", 500)
        await app.feeds.add("wire", server.url("/feed.xml"), added_url="x", now=NOW, full_text=True)
        async with feed_poller(app) as poller:
            [report] = await poller.poll_named(["wire"])
    assert report.new == 2
    stories = {s.summary.headline: s.summary for s in await app.archive.recent_stories()}
    full = stories["Story 0"]
    text = " ".join(s.text or "" for s in full.all_sections()) + (full.lede or "")
    assert "certify a model once" in text
    assert "Copyright" not in text
    assert full.source is not None
    assert full.source.url == server.url("/story/0")
    assert stories["Story 1"].lede == "Teaser 1."
    assert f"full text of {server.url('/story/1')} not used" in caplog.text


async def test_full_text_pages_are_fetched_a_few_at_a_time_and_only_for_new_entries(app: App) -> None:
    async with FakeFeeds() as server:
        server.serve("/feed.xml", teaser_feed(server.base_url, 8))
        for i in range(8):
            server.serve(f"/story/{i}", ARTICLE.encode(), content_type="text/html", delay=0.05)
        await app.feeds.add("wire", server.url("/feed.xml"), added_url="x", now=NOW, full_text=True)
        async with feed_poller(app) as poller:
            await poller.poll_named(["wire"])
        assert len([r for r in server.requests if r.path.startswith("/story/")]) == 8
        assert server.max_in_flight <= FULL_TEXT_CONCURRENCY
        server.serve("/feed.xml", teaser_feed(server.base_url, 9))
        server.serve("/story/8", ARTICLE.encode(), content_type="text/html")
        async with feed_poller(app) as poller:
            await poller.poll_named(["wire"])
        # Only the new entry's page: entries already stored are not fetched again.
        assert len([r for r in server.requests if r.path.startswith("/story/")]) == 9


async def test_a_feed_without_full_text_never_fetches_entry_pages(app: App) -> None:
    async with FakeFeeds() as server:
        server.serve("/feed.xml", teaser_feed(server.base_url, 2))
        await app.feeds.add("wire", server.url("/feed.xml"), added_url="x", now=NOW)
        async with feed_poller(app) as poller:
            await poller.poll_named(["wire"])
        assert [r.path for r in server.requests] == ["/feed.xml"]
