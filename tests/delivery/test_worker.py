"""The worker's own decisions, one process on SQLite: when a row is tried again, what pauses a platform,
what the limiter learns from an answer, what /healthz and /metrics say, and how many posts run at once.

The end-to-end delivery tests (test_outbox.py, test_platforms.py, test_threads.py) see the posts; these pin
the numbers behind them (the exact retry time, attempt count and reason), which a user meets as a post
arriving too early, too late, or twice, and an operator as a wrong pause or a wrong count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.adapters.discord.sender import BucketState
from bot.core.ports import ChannelKey, Failed, RetryLater, SendOutcome, Sent, Unauthorized
from bot.delivery.ratelimit import Limiter
from bot.delivery.worker import AUTH_PROBE_SECONDS, NOTHING_NEW, STORY_GONE
from tests.delivery.helpers import FakeClock, RecordingSender, Stack, stack, summary
from tests.delivery.test_ratelimit import VirtualTime

START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
CHAN = ChannelKey("discord", "g1", "c1")
OTHER = ChannelKey("discord", "g1", "c2")
SLACK = ChannelKey("slack", "T1", "C1")


@asynccontextmanager
async def sqlite_stack(tmp_path: Path, **options: object) -> AsyncIterator[Stack]:
    async with stack(f"sqlite:///{tmp_path / 'newsbot.db'}", FakeClock(START), **options) as s:  # type: ignore[arg-type]
        yield s


async def alert_to(s: Stack, *keys: ChannelKey, story: str = "s1") -> None:
    for key in keys:
        await s.channels.subscribe(key, "drones", user="u", now=s.clock())
    await s.service.ingest([summary(story, f"Drones {story}", ["drones"])])


def counted(s: Stack, status: str, platform: str = "discord") -> float:
    value = s.metrics.registry.get_sample_value(
        "newsbot_deliveries_total", {"status": status, "platform": platform}
    )
    return value or 0.0


# -- when a row is tried again --------------------------------------------------------------------------


async def test_a_server_error_is_retried_after_the_longer_of_retry_after_and_the_backoff(
    tmp_path: Path,
) -> None:
    async with sqlite_stack(tmp_path, max_attempts=3) as s:
        s.senders["discord"].fail("c1", RetryLater(0.5, "502 bad gateway"), RetryLater(30.0, "503 busy"))
        await alert_to(s, CHAN)
        await s.worker.drain()
        [row] = await s.outbox.find()
        # Backoff(base=2, no jitter) waits 1 s after the first attempt: longer than the 0.5 s asked.
        assert (row.status, row.attempts, row.last_error, row.available_at) == (
            "pending",
            1,
            "502 bad gateway",
            START + timedelta(seconds=1),
        )
        assert row.bodies == [s.senders["discord"].attempts[0].body]  # the retry posts exactly what was tried
        s.clock.advance(seconds=1)
        await s.worker.drain()
        [row] = await s.outbox.find()
        # The second backoff is 2 s; the platform asked for 30.
        assert (row.attempts, row.available_at) == (2, START + timedelta(seconds=31))
        assert counted(s, "dead") == 0


async def test_the_last_allowed_attempt_gives_up_with_the_count_and_the_platforms_reason(
    tmp_path: Path,
) -> None:
    async with sqlite_stack(tmp_path, max_attempts=2) as s:
        s.senders["discord"].fail("c1", *[RetryLater(0.0, "502 bad gateway")] * 2)
        await alert_to(s, CHAN)
        await s.worker.drain()
        s.clock.advance(seconds=1)
        await s.worker.drain()
        [row] = await s.outbox.find()
        assert (row.status, row.attempts, row.last_error) == (
            "dead",
            2,
            "gave up after 2 attempts: 502 bad gateway",
        )
        [sub] = await s.channels.subscriptions(CHAN)
        assert sub.paused_reason == f"gave up after 2 attempts: 502 bad gateway (delivery {row.id})"
        assert counted(s, "dead") == 1


async def test_a_rate_limit_waits_exactly_its_retry_after_is_no_attempt_and_is_counted(
    tmp_path: Path,
) -> None:
    async with sqlite_stack(tmp_path, max_attempts=1) as s:
        s.senders["discord"].fail("c1", RetryLater(7.5, "429 rate limited (user)", rate_limited=True))
        await alert_to(s, CHAN)
        await s.worker.drain()
        [row] = await s.outbox.find()
        assert (row.status, row.attempts, row.available_at) == ("pending", 0, START + timedelta(seconds=7.5))
        assert row.last_error == "429 rate limited (user)"
        assert s.metrics.registry.get_sample_value("newsbot_rate_limited_total", {"platform": "discord"}) == 1
        s.clock.advance(seconds=7.5)
        await s.worker.drain()
        assert [p.channel for p in s.senders["discord"].posts] == ["c1"]
        assert counted(s, "sent") == 1


async def test_a_refusal_for_good_is_dead_and_one_waiting_for_a_person_is_paused(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        s.senders["discord"].fail("c1", Failed("403 Missing Access (code 50001)"))
        s.senders["discord"].fail("c2", Failed("missing Send Messages in Threads", paused=True))
        await alert_to(s, CHAN, OTHER)
        await s.worker.drain()
        rows = {d.key: d for d in await s.outbox.find()}
        assert (rows[CHAN].status, rows[CHAN].last_error, rows[CHAN].attempts) == (
            "dead",
            "403 Missing Access (code 50001)",
            1,
        )
        assert (rows[OTHER].status, rows[OTHER].last_error) == ("paused", "missing Send Messages in Threads")
        assert (counted(s, "dead"), counted(s, "paused")) == (1, 1)


# -- a refused token ------------------------------------------------------------------------------------


async def test_a_refused_token_holds_only_its_platform_and_is_probed_with_one_row_once_a_minute(
    tmp_path: Path,
) -> None:
    async with sqlite_stack(tmp_path) as s:
        discord, slack = s.senders["discord"], s.senders["slack"]
        refused = Unauthorized("401 Unauthorized: Discord refused the bot token")
        for key in (
            CHAN,
            OTHER,
        ):  # more than needed: a round of leasing begun before the hold may take one more
            discord.fail(key.channel, *[refused] * 4)
        await alert_to(s, CHAN, OTHER, SLACK)
        await s.worker.drain()
        assert [p.channel for p in slack.posts] == ["C1"]  # Slack goes on
        tried = len(discord.attempts)
        rows = [d for d in await s.outbox.find() if d.key.platform == "discord"]
        assert {(d.status, d.attempts, d.last_error) for d in rows} == {("pending", 0, refused.reason)}
        assert s.worker.trouble() == f"discord: {refused.reason}; sending paused"
        assert all(sub.paused_reason is None for sub in await s.channels.subscriptions(CHAN))

        s.clock.advance(seconds=AUTH_PROBE_SECONDS - 0.001)
        await s.worker.drain()
        assert len(discord.attempts) == tried  # not before the probe is due
        s.clock.advance(seconds=0.001)
        await s.worker.drain()
        assert len(discord.attempts) == tried + 1  # one row probes the token, not the whole queue
        assert s.worker.trouble() == f"discord: {refused.reason}; sending paused"

        for key in (CHAN, OTHER):
            discord.script[key.channel].clear()  # the token works again
        s.clock.advance(seconds=AUTH_PROBE_SECONDS)
        await s.worker.drain()  # the next probe gets through, and the rest of the queue follows it
        await s.worker.drain()
        assert sorted(p.channel for p in discord.posts) == ["c1", "c2"]
        assert s.worker.trouble() is None


async def test_trouble_names_every_held_platform_in_order(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        # Twice each: a round of leasing that began before a platform was held may take its row once more.
        s.senders["slack"].fail("C1", *[Unauthorized("invalid_auth")] * 2)
        s.senders["discord"].fail("c1", *[Unauthorized("401 Unauthorized")] * 2)
        await alert_to(s, SLACK, CHAN)
        await s.worker.drain()
        assert (
            s.worker.trouble()
            == "discord: 401 Unauthorized; sending paused; slack: invalid_auth; sending paused"
        )


# -- a post the database could not record ---------------------------------------------------------------


class Unwritable:
    """Makes one store call raise while `down`, as a full disk does."""

    def __init__(self) -> None:
        self.down = True

    def wrap(self, call):  # type: ignore[no-untyped-def]
        async def maybe(*args, **kwargs):  # type: ignore[no-untyped-def]
            if self.down:
                raise OSError("database or disk is full")
            return await call(*args, **kwargs)

        return maybe


async def test_an_unrecorded_post_says_which_delivery_halted_sending_and_is_counted_once_recorded(
    tmp_path: Path,
) -> None:
    async with sqlite_stack(tmp_path) as s:
        disk = Unwritable()
        s.outbox.record_part = disk.wrap(s.outbox.record_part)  # type: ignore[method-assign]
        s.outbox.record_accepted = disk.wrap(s.outbox.record_accepted)  # type: ignore[method-assign]
        await alert_to(s, CHAN)
        await s.worker.drain()
        [row] = await s.outbox.find()
        assert s.worker.trouble() == (
            f"sending halted: delivery {row.id} was posted but the database could not record it; "
            "nothing more is sent until it can"
        )
        assert counted(s, "sent") == 0
        disk.down = False
        await s.worker.drain()
        assert s.worker.trouble() is None
        assert counted(s, "sent") == 1
        [row] = await s.outbox.find()
        assert (row.status, row.parts_sent, row.message_ids) == ("sent", 1, ("m1",))


async def test_posts_held_for_several_deliveries_are_all_recorded_before_anything_else_is_sent(
    tmp_path: Path,
) -> None:
    sender = GatedSender()
    async with sqlite_stack(tmp_path, senders={"discord": sender}) as s:
        disk = Unwritable()
        s.outbox.record_part = disk.wrap(s.outbox.record_part)  # type: ignore[method-assign]
        s.outbox.record_accepted = disk.wrap(s.outbox.record_accepted)  # type: ignore[method-assign]
        await alert_to(s, CHAN, OTHER)
        assert await s.worker.fill() == 2
        await sender.until_waiting(2)  # both post before either is recorded
        sender.gate.set()
        await s.worker.drain()
        assert len(sender.posts) == 2
        disk.down = False
        await s.worker.drain()
        assert {(d.status, d.message_ids) for d in await s.outbox.find()} == {
            ("sent", ("m1",)),
            ("sent", ("m2",)),
        }
        assert counted(s, "sent") == 2
        assert len(sender.posts) == 2


# -- what the limiter learns ----------------------------------------------------------------------------


@dataclass
class BucketSender(RecordingSender):
    """A recording sender that reports Discord's bucket headers, as DiscordSender does."""

    bucket: BucketState | None = None

    def bucket_state(self, channel: str) -> BucketState | None:
        return self.bucket


