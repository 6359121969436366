"""The feed polling `newsbot run` keeps going: due feeds every tick, and old seen keys dropped once a day."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.store.feeds import SqlFeedStore

if TYPE_CHECKING:
    from bot.feeds.poller import FeedPoller

log = logging.getLogger(__name__)

FORGET_EVERY = timedelta(days=1)


class _NothingYet(Exception):
    """No feed is followed yet: nothing to open or poll this tick."""


class FeedPolling:
    """Poll due feeds until asked to stop; a failing round is logged once and retried next tick."""

    def __init__(
        self,
        open_poller: Callable[[], AbstractAsyncContextManager[FeedPoller]],
        feeds: SqlFeedStore,
        *,
        clock: Callable[[], datetime],
        tick_seconds: float,
        forget_after: timedelta,
    ) -> None:
        self.open_poller = open_poller
        self.feeds = feeds
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.forget_after = forget_after
        self._failing = False

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set."""
        forgotten_at: datetime | None = None
        announced = False
        poller: FeedPoller | None = None
        async with AsyncExitStack() as opened:
            while not stop.is_set():
                try:
                    if poller is None:
                        # The fetcher and parsers are opened with the first feed, so a bot that follows
                        # none holds neither their session nor their modules (bench: idle memory).
                        count = len(await self.feeds.list_feeds())
                        if not announced:  # the start-up line: what this process polls
                            log.info(
                                "feeds: polling %d feed(s), due ones every %s s", count, self.tick_seconds
                            )
                            announced = True
                        if count == 0:
                            raise _NothingYet
                        poller = await opened.enter_async_context(self.open_poller())
                    # A backlog drains at full concurrency: poll_due claims until nothing is due.
                    reports = await poller.poll_due(stop)
                    unrecorded = [r for r in reports if r.error and r.error.startswith("could not record")]
                    if unrecorded and len(unrecorded) == len(reports):
                        raise RuntimeError(unrecorded[0].error)  # the database, not the feeds: back off
                    now = self.clock()
                    if forgotten_at is None or now - forgotten_at >= FORGET_EVERY:
                        dropped = await self.feeds.forget(older_than=now - self.forget_after)
                        if dropped:
                            log.info("feeds: forgot %d entry keys gone from their feeds", dropped)
                        forgotten_at = now
                    if self._failing:
                        log.warning("feeds: polling works again")
                        self._failing = False
                except _NothingYet:
                    pass
                except Exception as error:
                    if not self._failing:  # one line per outage, not one per tick
                        log.error("feeds: polling failed (%s); retrying every %s s", error, self.tick_seconds)
                        self._failing = True
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.tick_seconds)
