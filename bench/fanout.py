"""Fan-out: one digest slot to 1,000 Discord channels and to 1,000 Slack channels, against the rate-limited fakes.

`await measure()` returns wall time against the floor each platform's limit sets (1,000 / 50 per second on
Discord, 1,000 / 20 per second for one Slack workspace), with lost and duplicated posts and the share of 429s.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.adapters.discord.sender import DiscordSender
from bot.adapters.slack.sender import SlackSender
from bot.app import build_delivery, open_app
from bot.core.ports import ChannelKey, Sender
from bot.core.summary import Summary
from bot.core.threads import ChannelShape
from bot.delivery.cron import ApsCronRules
from bot.delivery.metrics import DeliveryMetrics
from bot.settings import DeliverySettings, Settings
from tests.fakes.discord import TOKEN, FakeDiscord
from tests.fakes.slack import BOT_TOKEN, FakeSlack, RateLimits
from tests.fakes.threaded import own_loop

CHANNELS = 1000
DISCORD_RATE = 50.0  # requests per second per bot (Discord's global limit)
SLACK_RATE = 20.0  # messages per second for the workspace in this benchmark
SLOT = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TAXONOMY = Path("config/topics.yaml")
STORY = {
    "id": "fanout-story",
    "headline": "Partners agree on drone certification",
    "published": "2026-05-01T07:00:00+00:00",
    "topics": [
        {"title": "Drones", "text": "Certification protocols for drone components.", "tags": ["drones"]}
    ],
}


class _Clock:
    """Wall time that starts where it is set: the fan-out runs at its slot, and time passes as it really does,
    so a row a 429 put back is due again after its Retry-After, as it would be in `newsbot run`."""

    def __init__(self, at: datetime) -> None:
        self.set(at)

    def set(self, at: datetime) -> None:
        self._at, self._started = at, time.monotonic()

    def __call__(self) -> datetime:
        return self._at + timedelta(seconds=time.monotonic() - self._started)


async def _fan_out(platform: str, workspace: str, channels: list[str], sender: Sender) -> dict[str, Any]:
    """Schedule one digest slot on every channel, then time the tick and the posting of every row."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'fanout.db'}"
        clock = _Clock(SLOT - timedelta(minutes=1))
        now = clock()
        settings = Settings(
            database_url=url, taxonomy_path=TAXONOMY, delivery=DeliverySettings(serve_http=False)
        )
        metrics = DeliveryMetrics()
        async with open_app(settings, clock=clock) as app:
            await app.service.ingest([Summary.model_validate(STORY)])
            rules = ApsCronRules()
            for ch in channels:
                await app.channels.set_schedule(
                    ChannelKey(platform, workspace, ch),
                    cron="0 8 * * *",
                    timezone="UTC",
                    user=None,
                    now=now,
                    next_fire_at=rules.next_fire("0 8 * * *", "UTC", now),
                )
            # The same factory `newsbot run` uses, with the sender under test and the owner named. In
            # `newsbot run` the gateway's channel cache says what kind each channel is; here every
            # channel is a text channel, as the cache would say, so no REST lookup is counted.
            engine = build_delivery(
                app,
                senders={platform: sender},
                owner="bench",
                metrics=metrics,
                channel_hint=lambda channel: ChannelShape("thread", workspace),
            )
            outbox, worker = engine.worker.outbox, engine.worker
            clock.set(SLOT + timedelta(seconds=1))
            started = time.perf_counter()
            await engine.ticker.tick()
            ticked = time.perf_counter() - started
            while (await outbox.counts()).get("sent", 0) < len(channels):
                await worker.drain()
                if await outbox.find(status="pending", limit=1):
                    await asyncio.sleep(0.01)  # a 429 put a row back until its Retry-After
            wall = time.perf_counter() - started
            counts = await outbox.counts()
            for close in engine.on_close:
                await close()
    registry = metrics.registry
    sends = registry.get_sample_value("newsbot_send_seconds_count", {"platform": platform}) or 0.0
    limited = registry.get_sample_value("newsbot_rate_limited_total", {"platform": platform}) or 0.0
    return {"wall": wall, "counts": counts, "sends": sends, "limited": limited, "tick": ticked}