def limited(s: Stack, platform: str = "discord", *, rate: float = 50) -> tuple[Limiter, VirtualTime]:
    vt = VirtualTime()
    limiter = Limiter(rate, clock=vt.clock, sleep=vt.sleep)
    s.worker.limiters[platform] = limiter
    return limiter, vt


async def waited(vt: VirtualTime, limiter: Limiter, channel: str) -> float:
    """Return how long the limiter makes the next post to `channel` wait."""
    before = vt.now
    await limiter.acquire(channel)
    return vt.now - before


async def test_a_channels_429_holds_that_channel_for_retry_after_and_a_global_one_holds_all(
    tmp_path: Path,
) -> None:
    async with sqlite_stack(tmp_path) as s:
        limiter, vt = limited(s)
        s.senders["discord"].fail("c1", RetryLater(30.0, "429 rate limited (user)", rate_limited=True))
        s.senders["discord"].fail("c2", RetryLater(0.0, "503 upstream"))  # not a rate limit: holds nothing
        await alert_to(s, CHAN, OTHER)
        await s.worker.drain()
        assert await waited(vt, limiter, "c2") == 0
        assert await waited(vt, limiter, "c1") == 30.0

    for reason in ("429 rate limited (global)", "429 from Cloudflare: banned for a while"):
        async with sqlite_stack(tmp_path / reason[-6:]) as s:
            limiter, vt = limited(s)
            s.senders["discord"].fail("c1", RetryLater(12.0, reason, rate_limited=True))
            await alert_to(s, CHAN)
            await s.worker.drain()
            assert await waited(vt, limiter, "c9") == 12.0, reason


