"""Delivery through the real platform senders against the loopback Discord and Slack fakes."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.adapters.discord.sender import DiscordSender
from bot.adapters.slack.sender import DELIVERY_EVENT, SlackSender
from bot.core.ports import ChannelKey
from bot.delivery.ratelimit import Limiter
from tests.delivery.helpers import FakeClock, stack, summary
from tests.delivery.test_ratelimit import VirtualTime
from tests.fakes.discord import TOKEN, FakeDiscord
from tests.fakes.slack import BOT_TOKEN, FakeSlack

START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
GUILD = "1200000000000000001"


def _crash_once() -> tuple[object, list[int]]:
    crashes: list[int] = []

    async def hook(point: str, delivery: object, part: int) -> None:
        if point == "after_post" and not crashes:
            crashes.append(part)
            raise RuntimeError("simulated crash after the POST, before it was recorded")

    return hook, crashes


async def test_discord_crash_after_post_is_deduplicated_by_the_nonce(database_url: str) -> None:
    clock = FakeClock(START)
    hook, crashes = _crash_once()
    async with FakeDiscord() as fake:
        sender = DiscordSender(fake.api_base, TOKEN)
        try:
            async with stack(database_url, clock, senders={"discord": sender}, faults=hook) as s:  # type: ignore[arg-type]
                key = ChannelKey("discord", GUILD, "1300000000000000001")
                await s.channels.subscribe(key, "drones", user="u", now=clock())
                await s.service.ingest([summary("s1", "Drone certification", ["drones"])])
                await s.worker.drain()
                assert crashes == [0]
                clock.advance(seconds=61)  # the crashed process's lease runs out; another one resumes
                await s.worker.drain()
                posts = fake.requests_to("POST", "/channels/")
                assert len(posts) == 2  # posted twice …
                assert posts[0].json["nonce"] == posts[1].json["nonce"]
                assert posts[0].json["enforce_nonce"]
                assert len(fake.channel_messages[key.channel]) == 1  # … but one message exists
                row = (await s.outbox.find())[0]
                assert row.status == "sent"
                assert row.message_ids == (fake.channel_messages[key.channel][0]["id"],)
        finally:
            await sender.close()


async def test_slack_crash_after_post_is_at_least_once_with_the_delivery_in_metadata(
    database_url: str,
) -> None:
    # Slack has no idempotency key: a crash between the POST and recording it posts the part again.
    # Both copies carry the same delivery key in their metadata, so they can be found and reconciled.
    clock = FakeClock(START)
    hook, crashes = _crash_once()
    async with FakeSlack() as fake:
        sender = SlackSender(BOT_TOKEN, api_base=fake.api_base)
        async with stack(database_url, clock, senders={"slack": sender}, faults=hook) as s:  # type: ignore[arg-type]
            key = ChannelKey("slack", "T0FAKE", "C0NEWS")
            await s.channels.subscribe(key, "drones", user="u", now=clock())
            await s.service.ingest([summary("s1", "Drone certification", ["drones"])])
            await s.worker.drain()
            clock.advance(seconds=61)
            await s.worker.drain()
            assert crashes == [0]
            posted = [p for p in fake.posted if p.channel == "C0NEWS"]
            assert len(posted) == 2
            metas = [p.body["metadata"] for p in posted]
            assert metas[0] == metas[1]
            assert metas[0]["event_type"] == DELIVERY_EVENT
            row = (await s.outbox.find())[0]
            assert metas[0]["event_payload"]["delivery"] == f"{row.id}:0"
            assert row.status == "sent"


async def test_discord_429s_wait_for_retry_after_and_lose_nothing(database_url: str) -> None:
    clock = FakeClock(START)
    vt = VirtualTime()
    limiter = Limiter(50, clock=vt.clock, sleep=vt.sleep)
    async with FakeDiscord() as fake:
        sender = DiscordSender(fake.api_base, TOKEN)
        try:
            async with stack(database_url, clock, senders={"discord": sender}) as s:  # type: ignore[arg-type]
                s.worker.limiters["discord"] = limiter
                channels = ["1300000000000000001", "1300000000000000002"]
                for ch in channels:
                    await s.channels.subscribe(ChannelKey("discord", GUILD, ch), "ai", user="u", now=clock())
                fake.fail(channels[0], 429, retry_after=3.0)  # per-route
                fake.fail(channels[1], 429, retry_after=2.0, is_global=True)  # global
                await s.service.ingest([summary("s1", "AI story", ["ai"])])
                await s.worker.drain()
                assert fake.channel_messages == {}
                await s.worker.drain()  # nothing is due again before Retry-After
                assert fake.channel_messages == {}
                clock.advance(seconds=3)
                await s.worker.drain()
                assert sorted(fake.channel_messages) == sorted(channels)
                assert all(len(m) == 1 for m in fake.channel_messages.values())
                assert vt.now >= 2.0  # the limiter held every channel for the global Retry-After
                rows = await s.outbox.find()
                assert {(r.status, r.attempts) for r in rows} == {("sent", 0)}
                assert s.metrics.rate_limited.labels(platform="discord")._value.get() == 2
        finally:
            await sender.close()


async def test_discord_403_and_404_are_dead_after_one_attempt_and_pause_subscriptions(
    database_url: str,
) -> None:
    clock = FakeClock(START)
    async with FakeDiscord() as fake:
        sender = DiscordSender(fake.api_base, TOKEN)
        try:
            async with stack(database_url, clock, senders={"discord": sender}) as s:  # type: ignore[arg-type]
                forbidden, missing = "1300000000000000001", "1300000000000000002"
                for ch in (forbidden, missing):
                    await s.channels.subscribe(ChannelKey("discord", GUILD, ch), "ai", user="u", now=clock())
                fake.fail(forbidden, 403)
                fake.fail(missing, 404)
                await s.service.ingest([summary("s1", "AI story", ["ai"])])
                for _ in range(3):
                    await s.worker.drain()
                    clock.advance(minutes=10)
                assert len(fake.requests_to("POST", "/channels/")) == 2
                dead = {r.key.channel: r for r in await s.outbox.find(status="dead")}
                assert dead[forbidden].last_error == "403 Missing Permissions (code 50013)"
                assert dead[missing].last_error == "404 Unknown Channel (code 10003)"
                reply = await s.channels.subscriptions(ChannelKey("discord", GUILD, forbidden))
                assert reply[0].paused_reason is not None
                assert "Missing Permissions" in reply[0].paused_reason
        finally:
            await sender.close()
