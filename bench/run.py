"""`make bench`: ingest a synthetic archive, time /topic queries and digest rendering, write bench/results.json.

Figures, not assertions: the machine is shared, so nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.adapters.discord.render import render_reply as render_discord
from bot.adapters.slack.render import render_reply as render_slack
from bot.app import open_app
from bot.core.digest import digest_reply
from bot.core.ingest import ingest_paths
from bot.settings import load_settings

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results.json"

# Words that the shipped taxonomy knows, mixed with filler so tagging has real work to do.
TOPIC_WORDS = [
    "drones", "unmanned aircraft", "semiconductors", "chipmakers", "foundry", "AI", "artificial intelligence",
    "rare earths", "lithium", "supply chains", "tariffs", "export controls", "double taxation",
    "economic coercion", "Taiwan Strait", "defense", "energy", "climate", "cybersecurity", "counter-drone",
]  # fmt: skip
FILLER = [
    "officials", "discussed", "cooperation", "frameworks", "investment", "partners", "ministers", "agreed",
    "statements", "regional", "forum", "delegation", "negotiations", "certification", "protocols", "joint",
    "development", "market", "access", "manufacturing", "capacity", "reporting", "oversight", "program",
    "budget", "timeline", "review", "industry", "analysts", "said",
]  # fmt: skip
TITLES = [
    "Supply Chain Security", "Drone Technology", "Critical Minerals", "Economic Coercion Response",
    "Taxation Barriers", "Energy Transition", "Cyber Defense", "Trade Measures", "Chip Investment",
]  # fmt: skip
QUERIES = [
    "drones", "ai", "semiconductors", "critical-minerals", "uav", "chips", "rare earths", "tariffs",
    "drnoes", "semicondutors", "cybersecurty", "taxaton", "pax silica", "certification protocols",
    "joint development", "market access review", "Drone", "export controls", "energy", "climate",
]  # fmt: skip


def sentence(rng: random.Random) -> str:
    words = rng.sample(FILLER, 9)
    words.insert(rng.randrange(len(words)), rng.choice(TOPIC_WORDS))
    return " ".join(words).capitalize() + "."


def make_summary(i: int, rng: random.Random, start: datetime) -> dict[str, Any]:
    published = start + timedelta(minutes=i)
    return {
        "headline": f"Story {i}: {rng.choice(TITLES)} talks {rng.choice(FILLER)} {rng.choice(TOPIC_WORDS)}",
        "lede": " ".join(sentence(rng) for _ in range(2)),
        "published": published.isoformat(),
        "source": {"name": "Bench Wire", "url": f"https://example.com/bench/{i}"},
        "agreements": [sentence(rng)],
        "topics": [
            {"title": rng.choice(TITLES), "text": " ".join(sentence(rng) for _ in range(3))} for _ in range(8)
        ],
    }


def generate(count: int, files: int) -> list[Path]:
    """Write `count` summaries as JSON Lines files under bench/data/archive."""
    rng = random.Random(1234)
    folder = DATA / "archive"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    per_file = max(1, count // files)
    paths = []
    for f in range(files):
        lo, hi = f * per_file, count if f == files - 1 else (f + 1) * per_file
        path = folder / f"part-{f:03d}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for i in range(lo, hi):
                fh.write(json.dumps(make_summary(i, rng, start)) + "\n")
        paths.append(path)
    return paths


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rate(fn: Callable[[], object], seconds: float = 2.0) -> float:
    """Return calls per second of `fn` over about `seconds`."""
    n, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        fn()
        n += 1
    return n / elapsed


def fresh_database() -> Path:
    """Return the bench database path with any earlier run's files removed."""
    db = DATA / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db


