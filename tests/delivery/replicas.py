"""Three real `newsbot run` processes on one PostgreSQL posting one digest to 1,000 Discord channels.

Shared by the test (tests/delivery/test_replicas.py: nothing lost, nothing twice, few 429s) and by
`make bench` (bench/fanout.py: how close to Discord's floor three replicas get). The loopback Discord
enforces the bot's 50 requests/s and each channel's 5 posts per 5 s with real 429s; every request it
receives is counted, so a replica that sends past the shared budget shows up as 429s, and one that posts
twice shows up as a second accepted POST.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from bot.core.ports import ChannelKey
from bot.store.channels import SqlChannelStore
from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database
from bot.store.outbox import SqlOutbox
from bot.store.shards import claimants
from bot.store.tables import schedules
from tests.fakes.discord import GUILD_ID, FakeDiscord
from tests.fakes.process import Replicas, discord_run_env
from tests.fakes.threaded import own_loop

REPLICAS = 3
CHANNELS = 1000
DISCORD_RATE = 50.0  # the fake's global limit, which is Discord's: requests per second per bot
FLOOR_SECONDS = CHANNELS / DISCORD_RATE
START_TIMEOUT = 40.0  # three processes importing discord.py at once on a busy two-core machine
POSTED = r"^/api/v10/channels/\d+/messages$"
# What each replica is told beyond the fake's address. Delivery in flight per replica is kept to what
# the shared budget serves in about a second, so a leased row never waits long enough to lose its lease;
# the lease is short so a killed replica's rows are taken over within the run.
SETTINGS = {
    "NEWSBOT_DELIVERY__SERVE_HTTP": "false",
    "NEWSBOT_DELIVERY__TICK_SECONDS": "0.5",
    "NEWSBOT_DELIVERY__POLL_SECONDS": "0.2",
    "NEWSBOT_DELIVERY__LEASE_SECONDS": "10",
    "NEWSBOT_DELIVERY__CONCURRENCY": "32",
    "NEWSBOT_DIGEST__POST_WHEN_EMPTY": "true",
    "NEWSBOT_FEEDS__ENABLED": "false",
    "NEWSBOT_LOG_LEVEL": "WARNING",
}


# The test's window margin. CI runs the fan-out beside the rest of the suite on a shared two-core
# machine, whose replicas reach the fake with more spread than the default 30 ms covers; 50 ms costs
# 2 % of the rate (README: raise the margin if 429s show). `make bench` measures the default, what a
# user runs, on a machine otherwise quiet.
TEST_WINDOW_MARGIN = 0.05


def channel_ids() -> list[str]:
    """Return the 1,000 channel ids the digest goes to."""
    return [str(1300000000000000000 + n) for n in range(CHANNELS)]


@dataclass(frozen=True, slots=True)
class FanOut:
    """What one digest to every channel looked like from Discord's side."""

    seconds: float  # from the first POST's arrival to the last accepted one's
    posts: int  # raw POSTs to channels, whatever their answer
    answered_429: int
    lost: int  # channels without a message
    duplicated: int  # channels showing more than one message
    reposted: int  # channels whose one message was accepted by more than one POST (a nonce repeat)
    sent_rows: int
    global_429: int = 0  # of answered_429, those for the bot's 50/s rather than a channel's bucket
    # When each 429 came, in seconds from the first POST, and when a replica was killed: what a failed
    # assertion shows, since a burst of 429s tells a different story right after the kill than spread out.
    timeline: str = ""

    @property
    def ratio(self) -> float:
        """Return the wall time over Discord's floor (1,000 posts at 50 a second)."""
        return self.seconds / FLOOR_SECONDS

    @property
    def pct_429(self) -> float:
        """Return the share of POSTs answered 429, in percent."""
        return 100.0 * self.answered_429 / max(1, self.posts)


