"""Feed polling figures: feeds per second, new item → alert row, and the memory of polling many feeds.

`python -m bench.feeds` polls 2,000 feeds served from loopback by a separate process (so the server's
work is not counted against the poller): 90 % answer 304, 10 % carry one new item among 50. The
feeds' earlier state (ETag, and for the feeds that changed the 50 entries seen) is seeded into the
database first, as a real deployment would have it after its first polls; a channel follows every
changed feed, so each new item writes its alert row. Then a real `newsbot run` (Discord against the
loopback fake) polls 10,000 such feeds and its peak RSS is read. Figures, not assertions: the machine
is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiohttp import web

ITEMS = 50
CHANGED_EVERY = 10  # one feed in ten carries a new item
HOSTS = 8  # loopback addresses the feeds are spread over, as feeds live on many hosts
CHANNEL = ("discord", "1200000000000000001", "1300000000000000001")  # follows every changed feed
RSS_FEEDS = 10_000
RSS_WAIT_SECONDS = 600.0  # give up on the RSS run if the feeds are not all fetched by then


def host_of(i: int) -> str:
    """Return the loopback address feed `i` is served from."""
    return f"127.0.0.{1 + i % HOSTS}"


def changed(i: int) -> bool:
    """Return whether feed `i` carries a new item since its seeded state."""
    return i % CHANGED_EVERY == 0


def item_fields(i: int, j: int, t0: datetime) -> tuple[str, str, str, str, datetime]:
    """Return (guid, title, link, text, published) of item j of feed i; j = -1 is the new item."""
    n = j + 1
    return (
        f"urn:bench:{i}:{n}",
        f"Feed {i} story {n} on drones and supply chains",
        f"https://bench{i}.example/story/{n}",
        f"Officials discussed drones and supply chains in story {n} of feed {i}.",
        t0 - timedelta(hours=j),
    )


def body(i: int, t0: datetime) -> bytes:
    """Return feed i's RSS: 50 items, and a new one on top when it changed."""
    items = []
    for j in range(-1 if changed(i) else 0, ITEMS):
        guid, title, link, text, when = item_fields(i, j, t0)
        items.append(
            f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>"
            f"<pubDate>{format_datetime(when)}</pubDate><description>{text}</description></item>"
        )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench feed {i}</title>'
        f"<link>https://bench{i}.example/</link><description>bench</description>{''.join(items)}</channel></rss>"
    ).encode()


