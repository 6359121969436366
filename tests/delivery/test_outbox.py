"""The exactly-once machinery on the real database: ticks, digests, alerts, retries, dead rows, pauses."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.ports import ChannelKey, Failed, RetryLater
from bot.store.channels import SqlChannelStore
from bot.store.engine import StoreError, create_engine
from bot.store.outbox import alert_key
from tests.delivery.helpers import FakeClock, RecordingSender, stack, summary

START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)


class FaultyDatabase:
    """Makes the store calls it wraps fail as a full or unreachable database does, while `down`."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.down = True

    def wrap(self, call: Any) -> Any:
        async def call_or_fail(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreError(self.message)
            return await call(*args, **kwargs)

        return call_or_fail


CHAN = ChannelKey("discord", "g1", "c1")


async def test_a_due_schedule_posts_one_digest_per_slot(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        await s.service.ingest([summary("s1", "Chips news", ["semiconductors"])])
        await s.schedule(CHAN, "0 8 * * *", "UTC")
        await s.run_until_quiet()
        assert s.senders["discord"].posts == []  # not due yet
        clock.set(START + timedelta(hours=1, seconds=3))
        await s.run_until_quiet()
        clock.advance(minutes=30)  # ticks later in the same slot's hour owe nothing more
        await s.run_until_quiet()
        sender = s.senders["discord"]
        # One digest: the brief with the story's card, then the story in full for its thread.
        assert [p.channel for p in sender.posts] == ["c1", "c1"]
        brief, story = (str(p.body) for p in sender.posts)
        assert "Chips news" in brief
        assert "The full stories follow in the thread." in brief
        assert "Chips news" in story
        rows = await s.outbox.find()
        assert [(r.status, r.dedupe_key) for r in rows] == [("sent", "digest:discord:g1:c1:2026-05-01T08:00")]
        assert sender.keys() == [f"{rows[0].id}:0", f"{rows[0].id}:1"]
        schedule = await s.channels.get_schedule(CHAN)
        assert schedule is not None
        assert schedule.next_fire_at == datetime(2026, 5, 2, 8, tzinfo=UTC)


async def test_two_processes_ticking_at_once_insert_the_slot_once(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        for n in range(20):
            await s.schedule(ChannelKey("discord", "g1", f"c{n}"), "*/5 * * * *", "Asia/Kathmandu")
        clock.advance(minutes=5)
        other = create_engine(database_url)
        try:
            second = SqlChannelStore(other)
            plan = s.ticker.plan
            now = clock()
            results = await asyncio.gather(
                s.channels.tick(now, lambda d: plan(d, now), platforms=["discord"]),
                second.tick(now, lambda d: plan(d, now), platforms=["discord"]),
            )
        finally:
            await other.dispose()
        assert sum(inserted for _, inserted in results) == 20
        rows = await s.outbox.find(limit=100)
        assert len(rows) == 20
        assert len({r.dedupe_key for r in rows}) == 20


async def test_digest_holds_what_was_ingested_since_the_last_one_limited_to_followed_topics(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        await s.channels.subscribe(CHAN, "drones", user="u", now=clock())
        await s.service.ingest(
            [summary("d1", "Drone story one", ["drones"]), summary("x1", "Tax story", ["taxation"])]
        )
        await s.schedule(CHAN, "0 * * * *", "UTC")
        clock.set(START + timedelta(hours=1))
        await s.run_until_quiet()
        clock.advance(minutes=10)
        await s.service.ingest([summary("d2", "Drone story two", ["drones"])])
        clock.set(START + timedelta(hours=2))
        await s.run_until_quiet()
        bodies = [str(p.body) for p in s.senders["discord"].posts if "News digest" in str(p.body)]
        assert len(bodies) == 2
        assert "Drone story one" in bodies[0]
        assert "Tax story" not in bodies[0]
        assert "Drone story two" in bodies[1]
        assert "Drone story one" not in bodies[1]
        # Nothing new for the third slot: skipped, with the reason recorded.
        clock.set(START + timedelta(hours=3))
        await s.run_until_quiet()
        assert len([p for p in s.senders["discord"].posts if "News digest" in str(p.body)]) == 2
        skipped = await s.outbox.find(status="skipped")
        assert len(skipped) == 1
        assert skipped[0].last_error == "nothing new since the last digest"


async def test_empty_digest_posts_a_note_when_asked(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock, post_when_empty=True) as s:
        await s.schedule(CHAN, "0 8 * * *", "UTC")
        clock.set(START + timedelta(hours=1))
        await s.run_until_quiet()
        posts = s.senders["discord"].posts
        assert len(posts) == 1
        assert "Nothing new" in str(posts[0].body)


async def test_downtime_longer_than_the_grace_posts_one_catch_up_digest(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        await s.service.ingest([summary("s1", "Before the outage", ["ai"])])
        await s.schedule(CHAN, "0 * * * *", "UTC")
        clock.advance(hours=10, minutes=20)  # ten hourly slots pass while the bot is down
        await s.run_until_quiet()
        await s.run_until_quiet()
        rows = await s.outbox.find()
        assert [r.dedupe_key.rsplit(":", 2)[-2:] for r in rows] == [["2026-05-01T17", "00"]]
        # One digest: its brief and the one story's thread reply, both parts of the one row.
        assert s.senders["discord"].keys() == [f"{rows[0].id}:0", f"{rows[0].id}:1"]


async def test_berlin_0230_daily_posts_once_per_local_day_across_2026_dst_changes(database_url: str) -> None:
    for first in (datetime(2026, 3, 27, 12, tzinfo=UTC), datetime(2026, 10, 23, 12, tzinfo=UTC)):
        clock = FakeClock(first)
        async with stack(database_url, clock, post_when_empty=True) as s:
            key = ChannelKey("discord", "g1", f"berlin-{first.month}")
            await s.schedule(key, "30 2 * * *", "Europe/Berlin")
            while clock() < first + timedelta(days=4):
                clock.advance(minutes=15)
                await s.run_until_quiet()
            rows = await s.outbox.find(channel=key.channel)
            expected = []
            for d in range(1, 5):
                day = (first + timedelta(days=d)).date().isoformat()
                wall = "03:30" if day == "2026-03-29" else "02:30"  # 02:30 does not exist that night
                expected.append(f"digest:discord:g1:{key.channel}:{day}T{wall}")
            assert sorted(r.dedupe_key for r in rows) == expected
            assert len(s.senders["discord"].keys(key.channel)) == 4  # one post per local day


async def test_a_story_alerts_each_following_channel_once_and_a_revision_does_not_alert_again(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        a, b = ChannelKey("discord", "g1", "a"), ChannelKey("slack", "T1", "b")
        await s.channels.subscribe(a, "drones", user="u", now=clock())
        await s.channels.subscribe(a, "ai", user="u", now=clock())
        await s.channels.subscribe(b, "drones", user="u", now=clock())
        await s.service.ingest([summary("s1", "Drones and AI", ["drones", "ai"])])
        await s.worker.drain()
        assert [p.channel for p in s.senders["discord"].posts] == ["a"]
        assert [p.channel for p in s.senders["slack"].posts] == ["b"]
        await s.service.ingest([summary("s1", "Drones and AI, revised", ["drones", "ai"])])
        await s.worker.drain()
        assert len(s.senders["discord"].posts) == 1
        assert len(s.senders["slack"].posts) == 1


async def test_revisions_alert_again_when_configured(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock, on_revision=True) as s:
        await s.channels.subscribe(CHAN, "drones", user="u", now=clock())
        await s.service.ingest([summary("s1", "Drones", ["drones"])])
        clock.advance(minutes=1)
        await s.service.ingest([summary("s1", "Drones, revised", ["drones"])])
        await s.worker.drain()
        assert len(s.senders["discord"].posts) == 2


def _three_parts(platform: str, s: object) -> None:
    composer = s.composer  # type: ignore[attr-defined]
    composer.renderers[platform] = lambda reply: [{"content": f"part {n}"} for n in range(3)]


async def test_a_retry_resumes_at_the_first_unsent_part(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock, post_when_empty=True) as s:
        _three_parts("discord", s)
        sender = s.senders["discord"]
        await s.schedule(CHAN, "0 8 * * *", "UTC")
        clock.set(START + timedelta(hours=1))
        # Part 0 goes out, part 1 meets a 5xx.
        sender.script["c1"].extend([])
        original = sender.send
        calls = 0

        async def flaky(channel: str, body: dict[str, object], *, key: str, workspace: str = ""):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if calls == 2:
                return RetryLater(2.0, "503 upstream")
            return await original(channel, body, key=key)

        sender.send = flaky  # type: ignore[method-assign]
        await s.run_until_quiet()
        assert [p.body["content"] for p in sender.posts] == ["part 0"]
        row = (await s.outbox.find())[0]
        assert (row.status, row.parts_sent, row.attempts) == ("pending", 1, 1)
        await s.worker.drain()
        assert len(sender.posts) == 1  # backoff: nothing before the retry time
        clock.advance(seconds=5)
        await s.worker.drain()
        assert [p.body["content"] for p in sender.posts] == ["part 0", "part 1", "part 2"]
        assert [p.key for p in sender.posts] == [f"{row.id}:0", f"{row.id}:1", f"{row.id}:2"]
        done = (await s.outbox.find())[0]
        assert done.status == "sent"
        assert len(done.message_ids) == 3


async def test_rate_limits_wait_retry_after_and_are_not_attempts(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock, max_attempts=2) as s:
        sender = s.senders["discord"]
        await s.channels.subscribe(CHAN, "ai", user="u", now=clock())
        for _ in range(5):
            sender.fail("c1", RetryLater(30.0, "429 rate limited (user)", rate_limited=True))
        await s.service.ingest([summary("s1", "AI", ["ai"])])
        for _ in range(5):
            await s.worker.drain()
            assert sender.posts == []  # nothing before Retry-After
            clock.advance(seconds=30)
        await s.worker.drain()
        assert len(sender.posts) == 1
        row = (await s.outbox.find())[0]
        assert row.status == "sent"
        assert row.attempts == 0


async def test_server_errors_back_off_then_the_delivery_dies_after_max_attempts(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock, max_attempts=3) as s:
        sender = s.senders["discord"]
        await s.channels.subscribe(CHAN, "ai", user="u", now=clock())
        sender.fail("c1", *[RetryLater(1.0, "502 bad gateway")] * 3)
        await s.service.ingest([summary("s1", "AI", ["ai"])])
        for _ in range(4):
            await s.worker.drain()
            clock.advance(minutes=5)
        row = (await s.outbox.find())[0]
        assert row.status == "dead"
        assert row.attempts == 3
        assert row.last_error == "gave up after 3 attempts: 502 bad gateway"
        assert len(sender.attempts) == 3


async def test_forbidden_is_dead_after_one_attempt_and_pauses_the_schedule(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock, post_when_empty=True) as s:
        sender = s.senders["discord"]
        sender.fail("c1", Failed("403 Missing Permissions (code 50013)"))
        await s.schedule(CHAN, "0 * * * *", "UTC")
        clock.set(START + timedelta(hours=1))
        await s.run_until_quiet()
        clock.set(START + timedelta(hours=5))
        await s.run_until_quiet()
        assert len(sender.attempts) == 1  # no retries, and the paused schedule queues nothing more
        dead = await s.outbox.find(status="dead")
        assert len(dead) == 1
        assert dead[0].attempts == 1
        schedule = await s.channels.get_schedule(CHAN)
        assert schedule is not None
        assert schedule.paused_reason is not None
        assert "403 Missing Permissions" in schedule.paused_reason
        # An operator re-queues it: the pause its failure caused is lifted and it goes out.
        requeued = await s.outbox.requeue(dead[0].id, clock())
        assert requeued is not None
        assert requeued.status == "pending"
        await s.run_until_quiet()
        # The re-queued digest goes out, and the resumed schedule owes one catch-up for its missed slots.
        assert [p.key for p in sender.posts] == [f"{dead[0].id}:0", f"{dead[0].id + 1}:0"]
        schedule = await s.channels.get_schedule(CHAN)
        assert schedule is not None
        assert schedule.paused_reason is None


async def test_not_found_pauses_the_channels_subscriptions_shown_by_subscriptions(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        s.senders["slack"].fail("C9", Failed("channel_not_found"))
        key = ChannelKey("slack", "T1", "C9")
        await s.channels.subscribe(key, "drones", user="u", now=clock())
        await s.service.ingest([summary("s1", "Drones", ["drones"])])
        await s.worker.drain()
        subs = await s.channels.subscriptions(key)
        assert subs[0].paused_reason is not None
        assert "channel_not_found" in subs[0].paused_reason
        await s.service.ingest([summary("s2", "More drones", ["drones"])])
        await s.worker.drain()
        assert len(s.senders["slack"].attempts) == 1  # paused: no further alerts queued


async def test_a_crash_after_posting_resumes_with_the_same_key_once_the_lease_runs_out(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    crashed = False

    async def crash_once(point: str, delivery: object, part: int) -> None:
        nonlocal crashed
        if point == "after_post" and not crashed:
            crashed = True
            raise RuntimeError("simulated crash between the POST and recording it")

    async with stack(database_url, clock, faults=crash_once) as s:
        sender: RecordingSender = s.senders["discord"]
        await s.channels.subscribe(CHAN, "ai", user="u", now=clock())
        await s.service.ingest([summary("s1", "AI", ["ai"])])
        await s.worker.drain()
        assert len(sender.posts) == 1
        await s.worker.drain()
        assert len(sender.posts) == 1  # still leased by the "dead" attempt
        clock.advance(seconds=61)
        await s.worker.drain()
        # The retry carries the same key, which is what lets Discord's nonce deduplicate it.
        assert [p.key for p in sender.posts] == [sender.posts[0].key] * 2
        assert (await s.outbox.find())[0].status == "sent"


async def test_a_post_the_database_cannot_record_halts_sending_and_is_never_posted_again(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        sender: RecordingSender = s.senders["discord"]
        disk = FaultyDatabase("database error: database or disk is full")
        for name in ("record_part", "record_accepted"):
            setattr(s.outbox, name, disk.wrap(getattr(s.outbox, name)))
        await s.channels.subscribe(CHAN, "ai", user="u", now=clock())
        await s.service.ingest([summary("s1", "AI", ["ai"])])
        await s.worker.drain()
        await s.service.ingest([summary("s2", "AI again", ["ai"])])
        await s.worker.drain()
        assert len(sender.posts) == 1  # the second alert is not sent while the first is unrecorded
        with pytest.raises(RuntimeError, match="sending halted"):
            await s.ticker.health()
        halted = [r for r in caplog.records if "sending halted" in r.getMessage()]
        assert len(halted) == 1
        for _ in range(3):  # leases run out; the accepted post must still not be repeated
            clock.advance(seconds=61)
            await s.worker.drain()
        assert len(sender.posts) == 1
        assert len([r for r in caplog.records if "sending halted" in r.getMessage()]) == 1

        disk.down = False
        clock.advance(seconds=61)
        await s.worker.drain()
        assert len(sender.posts) == 2  # the first recorded, never re-posted; the second sent once
        assert sorted(d.status for d in await s.outbox.find()) == ["sent", "sent"]
        assert (await s.ticker.health())["outbox"] is not None


async def test_a_revoked_token_pauses_the_platform_keeps_the_queue_and_resumes_when_it_works(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.core.ports import Unauthorized
    from bot.delivery.worker import AUTH_PROBE_SECONDS

    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        sender: RecordingSender = s.senders["discord"]
        others = [ChannelKey("discord", "g", f"c{n}") for n in range(2, 5)]
        for key in [CHAN, *others]:
            await s.channels.subscribe(key, "ai", user="u", now=clock())
            sender.fail(key.channel, Unauthorized("401 Unauthorized: Discord refused the bot token"))
        await s.service.ingest([summary("s1", "AI", ["ai"])])
        await s.worker.drain()
        assert sender.posts == []
        assert {d.status for d in await s.outbox.find()} == {"pending"}  # the queue is kept, not dead
        assert all(not sub.paused_reason for sub in await s.channels.subscriptions(CHAN))
        with pytest.raises(RuntimeError, match="discord"):
            await s.ticker.health()
        tried = len(sender.attempts)
        clock.advance(seconds=AUTH_PROBE_SECONDS / 2)
        await s.worker.drain()
        assert len(sender.attempts) == tried  # paused: nothing is tried before the next probe
        assert len([r for r in caplog.records if "refused the bot's token" in r.getMessage()]) == 1

        # The channels' scripted 401s are used up: the token "works" again at the next probe.
        for key in [CHAN, *others]:
            sender.script[key.channel].clear()
        clock.advance(seconds=AUTH_PROBE_SECONDS)
        await s.worker.drain()
        await s.worker.drain()
        assert sorted(p.channel for p in sender.posts) == sorted(k.channel for k in [CHAN, *others])
        assert {d.status for d in await s.outbox.find()} == {"sent"}
        assert (await s.ticker.health())["outbox"] is not None


async def test_a_database_outage_logs_one_line_per_loop_when_it_starts_and_one_when_it_ends(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from bot.delivery.engine import DeliveryEngine

    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        engine = DeliveryEngine(s.ticker, s.worker, tick_seconds=1)
        database = FaultyDatabase("cannot connect to the database: connection refused")
        s.ticker.tick = database.wrap(s.ticker.tick)  # type: ignore[method-assign]
        s.outbox.lease = database.wrap(s.outbox.lease)  # type: ignore[method-assign]
        caplog.set_level(logging.INFO)
        caplog.clear()
        stop = asyncio.Event()
        s.worker.poll_seconds = 0.01
        running = asyncio.create_task(s.worker.run(stop))
        for _ in range(5):
            await engine._tick()
            await asyncio.sleep(0.02)
        database.down = False
        await engine._tick()
        await asyncio.sleep(0.05)
        stop.set()
        await running
        lines = [r for r in caplog.records if r.name.startswith("bot.delivery")]
        assert all(r.exc_info is None for r in lines)
        assert len([r for r in lines if "unavailable" in r.getMessage()]) == 2  # tick and worker
        assert len([r for r in lines if "available again" in r.getMessage()]) == 2


async def test_each_delivery_posted_is_one_info_line_naming_its_channel(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(datetime(2026, 5, 1, 7, 0, tzinfo=UTC))
    async with stack(database_url, clock) as s:
        for channel in ("c1", "c2"):
            await s.channels.subscribe(ChannelKey("discord", "g", channel), "drones", user="u", now=clock())
        with caplog.at_level(logging.INFO, logger="bot.delivery.worker"):
            await s.service.ingest([summary("s1", "Drone story", ["drones"])])
            await s.worker.drain()
    posted = [r.getMessage() for r in caplog.records if "posted to" in r.getMessage()]
    assert len(posted) == 2, posted
    assert all(line.startswith("delivery ") and ": alert posted to " in line for line in posted)
    assert any("c1" in line for line in posted)
    assert any("c2" in line for line in posted)


async def test_a_requeued_alert_gets_its_attempts_back_goes_out_at_once_and_lifts_only_its_own_pause(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    gone, other = ChannelKey("slack", "T1", "C9"), ChannelKey("slack", "T1", "C8")
    async with stack(database_url, clock, max_attempts=3) as s:
        slack = s.senders["slack"]
        for key in (gone, other):
            slack.fail(key.channel, Failed("channel_not_found"))
            await s.channels.subscribe(key, "drones", user="u", now=clock())
        await s.service.ingest([summary("s1", "Drones", ["drones"])])
        await s.worker.drain()
        dead = {d.key: d for d in await s.outbox.find(status="dead")}
        assert set(dead) == {gone, other}
        clock.advance(minutes=1)

        requeued = await s.outbox.requeue(dead[gone].id, clock())
        assert requeued is not None
        assert (requeued.status, requeued.attempts) == ("pending", 0)  # a fresh max_attempts tries
        assert [sub.paused_reason for sub in await s.channels.subscriptions(gone)] == [None]
        [still] = await s.channels.subscriptions(other)
        assert still.paused_reason is not None  # the other channel's own failure is not lifted with it

        await s.worker.drain()  # no clock change: it is due the moment it is re-queued
        sent = await s.outbox.get(dead[gone].id)
        assert sent is not None
        assert [p.channel for p in slack.posts] == ["C9"]
        assert (sent.status, sent.sent_at, sent.last_error, sent.lease_owner) == ("sent", clock(), None, None)


def test_alert_keys_keep_the_format_already_stored_so_an_upgrade_does_not_alert_again() -> None:
    # The dedupe key is what stops a second alert; rows written by an earlier version carry this format.
    assert alert_key(CHAN, "s1") == "alert:discord:g1:c1:s1"
    assert (
        alert_key(CHAN, "s1", "2026-05-01T07:00:00+00:00")
        == "alert:discord:g1:c1:s1@2026-05-01T07:00:00+00:00"
    )