class FanOutReplicas(Replicas):
    """Three `newsbot run` processes and the database and fake they share."""

    def __init__(self, fake: FakeDiscord, database_url: str, logs: Path, window_margin: float | None) -> None:
        super().__init__(logs, "replica")
        self.fake = fake
        self.window_margin = window_margin
        self.database_url = database_url
        self.engine = create_engine(database_url)
        self.outbox = SqlOutbox(self.engine)
        self.started_at = datetime.now(UTC)
        self.runs = 0

    async def start(self) -> None:
        """Schedule the digest far ahead on every channel, start the replicas, wait for their gateways."""
        channels = SqlChannelStore(self.engine)
        now = datetime.now(UTC)
        # The cron fires twelve hours from now, so no real slot falls between a fan-out's back-dated slot and
        # now: each fan-out's digest is the slot it set (with a fixed "0 8 * * *", runs between 08:00 and
        # 10:00 UTC all became 08:00 today, one dedupe key, and the second fan-out posted nothing).
        cron = f"0 {(now + timedelta(hours=12)).hour} * * *"
        for channel in channel_ids():
            await channels.set_schedule(
                ChannelKey("discord", str(GUILD_ID), channel),
                cron=cron,
                timezone="UTC",
                user=None,
                now=now,
                next_fire_at=now + timedelta(days=1),
            )
        margin = (
            {} if self.window_margin is None else {"NEWSBOT_DELIVERY__WINDOW_MARGIN": str(self.window_margin)}
        )
        await self.spawn({**discord_run_env(self.fake, self.database_url), **SETTINGS, **margin}, REPLICAS)
        # One replica runs the bot's one gateway shard; all three have opened their claims once they
        # are up (the delivery engine starts beside them).
        deadline = time.monotonic() + START_TIMEOUT
        while len(self.fake.sessions) < 1 or await claimants(self.engine) < REPLICAS:
            if time.monotonic() > deadline:
                raise AssertionError(f"the replicas did not all start: {self.tail()}")
            await asyncio.sleep(0.2)

    async def fan_out(self, *, kill_midway: bool = False) -> FanOut:
        """Make the digest due on every channel now and wait until every row is sent; with `kill_midway`,
        SIGKILL one replica once half the channels have their message."""
        before = len(self.fake.answers)
        limited_before = len(self.fake.rate_limited)
        # A digest's dedupe key is its slot's minute, so each fan-out takes a slot an hour earlier than
        # the last (well within the six hours a missed slot is still posted).
        self.runs += 1
        slot = self.started_at - timedelta(hours=self.runs)
        async with self.engine.begin() as conn:
            await conn.execute(update(schedules).values(next_fire_at=slot))
        sent_before = (await self.outbox.counts()).get("sent", 0)
        deadline = time.monotonic() + 6 * FLOOR_SECONDS
        killed: float | None = None
        while (sent := (await self.outbox.counts()).get("sent", 0) - sent_before) < CHANNELS:
            if time.monotonic() > deadline:
                seen = Counter(
                    (r.method, re.sub(r"\d{6,}", "N", r.path), st) for r, st in self.fake.answers[before:]
                )
                raise AssertionError(
                    f"run {self.runs}: only {sent} of {CHANNELS} rows were sent ({await self.outbox.counts()}; Discord saw "
                    f"{dict(seen.most_common(6))}):\n{self.tail()}"
                )
            if kill_midway and killed is None and self._accepted(before) >= CHANNELS // 2:
                victim = next(p for p in self.procs if p.returncode is None)
                killed = time.monotonic()
                victim.send_signal(signal.SIGKILL)  # no cleanup: its leases simply run out
                await victim.wait()
            await asyncio.sleep(0.2)
        return self._figures(before, sent, self.fake.rate_limited[limited_before:], killed)

    def _accepted(self, before: int) -> int:
        return sum(1 for rec, status in self.fake.answers[before:] if status == 200 and rec.method == "POST")

    def _figures(
        self, before: int, sent_rows: int, limited: list[tuple[float, bool]], killed: float | None
    ) -> FanOut:
        posted = re.compile(POSTED)
        answers = [
            (r, s) for r, s in self.fake.answers[before:] if r.method == "POST" and posted.search(r.path)
        ]
        accepted = [r for r, s in answers if s == 200]
        nonces = {r.json["nonce"] for r, _ in answers}
        shown = Counter(
            m["channel_id"]
            for msgs in self.fake.channel_messages.values()
            for m in msgs
            if m["nonce"] in nonces
        )
        accepted_per_channel = Counter(r.path.split("/")[-2] for r in accepted)
        start = min(r.at for r, _ in answers)
        events = [f"{at - start:.2f}{'g' if is_global else 'c'}" for at, is_global in limited]
        if killed is not None:
            events.append(f"killed at {killed - start:.2f}")
        return FanOut(
            seconds=max(r.at for r in accepted) - start,
            posts=len(answers),
            answered_429=sum(1 for _, s in answers if s == 429),
            lost=sum(1 for ch in channel_ids() if shown[ch] == 0),
            duplicated=sum(1 for n in shown.values() if n > 1),
            reposted=sum(1 for n in accepted_per_channel.values() if n > 1),
            sent_rows=sent_rows,
            global_429=sum(1 for _, is_global in limited if is_global),
            timeline=" ".join(events),
        )

    async def close(self) -> None:
        """Stop the replicas that are still running and let go of the database."""
        await self.stop_all()
        await self.engine.dispose()


async def _settle_disk(database_url: str) -> None:
    """Write out what earlier tests left dirty (PostgreSQL's pending checkpoint, the kernel's page cache).

    Disk writes were what bunched the replicas' requests past the window margin (a run beside an
    fsync-heavy writer met 1 % of 429s; CPU hogs alone met none). Late in the full suite, the dozens of
    databases earlier tests created and dropped were still being written back when the fan-out started.
    """
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("CHECKPOINT")
    finally:
        await engine.dispose()
    await asyncio.to_thread(os.sync)


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Keep this process's garbage collector off everything it held before the fan-out.

    The fake Discord counts a request when its thread in this process handles it. Late in the full
    suite, this process holds millions of objects from earlier tests, and a full collection of them
    stops every thread for a few hundred milliseconds: requests the replicas sent on time queue in the
    socket meanwhile, and are then counted together as a burst past 50 in a second (CI: 37 of 1,037 POSTs
    answered 429). A process holding a million dicts and collecting every 3 s met 49-50 429s per fan-out;
    Discord's own servers share no heap with the test. Frozen objects are never scanned again.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@asynccontextmanager
async def three_replicas(
    database_url: str, logs: Path, *, window_margin: float | None = TEST_WINDOW_MARGIN
) -> AsyncIterator[FanOutReplicas]:
    """Start the rate-limited loopback Discord and three replicas on `database_url` (migrated first), with
    `window_margin` (None: the setting's default)."""
    await upgrade_database(database_url)
    await _settle_disk(database_url)
    fake = FakeDiscord(global_limit=int(DISCORD_RATE), channel_limit=5, text_channels=tuple(channel_ids()))
    with _heap_frozen():
        async with own_loop(fake):
            replicas = FanOutReplicas(fake, database_url, logs, window_margin)
            try:
                await replicas.start()
                yield replicas
            finally:
                await replicas.close()