async def test_any_slack_429_holds_the_whole_workspace(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        limiter, vt = limited(s, "slack")
        s.senders["slack"].fail("C1", RetryLater(9.0, "ratelimited", rate_limited=True))
        await alert_to(s, SLACK)
        await s.worker.drain()
        assert await waited(vt, limiter, "C2") == 9.0


async def test_a_post_answered_429_gives_its_slot_back_to_the_next_post(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        limiter, vt = limited(s, rate=1)  # one post a second: a slot not given back costs the next a second
        s.senders["discord"].fail("c1", RetryLater(5.0, "429 rate limited (user)", rate_limited=True))
        await alert_to(s, CHAN)
        await s.worker.drain()
        assert await waited(vt, limiter, "c2") == 0


async def test_a_bucket_with_nothing_left_holds_its_channel_for_what_remains_of_its_reset(
    tmp_path: Path,
) -> None:
    async with sqlite_stack(tmp_path, senders={"discord": BucketSender()}) as s:
        sender = s.senders["discord"]
        assert isinstance(sender, BucketSender)
        limiter, vt = limited(s)
        # The headers arrived "now" (a moment from now, so no time has passed since): the whole reset is left.
        sender.bucket = BucketState("b1", 5, 0, 4.0, observed_at=time.monotonic() + 3600)
        await alert_to(s, CHAN)
        await s.worker.drain()
        assert await waited(vt, limiter, "c2") == 0
        assert await waited(vt, limiter, "c1") == 4.0


async def test_a_bucket_reported_long_ago_or_without_its_counts_holds_nothing(tmp_path: Path) -> None:
    for n, bucket in enumerate(
        [
            BucketState("b1", 5, 0, 4.0, observed_at=time.monotonic() - 3600),  # its reset is long over
            BucketState("b1", 5, None, 4.0, observed_at=time.monotonic() + 3600),
            BucketState("b1", 5, 0, None, observed_at=time.monotonic() + 3600),
            None,
        ]
    ):
        async with sqlite_stack(tmp_path / str(n), senders={"discord": BucketSender(bucket=bucket)}) as s:
            limiter, vt = limited(s)
            await alert_to(s, CHAN)
            await s.worker.drain()
            assert await waited(vt, limiter, "c1") == 0, bucket


# -- how many posts run at once -------------------------------------------------------------------------


class GatedSender(RecordingSender):
    """Holds every post until the test opens the gate, counting how many wait at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.arrived = asyncio.Condition()
        self.waiting = 0
        self.most = 0

    async def send(
        self, channel: str, body: dict[str, object], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        async with self.arrived:
            self.waiting += 1
            self.most = max(self.most, self.waiting)
            self.arrived.notify_all()
        await self.gate.wait()
        self.waiting -= 1
        return await super().send(channel, body, key=key, workspace=workspace)

    async def until_waiting(self, n: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.waiting >= n)


async def test_no_more_posts_run_at_once_than_the_worker_is_allowed(tmp_path: Path) -> None:
    sender = GatedSender()
    async with sqlite_stack(tmp_path, senders={"discord": sender}) as s:
        s.worker.concurrency = 2
        await alert_to(s, *(ChannelKey("discord", "g1", f"c{n}") for n in range(5)))
        assert await s.worker.fill() == 2
        await sender.until_waiting(2)
        assert await s.worker.fill() == 0  # full: nothing more is leased
        sender.gate.set()
        await s.worker.drain()
        assert sender.most == 2
        assert len(sender.posts) == 5


async def test_a_running_worker_posts_rows_as_they_fall_due_and_finishes_what_it_started_when_stopped(
    tmp_path: Path,
) -> None:
    sender = GatedSender()
    async with sqlite_stack(tmp_path, senders={"discord": sender}) as s:
        s.worker.poll_seconds = 0.01
        stop = asyncio.Event()
        running = asyncio.create_task(s.worker.run(stop))
        await alert_to(s, CHAN)  # no wake(): the worker finds the row on its own next look
        await sender.until_waiting(1)
        stop.set()
        await asyncio.sleep(0.05)
        assert not running.done()  # it waits for the post in flight …
        sender.gate.set()
        await asyncio.wait_for(running, timeout=30)
        assert [p.channel for p in sender.posts] == ["c1"]
        [row] = await s.outbox.find()
        assert row.status == "sent"  # … and records it before it returns


async def test_wake_makes_a_waiting_worker_look_at_once(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        s.worker.poll_seconds = 3600  # it would otherwise look again in an hour
        stop = asyncio.Event()
        running = asyncio.create_task(s.worker.run(stop))
        await asyncio.sleep(0.05)
        await alert_to(s, CHAN)
        s.worker.wake()
        for _ in range(3000):
            if s.senders["discord"].posts:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        assert [p.channel for p in s.senders["discord"].posts] == ["c1"]


async def test_a_post_without_a_message_id_is_recorded_as_posted(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        s.senders["discord"].fail("c1", Sent(""))
        await alert_to(s, CHAN)
        await s.worker.drain()
        [row] = await s.outbox.find()
        assert (row.status, row.message_ids) == ("sent", ("-",))


class SlowRefusal(RecordingSender):
    """Refuses each post so late that its lease has run out and another process holds the row."""

    def __init__(self, s_outbox: object, clock: FakeClock, outcome: SendOutcome) -> None:
        super().__init__()
        self.outbox, self.clock, self.outcome = s_outbox, clock, outcome

    async def send(
        self, channel: str, body: dict[str, object], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        self.clock.advance(seconds=61)  # the stack leases for 60 s
        await self.outbox.lease(  # type: ignore[attr-defined]
            self.clock(), "other-process", platforms=["discord"], limit=10, lease_for=timedelta(seconds=60)
        )
        return self.outcome


async def test_a_refusal_after_the_lease_ran_out_is_left_to_the_process_that_holds_the_row(
    tmp_path: Path,
) -> None:
    for outcome in (Failed("403 Missing Access"), RetryLater(0.0, "502 bad gateway")):
        async with sqlite_stack(tmp_path / type(outcome).__name__, max_attempts=1) as s:
            s.worker.senders["discord"] = SlowRefusal(s.outbox, s.clock, outcome)
            await alert_to(s, CHAN)
            await s.worker.drain()
            [row] = await s.outbox.find()
            assert (row.status, row.lease_owner, row.attempts) == ("sending", "other-process", 0), outcome
            assert [sub.paused_reason for sub in await s.channels.subscriptions(CHAN)] == [None]
            assert counted(s, "dead") == 0  # /metrics counts only what this process gave up


async def test_an_alert_whose_story_was_deleted_before_it_went_out_is_dropped_without_pausing_the_channel(
    tmp_path: Path,
) -> None:
    async with sqlite_stack(tmp_path) as s:
        await alert_to(s, CHAN)
        await s.service.ingest([summary("s2", "Drones s2", ["drones"])])
        assert await s.worker.composer.archive.delete("s1")
        await s.worker.drain()
        rows = {d.summary_id: d for d in await s.outbox.find()}
        gone = rows["s1"]
        assert (gone.status, gone.last_error, gone.attempts) == ("dead", STORY_GONE, 0)
        assert [p.channel for p in s.senders["discord"].posts] == ["c1"]  # the other story still goes out
        assert rows["s2"].status == "sent"
        assert counted(s, "dead") == 1
        [sub] = await s.channels.subscriptions(CHAN)
        assert sub.paused_reason is None  # an operator's deletion is no reason to stop the channel's alerts


async def test_an_empty_digest_is_skipped_with_its_reason_and_counted_as_skipped(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        await s.schedule(CHAN, "0 8 * * *", "UTC")
        s.clock.set(START + timedelta(hours=1))
        await s.run_until_quiet()
        [row] = await s.outbox.find()
        assert (row.status, row.last_error) == ("skipped", NOTHING_NEW)
        assert s.senders["discord"].posts == []
        assert (counted(s, "skipped"), counted(s, "sent")) == (1, 0)


# -- where and how many rows are leased -----------------------------------------------------------------


async def test_a_slack_alert_is_posted_with_its_workspaces_installation(tmp_path: Path) -> None:
    # Each workspace has its own token: a post sent without its workspace would go out with the wrong one.
    async with sqlite_stack(tmp_path) as s:
        await alert_to(s, SLACK, ChannelKey("slack", "T2", "C9"))
        await s.worker.drain()
        assert sorted((p.workspace, p.channel) for p in s.senders["slack"].posts) == [
            ("T1", "C1"),
            ("T2", "C9"),
        ]


async def test_a_worker_allowed_one_post_at_a_time_posts_every_row_one_after_another(tmp_path: Path) -> None:
    sender = GatedSender()
    sender.gate.set()
    async with sqlite_stack(tmp_path, senders={"discord": sender}) as s:
        s.worker.concurrency = 1
        await alert_to(s, CHAN, OTHER)
        await s.worker.drain()
        assert sorted(p.channel for p in sender.posts) == ["c1", "c2"]
        assert sender.most == 1


async def lock_out_discord(s: Stack) -> None:
    """Have Discord refuse the token once, then let the probe fall due with the token working again."""
    s.senders["discord"].fail("c1", Unauthorized("401 Unauthorized"))
    await alert_to(s, CHAN)
    await s.worker.drain()
    assert s.worker.trouble() == "discord: 401 Unauthorized; sending paused"
    s.clock.advance(seconds=AUTH_PROBE_SECONDS)


async def test_a_due_probe_joins_a_batch_with_room_and_waits_when_the_batch_is_full(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        await lock_out_discord(s)
        await alert_to(s, SLACK, story="s2")
        s.worker.concurrency = 1
        assert await s.worker.fill() == 1  # Slack's row fills the batch: no probe beyond the limit
        await s.worker.drain()
    async with sqlite_stack(tmp_path / "room") as s:
        await lock_out_discord(s)
        await alert_to(s, SLACK, story="s2")
        assert await s.worker.fill() == 2  # Slack's row and Discord's probe, side by side
        await s.worker.drain()
        assert [p.channel for p in s.senders["slack"].posts] == ["C1"]
        assert [p.channel for p in s.senders["discord"].posts] == ["c1", "c1"]  # the probe's row, then s2
        assert s.worker.trouble() is None


async def test_a_halted_worker_leases_nothing_and_tries_the_database_once_a_look(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        disk = Unwritable()
        s.outbox.record_part = disk.wrap(s.outbox.record_part)  # type: ignore[method-assign]
        tries: list[int] = []
        looked = asyncio.Event()
        record = disk.wrap(s.outbox.record_accepted)

        async def counted_record(*args, **kwargs):  # type: ignore[no-untyped-def]
            tries.append(1)
            looked.set()
            return await record(*args, **kwargs)

        s.outbox.record_accepted = counted_record  # type: ignore[method-assign]
        await alert_to(s, CHAN)
        await s.worker.drain()  # posted, not recorded: halted
        await alert_to(s, OTHER, story="s2")
        tries.clear()
        s.worker.poll_seconds = 3600
        stop = asyncio.Event()
        running = asyncio.create_task(s.worker.run(stop))
        await asyncio.wait_for(looked.wait(), timeout=30)  # its first look, however slow the machine
        # Room for a busy loop to look again (each look is a database round trip). A slow machine can only
        # make this miss a busy loop, never fail a worker that waits: the first look is awaited above.
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        assert len(tries) == 1  # one look, then it waits: no busy loop against a full disk
        waiting = [d for d in await s.outbox.find() if d.key == OTHER]
        assert [(d.status, d.lease_owner) for d in waiting] == [("pending", None)]  # not leased while halted
        disk.down = False
        await s.worker.drain()  # recorded, and the waiting row goes out at once, with no lease to wait out
        assert sorted(p.channel for p in s.senders["discord"].posts) == ["c1", "c1", "c2"]


async def test_a_running_worker_keeps_posting_after_a_round_that_started_posts(tmp_path: Path) -> None:
    async with sqlite_stack(tmp_path) as s:
        s.worker.poll_seconds = 0.01
        stop = asyncio.Event()
        running = asyncio.create_task(s.worker.run(stop))
        for story, posts in (("s1", 1), ("s2", 2)):
            await alert_to(s, CHAN, story=story)  # the second story arrives after the first was posted
            for _ in range(3000):
                if len(s.senders["discord"].posts) >= posts:
                    break
                await asyncio.sleep(0.01)
        assert not running.done()
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        assert len(s.senders["discord"].posts) == 2
