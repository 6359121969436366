"""The polling loop of `newsbot run`: a database outage is one log line, and its end is another."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.feeds.poller import PollReport
from bot.feeds.runner import FeedPolling

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class FlakyPoller:
    """Fails `failures` rounds as an unreachable database would, then finds nothing due."""

    def __init__(self, failures: int, stop: asyncio.Event) -> None:
        self.failures = failures
        self.rounds = 0
        self.stop = stop

    async def poll_due(self, stop: asyncio.Event | None = None) -> list[PollReport]:
        self.rounds += 1
        if self.rounds <= self.failures:
            raise ConnectionRefusedError("database at 127.0.0.1:5432 refused the connection")
        if self.rounds > self.failures + 1:
            self.stop.set()
        return []


class NoForgetting:
    async def forget(self, *, older_than: datetime) -> int:
        return 0

    async def list_feeds(self) -> list[Any]:  # the start-up line counts the feeds
        return ["one feed"]


async def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    poller = FlakyPoller(failures=5, stop=stop)

    @asynccontextmanager
    async def opened() -> AsyncIterator[Any]:
        yield poller

    polling = FeedPolling(
        opened,
        NoForgetting(),
        clock=lambda: T0,
        tick_seconds=0.001,
        forget_after=timedelta(days=90),  # type: ignore[arg-type]
    )
    with caplog.at_level(logging.INFO, logger="bot.feeds.runner"):
        await asyncio.wait_for(polling.run(stop), 10)
    lines = [r.getMessage() for r in caplog.records]
    assert poller.rounds >= 7
    assert sum("polling failed" in line for line in lines) == 1
    assert sum("works again" in line for line in lines) == 1


async def test_a_bot_that_follows_no_feed_opens_no_fetcher_until_one_is_added() -> None:
    stop = asyncio.Event()
    opened: list[int] = []
    store = NoForgetting()
    followed: list[Any] = []
    store.list_feeds = lambda: _feeds(followed)  # type: ignore[method-assign]
    poller = FlakyPoller(failures=0, stop=stop)

    @asynccontextmanager
    async def opening() -> AsyncIterator[Any]:
        opened.append(1)
        yield poller

    polling = FeedPolling(
        opening,
        store,
        clock=lambda: T0,
        tick_seconds=0.001,
        forget_after=timedelta(days=90),  # type: ignore[arg-type]
    )
    task = asyncio.create_task(polling.run(stop))
    await asyncio.sleep(0.05)
    assert opened == []  # ticks went by with no feed: nothing opened
    followed.append("wire")
    await asyncio.wait_for(task, 10)  # the poller opens, polls twice and stops the loop
    assert opened == [1]


async def _feeds(followed: list[Any]) -> list[Any]:
    return list(followed)
