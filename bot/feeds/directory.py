"""The command table's view of feeds (bot.core.ports.FeedDirectory): chat lists, adds and removes feeds here.

The core may not know the feed store or the fetcher, so this adapter turns `Feed` rows into the core's
`FeedInfo` and every refusal of the feed service into a `FeedChange` whose message names the feed or URL.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from bot.core.ports import FeedChange, FeedInfo, FeedStatus
from bot.feeds.poller import feed_topic
from bot.feeds.service import FeedProblem, FeedService
from bot.store.feeds import Feed, SqlFeedStore


def feed_status(feed: Feed) -> FeedStatus:
    """Return how a feed's polling stands: paused (with a reason), failing, ok, or new (never fetched)."""
    if feed.paused_reason:
        return "paused"
    if feed.fail_count or feed.last_error:
        return "failing"
    if feed.last_fetch_at is None:
        return "new"
    return "ok"


def feed_info(feed: Feed) -> FeedInfo:
    """Return a stored feed as the core's FeedInfo."""
    return FeedInfo(
        name=feed.name,
        url=feed.url,
        title=feed.title,
        status=feed_status(feed),
        stories=feed.stories,
        last_fetch_at=feed.last_fetch_at,
        next_fetch_at=feed.next_fetch_at,
        last_error=feed.last_error,
        paused_reason=feed.paused_reason,
    )


class SqlFeedDirectory:
    """FeedDirectory over the feed store; adding opens a feed service (and its fetcher) for that one call."""

    def __init__(
        self, store: SqlFeedStore, open_service: Callable[[], AbstractAsyncContextManager[FeedService]]
    ) -> None:
        self.store = store
        self.open_service = open_service

    async def list_feeds(self) -> list[FeedInfo]:
        """Return every followed feed, by name."""
        return [feed_info(f) for f in await self.store.list_feeds()]

    async def get_feed(self, name: str) -> FeedInfo | None:
        """Return the feed called `name`, if it is followed."""
        found = await self.store.get(name)
        return feed_info(found) if found is not None else None

    async def add_feed(self, url: str, *, user: str | None) -> FeedChange:
        """Follow the feed at `url` after fetching it once; a refusal comes back with its reason."""
        try:
            async with self.open_service() as service:
                added = await service.add(url, user=user)
        except FeedProblem as problem:
            return FeedChange(False, str(problem))
        feed = added.feed
        found = f" (found on {added.discovered_from})" if added.discovered_from else ""
        return FeedChange(
            True,
            f"Following {feed.name}: {feed.url}{found}, {added.entries} entries now. "
            "Its current entries are stored without alerts; new ones alert channels that "
            f"/subscribe {feed_topic(feed.name)}.",
        )

    async def remove_feed(self, name: str) -> FeedChange:
        """Stop following a feed; its stories stay in the archive."""
        if await self.store.remove(name):
            return FeedChange(True, f"No longer following {name}; its stories stay in the archive.")
        return FeedChange(False, f"No feed is called {name!r}; /feeds lists them.")
