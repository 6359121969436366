"""Two real `newsbot run` processes on one PostgreSQL share 200 feeds: one fetch per due time, one alert per item.

The feeds are served by the loopback feed server, which counts requests per path; a channel follows
every feed through the channel store, and its alerts go to the loopback Discord, which keeps every
message posted. Due-ness is driven from the test by moving `feeds.next_fetch_at` (the poll interval
cannot go below five minutes), so both processes see the same feeds fall due at the same moment.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.ports import ChannelKey
from bot.feeds.poller import feed_topic
from bot.store.channels import SqlChannelStore
from bot.store.engine import create_engine
from bot.store.feeds import SqlFeedStore
from bot.store.migrate import upgrade_database
from bot.store.tables import deliveries, feeds
from tests.fakes.discord import GUILD_ID, FakeDiscord
from tests.fakes.feeds import FakeFeeds, Route
from tests.fakes.process import discord_run_env, start_module, stop_process

FEEDS = 200
CHANGED = range(0, FEEDS, 5)  # the feeds that gain one item between the two due times
CHANNEL = ChannelKey("discord", str(GUILD_ID), "1300000000000000001")
# Dated today: the bots run on the real clock, and an entry older than a week is stored but not alerted.
PUBLISHED = datetime.now(UTC).replace(microsecond=0)
SETTLE = 1.5  # seconds of further ticks after the last fetch, in which a second fetch would show
WITHIN = 40.0  # seconds either process may take to fetch every due feed


def _rss(feed: int, items: int) -> bytes:
    entries = "".join(
        f"<item><guid>urn:mp:{feed}:{n}</guid><title>{_title(feed, n)}</title>"
        f"<link>https://mp{feed}.example/{n}</link><pubDate>{format_datetime(_published(feed, n))}</pubDate>"
        f"<description>{_title(feed, n)} was discussed by officials.</description></item>"
        for n in reversed(range(items))
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}</title>'
        f"<link>https://mp{feed}.example/</link><description>d</description>{entries}</channel></rss>"
    ).encode()


def _published(feed: int, n: int) -> datetime:
    # A second of its own for every entry: the archive orders stories by a key drawn from the published
    # second, and many stories of one second stored at once by two processes is another test's subject.
    return PUBLISHED - timedelta(seconds=feed * 10 + (9 - n))


def _title(feed: int, n: int) -> str:
    return f"Feed {feed} story {n} on drone certification"


def _path(feed: int) -> str:
    return f"/feed/{feed}.xml"


async def _follow_feeds(engine: AsyncEngine, server: FakeFeeds) -> None:
    store, channels = SqlFeedStore(engine), SqlChannelStore(engine)
    now = datetime.now(UTC)
    for i in range(FEEDS):
        server.routes[_path(i)] = Route(body=_rss(i, 3), etag='"v1"')
        url = server.url(_path(i))
        await store.add(f"mp-{i}", url, added_url=url, now=now)
        await channels.subscribe(CHANNEL, feed_topic(f"mp-{i}"), user="u", now=now)


async def _count(engine: AsyncEngine, stmt: Select[tuple[int]]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def _wait(what: str, done: Callable[[], Awaitable[bool]], within: float = WITHIN) -> None:
    deadline = time.monotonic() + within
    while not await done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.2)


async def _fetched_since(engine: AsyncEngine, mark: datetime) -> bool:
    stale = or_(feeds.c.last_fetch_at.is_(None), feeds.c.last_fetch_at < mark)
    return await _count(engine, select(func.count()).where(stale)) == 0


async def _alerts(engine: AsyncEngine, *, status: str | None = None) -> int:
    wanted = [deliveries.c.kind == "alert"] + ([deliveries.c.status == status] if status else [])
    return await _count(engine, select(func.count()).where(*wanted))


def _hits(server: FakeFeeds) -> Counter[str]:
    return Counter(r.path for r in server.requests)


async def test_two_bots_fetch_each_due_feed_once_and_alert_each_new_item_once(
    postgres_url: str, tmp_path: Path
) -> None:
    await upgrade_database(postgres_url)  # before the bots start, so they do not both migrate
    engine = create_engine(postgres_url)
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    try:
        async with FakeFeeds() as server, FakeDiscord(global_limit=None, channel_limit=None) as discord:
            await _follow_feeds(engine, server)
            env = discord_run_env(discord, postgres_url) | {
                "NEWSBOT_CONFIG": str(config),
                "NEWSBOT_FEEDS__TICK_SECONDS": "0.2",
                "NEWSBOT_FEEDS__PER_HOST": "4",
                "NEWSBOT_DELIVERY__SERVE_HTTP": "false",
                "NEWSBOT_DELIVERY__POLL_SECONDS": "0.2",
            }
            logs = [(tmp_path / f"bot{n}.log").open("wb") for n in range(2)]
            started = datetime.now(UTC)
            # Their logs go to files: an unread pipe would fill up and stall a bot mid-poll.
            bots = [
                await start_module("bot", "run", env=env, stdout=log.fileno(), stderr=log.fileno())
                for log in logs
            ]
            try:
                # First due time: every feed fetched once, its entries stored, and nobody alerted.
                await _wait("every feed fetched once", lambda: _fetched_since(engine, started), within=60)
                await asyncio.sleep(SETTLE)
                assert _hits(server) == {_path(i): 1 for i in range(FEEDS)}
                assert await _alerts(engine) == 0
                assert discord.channel_messages.get(CHANNEL.channel, []) == []

                # One new item on some feeds, then every feed due again.
                for i in CHANGED:
                    server.routes[_path(i)] = Route(body=_rss(i, 4), etag='"v2"')
                mark = datetime.now(UTC)
                async with engine.begin() as conn:
                    await conn.execute(update(feeds).values(next_fetch_at=mark))
                await _wait("every feed fetched again", lambda: _fetched_since(engine, mark))
                await _wait("the alerts posted", lambda: _all_sent(engine))
                await asyncio.sleep(SETTLE)
            finally:
                for bot in bots:
                    await stop_process(bot)
                for log in logs:
                    log.close()
            assert _hits(server) == {_path(i): 2 for i in range(FEEDS)}
            assert await _alerts(engine) == len(CHANGED)
            posted = [json.dumps(m) for m in discord.channel_messages.get(CHANNEL.channel, [])]
            for i in range(FEEDS):
                new_title = _title(i, 3)
                times = sum(new_title in text for text in posted)
                assert times == (1 if i in CHANGED else 0), f"{new_title!r} posted {times} times"
                assert not any(_title(i, 0) in text for text in posted), f"feed {i}'s first poll alerted"
        for n, bot in enumerate(bots):
            output = (tmp_path / f"bot{n}.log").read_text(encoding="utf-8")
            assert bot.returncode == 0, output[-3000:]
            assert "Traceback" not in output, output[-3000:]
    finally:
        await engine.dispose()


async def _all_sent(engine: AsyncEngine) -> bool:
    return await _alerts(engine, status="sent") >= len(CHANGED)
