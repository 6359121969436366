"""Digests as a brief in the channel and the detail in a thread, through the real senders and the fakes.

Counted on the wire: every raw request the loopback Discord and Slack received, so "exactly once"
means one request per message, or a retry the platform itself recognised (a nonce, 160004).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.adapters.discord.sender import DiscordSender
from bot.adapters.slack.sender import SlackSender
from bot.cli.deliveries import delivery_record
from bot.core.ports import ChannelKey
from bot.delivery.worker import FaultHook
from bot.store.outbox import Delivery
from tests.delivery.helpers import FakeClock, Stack, stack, summary
from tests.delivery.threading import ThreadedComposer, reply_texts
from tests.fakes.discord import (
    CREATE_PUBLIC_THREADS,
    GUILD_ID,
    SEND_MESSAGES_IN_THREADS,
    TOKEN,
    FakeDiscord,
)
from tests.fakes.slack import BOT_TOKEN, FakeSlack

START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
SLOT = datetime(2026, 5, 1, 8, 0, 3, tzinfo=UTC)
GUILD = str(GUILD_ID)
TEXT = "1300000000000000001"
OTHER = "1300000000000000002"
FORUM = "1300000000000000009"
STORIES = ["Story 1", "Story 2", "Story 3"]


@asynccontextmanager
async def threaded(
    database_url: str,
    clock: FakeClock,
    senders: dict[str, Any],
    *,
    faults: FaultHook | None = None,
    **composer: Any,
) -> AsyncIterator[Stack]:
    """A delivery stack (one process's worth) whose deliveries carry thread replies."""
    async with stack(database_url, clock, senders=senders, faults=faults) as s:
        s.worker.composer = ThreadedComposer(s.composer, **composer)  # type: ignore[assignment]
        yield s


@asynccontextmanager
async def discord() -> AsyncIterator[tuple[FakeDiscord, DiscordSender]]:
    """The loopback Discord and the real sender pointed at it."""
    async with FakeDiscord() as fake:
        sender = DiscordSender(fake.api_base, TOKEN)
        try:
            yield fake, sender
        finally:
            await sender.close()


async def _digest_due(s: Stack, *keys: ChannelKey) -> None:
    await s.service.ingest([summary("d1", "Drone certification", ["drones"])])
    for key in keys:
        await s.schedule(key, "0 8 * * *", "UTC")
    s.clock.set(SLOT)


def _crash_once(point: str, step: str | None) -> tuple[FaultHook, list[str]]:
    crashed: list[str] = []

    async def hook(at: str, delivery: Delivery, part: int) -> None:
        if at == point and delivery.step == step and not crashed:
            crashed.append(delivery.dedupe_key)
            raise RuntimeError(f"simulated crash at {point} of a {step or 'channel'} row")

    return hook, crashed


def _discord_thread_posts(fake: FakeDiscord, channel: str) -> tuple[list[Any], list[Any], str]:
    """Return the raw channel posts, the raw thread creations, and the thread id (the parent's message id)."""
    parents = fake.requests_to("POST", rf"/channels/{channel}/messages$")
    starts = fake.requests_to("POST", rf"/channels/{channel}/messages/\d+/threads$")
    thread = starts[0].path.split("/")[-2] if starts else ""
    return parents, starts, thread


async def test_a_discord_digest_posts_its_brief_in_the_channel_and_each_story_once_in_a_thread_from_it(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with discord() as (fake, sender), threaded(database_url, clock, {"discord": sender}) as s:
        await _digest_due(s, ChannelKey("discord", GUILD, TEXT))
        await s.run_until_quiet()
        parents, starts, thread = _discord_thread_posts(fake, TEXT)
        assert len(parents) == 1
        assert len(fake.channel_messages[TEXT]) == 1  # only the brief is in the channel
        assert thread == fake.channel_messages[TEXT][0]["id"]  # the thread hangs off the brief
        assert len(starts) == 1
        assert starts[0].json == {"name": "News digest · 1 May", "auto_archive_duration": 1440}
        replies = fake.requests_to("POST", rf"/channels/{thread}/messages$")
        assert reply_texts([r.json for r in replies]) == STORIES  # each once, in order
        assert len({r.json["nonce"] for r in replies}) == 3
        assert reply_texts(fake.thread_messages(thread)) == STORIES
        rows = await s.outbox.find()
        assert {r.status for r in rows} == {"sent"}
        assert [delivery_record(r)["what"] for r in reversed(rows)] == [  # as `newsbot deliveries` lists them
            "digest 2026-05-01T08:00",
            "digest 2026-05-01T08:00 · thread",
            "digest 2026-05-01T08:00 · thread reply 1",
            "digest 2026-05-01T08:00 · thread reply 2",
            "digest 2026-05-01T08:00 · thread reply 3",
        ]


async def test_a_slack_digest_posts_its_brief_in_the_channel_and_each_story_once_under_its_ts(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with FakeSlack() as fake:
        sender = SlackSender(BOT_TOKEN, api_base=fake.api_base)
        async with threaded(database_url, clock, {"slack": sender}) as s:
            await _digest_due(s, ChannelKey("slack", "T0FAKE", "C0NEWS"))
            await s.run_until_quiet()
            top = fake.top_level("C0NEWS")
            assert len(top) == 1
            replies = fake.replies("C0NEWS", top[0].ts)
            assert reply_texts([r.body for r in replies]) == STORIES
            assert not any(r.broadcast for r in replies)  # kept out of the channel
            assert len(fake.calls_to("chat.postMessage")) == 4  # nothing posted twice
            assert {r.status for r in await s.outbox.find()} == {"sent"}


async def test_a_crash_between_the_discord_brief_and_its_replies_posts_nothing_twice_after_a_restart(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    hook, crashed = _crash_once("before_post", "reply")
    async with discord() as (fake, sender):
        async with threaded(database_url, clock, {"discord": sender}, faults=hook) as s:
            await _digest_due(s, ChannelKey("discord", GUILD, TEXT))
            await s.run_until_quiet()
        assert crashed  # the process died with the brief and the thread recorded, no reply sent
        clock.advance(minutes=2)  # its lease runs out
        async with threaded(database_url, clock, {"discord": sender}) as restarted:
            await restarted.worker.drain()
            parents, starts, thread = _discord_thread_posts(fake, TEXT)
            assert (len(parents), len(starts)) == (1, 1)
            replies = fake.requests_to("POST", rf"/channels/{thread}/messages$")
            assert reply_texts([r.json for r in replies]) == STORIES
            assert {r.status for r in await restarted.outbox.find()} == {"sent"}


async def test_a_crash_after_discord_started_the_thread_is_recognised_by_160004_and_not_repeated(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    hook, crashed = _crash_once("after_post", "thread")
    async with (
        discord() as (fake, sender),
        threaded(database_url, clock, {"discord": sender}, faults=hook) as s,
    ):
        await _digest_due(s, ChannelKey("discord", GUILD, TEXT))
        await s.run_until_quiet()
        assert crashed
        clock.advance(minutes=2)
        await s.worker.drain()
        _, starts, thread = _discord_thread_posts(fake, TEXT)
        assert len(starts) == 2  # asked twice; Discord answered the second with 160004
        assert list(fake.threads) == [thread]  # one thread
        replies = fake.requests_to("POST", rf"/channels/{thread}/messages$")
        assert reply_texts([r.json for r in replies]) == STORIES


async def test_a_crash_between_the_slack_brief_and_its_replies_posts_nothing_twice_after_a_restart(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    hook, crashed = _crash_once("before_post", "reply")
    async with FakeSlack() as fake:
        sender = SlackSender(BOT_TOKEN, api_base=fake.api_base)
        async with threaded(database_url, clock, {"slack": sender}, faults=hook) as s:
            await _digest_due(s, ChannelKey("slack", "T0FAKE", "C0NEWS"))
            await s.run_until_quiet()
        assert crashed
        clock.advance(minutes=2)
        async with threaded(database_url, clock, {"slack": sender}) as restarted:
            await restarted.worker.drain()
            top = fake.top_level("C0NEWS")
            assert len(top) == 1
            assert reply_texts([r.body for r in fake.replies("C0NEWS", top[0].ts)]) == STORIES
            assert len(fake.calls_to("chat.postMessage")) == 4


async def test_a_slack_reply_without_an_answer_is_not_posted_again_blindly(database_url: str) -> None:
    clock = FakeClock(START)
    async with FakeSlack() as fake:
        dropped: list[str] = []

        async def drop_first_reply(at: str, delivery: Delivery, part: int) -> None:
            if at == "before_post" and delivery.step == "reply" and not dropped:
                dropped.append(delivery.dedupe_key)
                fake.drop_next("chat.postMessage")  # it reaches Slack; the answer never comes back

        sender = SlackSender(BOT_TOKEN, api_base=fake.api_base)
        async with threaded(database_url, clock, {"slack": sender}, faults=drop_first_reply) as s:
            await _digest_due(s, ChannelKey("slack", "T0FAKE", "C0NEWS"))
            await s.run_until_quiet()
            clock.advance(hours=1)
            await s.worker.drain()
            assert len(fake.calls_to("chat.postMessage")) == 2  # the brief, and the one unanswered reply
            dead = await s.outbox.find(status="dead")
            assert [r.dedupe_key for r in dead] == dropped
            assert "not posted again blindly" in (dead[0].last_error or "")


async def test_a_long_429_on_thread_creation_reschedules_the_thread_while_other_channels_keep_posting(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with discord() as (fake, sender), threaded(database_url, clock, {"discord": sender}) as s:
        await _digest_due(s, ChannelKey("discord", GUILD, TEXT), ChannelKey("discord", GUILD, OTHER))
        fake.fail_threads(TEXT, retry_after=219.0)  # minutes, as Discord has answered in production
        await s.run_until_quiet()  # returns: no worker sleeps through the wait
        _, starts, other_thread = _discord_thread_posts(fake, OTHER)
        assert reply_texts(fake.thread_messages(other_thread)) == STORIES  # the other channel is done
        waiting = [r for r in await s.outbox.find() if r.step == "thread" and r.key.channel == TEXT]
        assert [(r.status, r.attempts) for r in waiting] == [("pending", 0)]  # not an attempt
        assert waiting[0].available_at == SLOT + timedelta(seconds=219)
        clock.advance(seconds=218)
        await s.worker.drain()
        assert len(fake.requests_to("POST", rf"/channels/{TEXT}/messages/\d+/threads$")) == 1
        clock.advance(seconds=2)
        await s.worker.drain()
        _, starts, thread = _discord_thread_posts(fake, TEXT)
        assert len(starts) == 2  # the 429, then the thread
        assert reply_texts(fake.thread_messages(thread)) == STORIES


async def test_a_forum_digest_is_one_new_post_tagged_by_its_topics_with_the_stories_inside(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with discord() as (fake, sender):
        forum = fake.add_forum(
            FORUM,
            ["Taiwan", "drones", "Semiconductors", "Taxation", "Export Controls", "Trade and Tariffs", "AI"],
            moderated=("Taxation",),
        )
        tag = {t["name"]: t["id"] for t in forum["available_tags"]}
        topics = ("drones", "semiconductors", "taxation", "export-controls", "trade-tariffs", "ai", "x")
        async with threaded(database_url, clock, {"discord": sender}, topics=topics) as s:
            await _digest_due(s, ChannelKey("discord", GUILD, FORUM))
            await s.run_until_quiet()
            posts = fake.requests_to("POST", rf"/channels/{FORUM}/threads$")
            assert len(posts) == 1
            assert fake.requests_to("POST", rf"/channels/{FORUM}/messages$") == []
            body = posts[0].json
            assert body["name"] == "News digest · 1 May"
            # Chosen by topic label, any case, moderated ones left out, at most five.
            assert body["applied_tags"] == [
                tag["drones"], tag["Semiconductors"], tag["Export Controls"], tag["Trade and Tariffs"]
            ]  # fmt: skip
            assert "nonce" not in body["message"]
            thread = next(iter(fake.threads))
            messages = fake.thread_messages(thread)
            assert messages[0]["id"] == thread  # the post's first message is the brief
            assert reply_texts(messages[1:]) == STORIES
            assert {r.status for r in await s.outbox.find()} == {"sent"}


async def test_a_crash_after_a_forum_post_finds_the_post_instead_of_creating_it_again(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    hook, crashed = _crash_once("after_post", "forum")
    async with discord() as (fake, sender):
        fake.add_forum(FORUM, ["Drones"])
        async with threaded(database_url, clock, {"discord": sender}, faults=hook) as s:
            await _digest_due(s, ChannelKey("discord", GUILD, FORUM))
            await s.run_until_quiet()
        assert crashed  # the post exists; its id was never recorded
        clock.advance(minutes=2)
        async with threaded(database_url, clock, {"discord": sender}) as restarted:
            await restarted.worker.drain()
            assert len(fake.requests_to("POST", rf"/channels/{FORUM}/threads$")) == 1
            assert len(fake.requests_to("GET", rf"/guilds/{GUILD}/threads/active$")) == 1
            (thread,) = fake.threads
            assert reply_texts(fake.thread_messages(thread)[1:]) == STORIES
            rows = await restarted.outbox.find()
            assert {r.status for r in rows} == {"sent"}
            forum = next(r for r in rows if r.step == "forum")
            assert forum.message_ids == (thread,)
            assert delivery_record(forum)["what"] == "digest 2026-05-01T08:00 · forum post"


async def test_a_missing_thread_permission_pauses_the_delivery_and_its_schedule_with_the_reason_until_retried(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with discord() as (fake, sender):
        key = ChannelKey("discord", GUILD, TEXT)
        async with threaded(database_url, clock, {"discord": sender}) as s:
            fake.deny(TEXT, CREATE_PUBLIC_THREADS)
            await _digest_due(s, key)
            await s.run_until_quiet()
            assert await s.outbox.find(status="dead") == []
            (paused,) = await s.outbox.find(status="paused")  # waiting for a person, not given up
            assert paused.step == "thread"
            assert paused.last_error is not None
            assert "lacks the Create Public Threads permission" in paused.last_error
            assert "50013" in paused.last_error
            schedule = await s.channels.get_schedule(key)
            assert schedule is not None
            assert schedule.paused_reason is not None
            assert "Create Public Threads" in schedule.paused_reason
            waiting = [r for r in await s.outbox.find() if r.step == "reply"]
            assert {r.status for r in waiting} == {"pending"}  # held behind the thread, not lost

            fake._denied.clear()  # an admin grants the permission and retries the delivery
            await s.outbox.requeue(paused.id, clock())
            await s.worker.drain()
            _, _, thread = _discord_thread_posts(fake, TEXT)
            assert reply_texts(fake.thread_messages(thread)) == STORIES
            assert {r.status for r in await s.outbox.find()} == {"sent"}


async def test_replies_the_bot_may_not_send_in_threads_are_paused_with_that_permission_named(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with discord() as (fake, sender), threaded(database_url, clock, {"discord": sender}) as s:
        fake.deny(TEXT, SEND_MESSAGES_IN_THREADS)
        await _digest_due(s, ChannelKey("discord", GUILD, TEXT))
        await s.run_until_quiet()
        (paused,) = await s.outbox.find(status="paused")
        assert paused.step == "reply"
        assert "lacks the Send Messages in Threads permission" in (paused.last_error or "")
        assert s.metrics.deliveries.labels(status="paused", platform="discord")._value.get() == 1


async def test_a_digest_to_a_channel_that_is_itself_a_thread_posts_brief_and_stories_in_it(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    inside = "1300000000000000077"
    async with discord() as (fake, sender), threaded(database_url, clock, {"discord": sender}) as s:
        fake.threads[inside] = {**fake._channel_object(TEXT), "id": inside, "type": 11, "parent_id": TEXT}
        await _digest_due(s, ChannelKey("discord", GUILD, inside))
        await s.run_until_quiet()
        assert fake.requests_to("POST", r"/threads$") == []  # a thread cannot start inside a thread
        posted = fake.thread_messages(inside)
        assert len(posted) == 4
        assert reply_texts(posted[1:]) == STORIES
        assert [r.step for r in await s.outbox.find()] == [None]  # one row: nothing to wait for


async def test_a_crash_after_the_discord_brief_was_posted_but_not_recorded_still_gives_one_brief_and_one_thread(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    hook, crashed = _crash_once("after_post", None)
    async with discord() as (fake, sender):
        async with threaded(database_url, clock, {"discord": sender}, faults=hook) as s:
            await _digest_due(s, ChannelKey("discord", GUILD, TEXT))
            await s.run_until_quiet()
        assert crashed  # posted, never recorded: the steps behind it wait
        assert fake.requests_to("POST", r"/threads$") == []
        clock.advance(minutes=2)
        async with threaded(database_url, clock, {"discord": sender}) as restarted:
            await restarted.worker.drain()
            parents, starts, thread = _discord_thread_posts(fake, TEXT)
            assert len(parents) == 2  # asked twice, with one nonce …
            assert len(fake.channel_messages[TEXT]) == 1  # … one brief exists
            assert len(starts) == 1
            assert thread == fake.channel_messages[TEXT][0]["id"]
            assert reply_texts(fake.thread_messages(thread)) == STORIES