async def bench(
    db: Path,
    paths: list[Path],
    count: int,
    queries: int,
    platforms: bool,
    feeds: bool,
    *,
    only_ingest: bool = False,
) -> dict[str, Any]:
    settings = load_settings().model_copy(update={"database_url": f"sqlite:///{db}"})
    async with open_app(settings) as app:
        started, cpu_started = time.perf_counter(), time.process_time()
        report = await ingest_paths(app.service, paths, workers=None)  # as `newsbot ingest` does
        ingest_s, ingest_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        # The worker processes' CPU too (bot/core/bulk.py): they have exited by now, so it is counted.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_cpu_s = children.ru_utime + children.ru_stime
        if report.errors:
            raise SystemExit(f"bench data failed to ingest: {report.errors[0]}")
        # The machine's one-minute load beside the rate: a figure from a busy machine is not comparable,
        # while the CPU seconds (every thread of this process) barely move with the load.
        ingest = {
            "ingest_per_s": round(count / ingest_s, 1),
            "ingest_s": round(ingest_s, 2),
            "ingest_cpu_s": round(ingest_cpu_s, 2),
            "ingest_workers_cpu_s": round(workers_cpu_s, 2),
            "ingest_load_average": round(os.getloadavg()[0], 2),
        }
        if only_ingest:
            return {**ingest, "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}

        rng = random.Random(99)
        timings = []
        for _ in range(queries):
            q = rng.choice(QUERIES)
            t0 = time.perf_counter()
            await app.service.topic(q)
            timings.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        digest = await app.service.digest(last=3)
        build_ms = (time.perf_counter() - t0) * 1000
        labels = app.taxonomy.labels()
        reply = digest_reply(digest, labels=labels)
        discord_per_s = rate(lambda: render_discord(digest_reply(digest, labels=labels)))
        slack_per_s = rate(lambda: render_slack(digest_reply(digest, labels=labels)))
        results: dict[str, Any] = {
            "summaries": await app.service.archive.count_stories(),
            "sections_per_summary": 8,
            **ingest,
            "topic_queries": queries,
            "topic_p50_ms": round(percentile(timings, 50), 3),
            "topic_p99_ms": round(percentile(timings, 99), 3),
            "digest_build_ms": round(build_ms, 2),
            "digest_stories": len(digest.entries),
            "digest_messages_discord": len(render_discord(reply)),
            "digest_messages_slack": len(render_slack(reply)),
            "render_discord_per_s": round(discord_per_s, 1),
            "render_slack_per_s": round(slack_per_s, 1),
        }
        if platforms:
            # The chat paths, end to end through the real client libraries and the loopback fakes,
            # against the archive just built.
            from bench import platform_discord, platform_slack

            results.update(await platform_discord.measure(app, interactions=queries))
            results.update(await platform_slack.measure(app, requests=queries))
    if platforms:
        from bench import fanout, platform_discord

        results["discord_idle_rss_mb"] = round(await platform_discord.idle_rss_mb(), 1)
        results.update(await fanout.measure_in_child())
        # What replicas share on PostgreSQL (left out, with the reason, when no server is reachable).
        from bench import limiter

        results.update(await limiter.measure())
        results.update(await fanout.measure_replicas())
        from bench import shards

        results.update(await shards.measure())
    if feeds:
        from bench import feeds as feed_bench

        # Polling 2,000 feeds, the peak memory of `newsbot run` polling 10,000, and parsing the corpus.
        results.update(await feed_bench.measure_in_child())
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summaries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument(
        "--no-platforms",
        dest="platforms",
        action="store_false",
        help="Skip the Discord/Slack round trips, idle memory and fan-out (about two minutes).",
    )
    parser.add_argument(
        "--no-feeds",
        dest="feeds",
        action="store_false",
        help="Skip feed polling, its memory and feed parsing (about three minutes).",
    )
    parser.add_argument(
        "--only",
        choices=["ingest"],
        help="Measure only this part: `--only ingest` times ingest_paths and nothing after it (under a minute).",
    )
    args = parser.parse_args()
    db = fresh_database()
    paths = generate(args.summaries, files=max(1, args.summaries // 5000))
    results = asyncio.run(
        bench(
            db,
            paths,
            args.summaries,
            args.queries,
            args.platforms,
            args.feeds,
            only_ingest=args.only == "ingest",
        )
    )
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    existing.update(results)
    RESULTS.write_text(json.dumps(existing, indent=2) + "\n")
    table = Table("figure", "value", title="newsbot bench")
    for key, value in results.items():
        table.add_row(key, str(value))
    Console().print(table)
    Console().print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
