"""Feed polling figures: feeds per second, new item → alert row, and the memory of polling many feeds.

`python -m bench.feeds` polls 2,000 feeds served from loopback by a separate process (so the server's
work is not counted against the poller): 90 % answer 304, 10 % carry one new item among 50. The
feeds' earlier state (ETag, the 50 entries seen) is seeded into the database first, as a real
deployment would have it after its first polls. Figures, not assertions: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
HOSTS = 8  # loopback addresses the feeds are spread over, as feeds live on many hosts


def host_of(i: int) -> str:
    """Return the loopback address feed `i` is served from."""
    return f"127.0.0.{1 + i % HOSTS}"


def item_fields(i: int, j: int) -> tuple[str, str, str, str, datetime]:
    """Return (guid, title, link, text, published) of item j of feed i; j = -1 is the new item."""
    n = j + 1
    return (
        f"urn:bench:{i}:{n}",
        f"Feed {i} story {n} on drones and supply chains",
        f"https://bench{i}.example/story/{n}",
        f"Officials discussed drones and supply chains in story {n} of feed {i}.",
        T0 - timedelta(hours=j),
    )


def body(i: int, changed: bool) -> bytes:
    """Return feed i's RSS: 50 items, and a new one on top when it changed."""
    items = []
    for j in range(-1 if changed else 0, ITEMS):
        guid, title, link, text, when = item_fields(i, j)
        items.append(
            f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>"
            f"<pubDate>{format_datetime(when)}</pubDate><description>{text}</description></item>"
        )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench feed {i}</title>'
        f"<link>https://bench{i}.example/</link><description>bench</description>{''.join(items)}</channel></rss>"
    ).encode()


async def serve(port: int) -> None:
    """Serve /feed/{i}.xml on every loopback host: ETag "v1" is current unless the feed changed."""

    async def handle(request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        changed = i % CHANGED_EVERY == 0
        etag = '"v2"' if changed else '"v1"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body(i, changed), content_type="application/rss+xml", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/feed/{i}.xml", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for h in range(HOSTS):
        await web.TCPSite(runner, f"127.0.0.{1 + h}", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def seed(database_url: str, feeds: int) -> None:
    """Store `feeds` feeds as their earlier polls left them: ETag v1, every entry seen, due now."""
    from sqlalchemy import insert

    from bot.feeds.poller import content_hash
    from bot.sources.feed import FeedEntry
    from bot.store.engine import create_engine
    from bot.store.migrate import upgrade_database
    from bot.store.tables import feed_entries
    from bot.store.tables import feeds as feeds_table

    await upgrade_database(database_url)
    engine = create_engine(database_url)
    port = int(os.environ["BENCH_FEED_PORT"])
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
                        "next_fetch_at": T0,
                        "last_parsed_at": T0,
                        "last_announced": T0 - timedelta(days=1),
                        "fail_count": 0,
                        "created_at": T0,
                    }
                    for i in range(feeds)
                ],
            )
            rows = []
            for i in range(feeds):
                for j in range(ITEMS):
                    guid, title, link, text, when = item_fields(i, j)
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
                            "first_seen_at": T0,
                            "last_seen_at": T0,
                        }
                    )
                if len(rows) >= 20_000:
                    await conn.execute(insert(feed_entries), rows)
                    rows = []
            if rows:
                await conn.execute(insert(feed_entries), rows)
    finally:
        await engine.dispose()


async def _server(port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.feeds", "serve", "--port", str(port), stdout=asyncio.subprocess.PIPE
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


async def measure_polling(feeds: int = 2_000) -> dict[str, float]:
    """Poll `feeds` due feeds once with the poller `newsbot run` uses; return the figures."""
    from bot.app import feed_poller, open_app
    from bot.settings import Settings

    port = _free_port()
    os.environ["BENCH_FEED_PORT"] = str(port)
    server = await _server(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'feeds.db'}"
            await seed(url, feeds)
            settings = Settings(database_url=url)
            async with (
                open_app(settings, migrate=False) as app,
                feed_poller(app, clock=lambda: T0 + timedelta(minutes=1)) as poller,
            ):
                started = time.perf_counter()
                reports = []
                while batch := await poller.poll_due():
                    reports.extend(batch)
                elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        await server.wait()
    failed = [r.line() for r in reports if r.error]
    if failed:
        raise RuntimeError(f"{len(failed)} feeds failed in the bench, e.g. {failed[0]}")
    stored = sorted(r.store_ms for r in reports if r.store_ms is not None and r.new)
    updated = sum(r.updated for r in reports)
    return {
        "feeds_polled": len(reports),
        "feeds_per_s": round(len(reports) / elapsed, 1),
        "feeds_new_items": sum(r.new for r in reports),
        "feeds_unexpected_updates": updated,  # 0 unless the seeded state drifted from the parser's
        "feed_new_item_to_outbox_p50_ms": round(stored[len(stored) // 2], 2) if stored else 0.0,
        "feed_new_item_to_outbox_p99_ms": round(stored[min(len(stored) - 1, int(len(stored) * 0.99))], 2)
        if stored
        else 0.0,
    }


async def measure_in_child(feeds: int = 2_000) -> dict[str, Any]:
    """Run the polling bench in a fresh process, away from the bench's 100k-story heap."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.feeds",
        "poll",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["poll", "serve"], nargs="?", default="poll")
    parser.add_argument("--feeds", type=int, default=2_000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.what == "serve":
        asyncio.run(serve(args.port))
    else:
        print(json.dumps(asyncio.run(measure_polling(args.feeds))))


if __name__ == "__main__":
    main()