async def _discord() -> dict[str, float]:
    async with own_loop(FakeDiscord(global_limit=int(DISCORD_RATE), channel_limit=5)) as fake:
        channels = [str(1300000000000000000 + n) for n in range(CHANNELS)]
        sender = DiscordSender(fake.api_base, TOKEN)
        try:
            result = await _fan_out("discord", "1200000000000000001", channels, sender)
        finally:
            await sender.close()
        per_channel = Counter(m["channel_id"] for msgs in fake.channel_messages.values() for m in msgs)
    floor = CHANNELS / DISCORD_RATE
    return {
        "discord_fanout_seconds": round(result["wall"], 2),
        "discord_fanout_tick_seconds": round(result["tick"], 3),
        "discord_fanout_ratio": round(result["wall"] / floor, 3),
        "discord_fanout_lost": float(sum(1 for ch in channels if per_channel[ch] == 0)),
        "discord_fanout_duplicates": float(sum(n - 1 for n in per_channel.values() if n > 1)),
        "fanout_429_pct": round(100.0 * result["limited"] / max(1.0, result["sends"]), 3),
    }


async def _slack() -> dict[str, float]:
    channels = [f"C{n:08d}" for n in range(CHANNELS)]
    limits = RateLimits(per_channel_interval=1.0, workspace_per_minute=int(SLACK_RATE * 60))
    async with own_loop(FakeSlack(channels=set(channels), limits=limits)) as fake:
        sender = SlackSender(BOT_TOKEN, api_base=fake.api_base)
        result = await _fan_out("slack", "T0FAKE", channels, sender)
        per_channel = Counter(p.channel for p in fake.posted)
        calls = fake.calls_to("chat.postMessage")
        # The fake's workspace cap is per minute; also check no one-second window went over the rate.
        times = sorted(c.at for c in calls)
        busiest = max((sum(1 for u in times[i:] if u - t < 1.0) for i, t in enumerate(times)), default=0)
    floor = CHANNELS / SLACK_RATE
    return {
        "slack_fanout_seconds": round(result["wall"], 2),
        "slack_fanout_tick_seconds": round(result["tick"], 3),
        "slack_fanout_ratio": round(result["wall"] / floor, 3),
        "slack_fanout_lost": float(sum(1 for ch in channels if per_channel[ch] == 0)),
        "slack_fanout_duplicates": float(sum(n - 1 for n in per_channel.values() if n > 1)),
        "slack_fanout_busiest_second": float(busiest),
        "slack_fanout_429_pct": round(100.0 * result["limited"] / max(1.0, result["sends"]), 3),
    }


async def measure() -> dict[str, float]:
    """Run both fan-outs and return their figures."""
    return {**await _discord(), **await _slack()}


async def measure_in_child() -> dict[str, float]:
    """Run both fan-outs in a fresh process, as the sender runs in `newsbot run`: the bench's own heap
    (a 100k-summary archive's worth of objects) would otherwise stall the event loop with collections."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fanout", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the fan-out bench failed: {err.decode(errors='replace')[-2000:]}")
    figures: dict[str, float] = json.loads(out)
    return figures


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))


async def measure_replicas() -> dict[str, float]:
    """Three `newsbot run` replicas on one PostgreSQL fan a digest out to 1,000 channels, then again with
    one of them SIGKILLed halfway (tests/delivery/replicas.py, as the test runs them)."""
    from bench.postgres import NoPostgres, temporary_database
    from tests.delivery.replicas import three_replicas

    try:
        async with temporary_database() as url:
            with tempfile.TemporaryDirectory() as logs:
                # The default window margin, as a user runs it (the test, on a busy CI machine, runs 0.05).
                async with three_replicas(url, Path(logs), window_margin=None) as replicas:
                    calm = await replicas.fan_out()
                    killed = await replicas.fan_out(kill_midway=True)
    except NoPostgres as error:
        print(f"three-replica fan-out skipped: {error}", file=sys.stderr)
        return {}
    return {
        "discord_fanout_seconds_3_replicas": round(calm.seconds, 2),
        "discord_fanout_ratio_3_replicas": round(calm.ratio, 3),
        "fanout_429_pct_3_replicas": round(calm.pct_429, 3),
        "discord_fanout_lost_3_replicas": float(calm.lost + killed.lost),
        "discord_fanout_duplicates_3_replicas": float(calm.duplicated + killed.duplicated),
        "discord_fanout_ratio_3_replicas_one_killed": round(killed.ratio, 3),
        "fanout_429_pct_3_replicas_one_killed": round(killed.pct_429, 3),
    }