async def serve(port: int, t0: datetime) -> None:
    """Serve /feed/{i}.xml on every loopback host: ETag "v1" is current unless the feed changed."""

    async def handle(request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        etag = '"v2"' if changed(i) else '"v1"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body(i, t0), content_type="application/rss+xml", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/feed/{i}.xml", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for h in range(HOSTS):
        await web.TCPSite(runner, f"127.0.0.{1 + h}", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def seed(database_url: str, feeds: int, port: int, t0: datetime) -> None:
    """Store `feeds` feeds as their earlier polls left them (ETag v1, entries seen, due at t0).

    Only the changed feeds' entries are seeded: a 304 never reads them, and 500,000 rows for the
    10,000-feed run would take longer to write than the run itself.
    """
    from sqlalchemy import insert

    from bot.feeds.poller import content_hash, feed_topic
    from bot.sources.feed import FeedEntry
    from bot.store.engine import create_engine
    from bot.store.migrate import upgrade_database
    from bot.store.tables import feed_entries, subscriptions
    from bot.store.tables import feeds as feeds_table

    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(feeds_table),
                [
                    {
                        "id": i + 1,
                        "name": f"bench-{i}",
                        "url": f"http://{host_of(i)}:{port}/feed/{i}.xml",
                        "added_url": f"http://{host_of(i)}:{port}/feed/{i}.xml",
                        "title": f"Bench feed {i}",
                        "topics": "",
                        "full_text": False,
                        "etag": '"v1"',
                        "next_fetch_at": t0,
                        "last_parsed_at": t0 - timedelta(hours=1),
                        "last_announced": t0 - timedelta(days=1),
                        "fail_count": 0,
                        "created_at": t0 - timedelta(days=1),
                    }
                    for i in range(feeds)
                ],
            )
            platform, workspace, channel = CHANNEL
            await conn.execute(
                insert(subscriptions),
                [
                    {
                        "platform": platform,
                        "workspace": workspace,
                        "channel": channel,
                        "topic_id": feed_topic(f"bench-{i}"),
                        "created_at": t0 - timedelta(days=1),
                    }
                    for i in range(feeds)
                    if changed(i)
                ],
            )
            rows = []
            for i in filter(changed, range(feeds)):
                for j in range(ITEMS):
                    guid, title, link, text, when = item_fields(i, j, t0)
                    entry = FeedEntry(title, link, when, None, None, text, (), j, raw_id=guid)
                    rows.append(
                        {
                            "feed_id": i + 1,
                            "key": entry.key,
                            "key_kind": entry.key_kind,
                            "fingerprint": entry.fingerprint,
                            "content_sha256": content_hash(entry),
                            "summary_id": None,
                            "quiet": False,
                            "published": when,
                            "first_seen_at": t0 - timedelta(hours=1),
                            "last_seen_at": t0 - timedelta(hours=1),
                        }
                    )
                if len(rows) >= 20_000:
                    await conn.execute(insert(feed_entries), rows)
                    rows = []
            if rows:
                await conn.execute(insert(feed_entries), rows)
    finally:
        await engine.dispose()


async def _server(port: int, t0: datetime) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.feeds",
        "serve",
        "--port",
        str(port),
        "--t0",
        t0.isoformat(),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if line.strip() != b"ready":
        raise RuntimeError("the bench feed server did not start")
    return proc


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2) if ordered else 0.0


async def _alert_rows(database_url: str) -> int:
    from sqlalchemy import func, select

    from bot.store.engine import create_engine
    from bot.store.tables import deliveries

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            stmt = select(func.count()).select_from(deliveries).where(deliveries.c.kind == "alert")
            return int((await conn.execute(stmt)).scalar_one())
    finally:
        await engine.dispose()


async def measure_polling(feeds: int = 2_000) -> dict[str, float]:
    """Poll `feeds` due feeds once with the poller `newsbot run` uses; return the figures."""
    from bot.app import feed_poller, open_app
    from bot.settings import Settings

    t0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # a fixed clock: the same decisions every run
    port = _free_port()
    server = await _server(port, t0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'feeds.db'}"
            await seed(url, feeds, port, t0)
            settings = Settings(database_url=url)
            async with (
                open_app(settings, migrate=False) as app,
                feed_poller(app, clock=lambda: t0 + timedelta(minutes=1)) as poller,
            ):
                started, cpu = time.perf_counter(), time.process_time()
                reports = await poller.poll_due()
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            alerts = await _alert_rows(url)
    finally:
        server.terminate()
        await server.wait()
    failed = [r.line() for r in reports if r.error]
    if failed:
        raise RuntimeError(f"{len(failed)} feeds failed in the bench, e.g. {failed[0]}")
    stored = [r.store_ms for r in reports if r.store_ms is not None and r.new]
    return {
        "feeds_polled": len(reports),
        "feeds_per_s": round(len(reports) / elapsed, 1),
        # The poller's CPU seconds (all its threads): on a shared machine, what the wall time hides.
        "feeds_per_cpu_s": round(len(reports) / cpu, 1),
        "feeds_new_items": sum(r.new for r in reports),
        "feeds_alert_rows": alerts,  # one per new item: the channel follows every changed feed
        "feeds_unexpected_updates": sum(r.updated for r in reports),  # 0 unless the seed drifted
        "feed_new_item_to_outbox_p50_ms": _p(stored, 0.5),
        "feed_new_item_to_outbox_p99_ms": _p(stored, 0.99),
    }


async def _unfetched(database_url: str) -> int:
    from sqlalchemy import func, select

    from bot.store.engine import create_engine
    from bot.store.tables import feeds

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            stmt = select(func.count()).select_from(feeds).where(feeds.c.last_fetch_at.is_(None))
            return int((await conn.execute(stmt)).scalar_one())
    finally:
        await engine.dispose()


async def measure_poll_rss(feeds: int = RSS_FEEDS) -> dict[str, float]:
    """Return the peak RSS (VmHWM) of a real `newsbot run` while it polls `feeds` due feeds once."""
    from bench.platform_discord import memory_mb
    from tests.fakes.discord import FakeDiscord
    from tests.fakes.process import discord_run_env, start_module, stop_process

    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)  # all due now
    port = _free_port()
    server = await _server(port, t0)
    try:
        async with FakeDiscord() as fake:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'newsbot.db'}"
                await seed(url, feeds, port, t0)
                env = discord_run_env(fake, url) | {
                    "NEWSBOT_FEEDS__TICK_SECONDS": "1",
                    "NEWSBOT_DELIVERY__SERVE_HTTP": "false",
                }
                proc = await start_module("bot", "run", env=env, stdout=asyncio.subprocess.DEVNULL)
                try:
                    started = time.perf_counter()
                    deadline = started + RSS_WAIT_SECONDS
                    while (left := await _unfetched(url)) and time.perf_counter() < deadline:
                        if proc.returncode is not None:
                            err = (await proc.stderr.read()).decode() if proc.stderr else ""
                            raise RuntimeError(f"`newsbot run` exited during the RSS bench: {err[-2000:]}")
                        await asyncio.sleep(0.5)
                    if left:
                        raise RuntimeError(
                            f"{left} of {feeds} feeds were not fetched in {RSS_WAIT_SECONDS} s"
                        )
                    elapsed = time.perf_counter() - started
                    peak = memory_mb(proc.pid, "VmHWM")
                finally:
                    await stop_process(proc)
    finally:
        server.terminate()
        await server.wait()
    return {
        "feed_poll_rss_mb": peak,
        "feed_poll_rss_feeds": feeds,
        "feed_poll_rss_run_s": round(elapsed, 1),  # start-up included: from spawn to the last fetch
    }


def measure_parse() -> dict[str, Any]:
    """Return feed_parse_ms_p50 over ../shared/feeds, or a note when the corpus is absent."""
    from bench import feed_parse

    if not (feed_parse.CORPUS / "README.md").is_file():
        return {"feed_parse_note": f"skipped: no feed corpus at {feed_parse.CORPUS.resolve()}"}
    return dict(feed_parse.measure())


async def measure_in_child(feeds: int = 2_000) -> dict[str, Any]:
    """Run every feed figure in a fresh process, away from the bench's 100k-story heap."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.feeds",
        "all",
        "--feeds",
        str(feeds),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the feed bench failed: {err.decode(errors='replace')[-2000:]}")
    figures: dict[str, Any] = json.loads(out)
    return figures


async def measure_all(feeds: int, rss_feeds: int) -> dict[str, Any]:
    """Return the polling, memory and parsing figures."""
    return {**await measure_polling(feeds), **await measure_poll_rss(rss_feeds), **measure_parse()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["all", "poll", "rss", "parse", "serve"], nargs="?", default="all")
    parser.add_argument("--feeds", type=int, default=2_000)
    parser.add_argument("--rss-feeds", type=int, default=RSS_FEEDS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--t0", type=datetime.fromisoformat, default=None)
    args = parser.parse_args()
    if args.what == "serve":
        asyncio.run(serve(args.port, args.t0))
        return
    figures: dict[str, Any]
    if args.what == "poll":
        figures = asyncio.run(measure_polling(args.feeds))
    elif args.what == "rss":
        figures = asyncio.run(measure_poll_rss(args.rss_feeds))
    elif args.what == "parse":
        figures = measure_parse()
    else:
        figures = asyncio.run(measure_all(args.feeds, args.rss_feeds))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
