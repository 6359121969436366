"""A channel's layout and threads settings, from the store through the composer to what is posted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.layout import LayoutStore
from bot.core.ports import ChannelKey
from tests.delivery.helpers import FakeClock, Stack, stack, summary

START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
CHAN = ChannelKey("slack", "T1", "C1")
LONG = "Certification of drone parts was agreed. " + "Testing rules follow in a later round. " * 3


def _layouts(s: Stack) -> LayoutStore:
    assert s.composer.layouts is not None  # the composition root hands the store in
    return s.composer.layouts


async def _digest_posts(s: Stack, clock: FakeClock) -> list[str]:
    await s.service.ingest([summary("s1", "Drone rules agreed", ["drones"], text=LONG)])
    await s.schedule(CHAN, "0 10 * * *", "Europe/Berlin")  # 08:00 UTC
    clock.set(START + timedelta(hours=1, seconds=3))
    await s.run_until_quiet()
    return [str(p.body) for p in s.senders["slack"].posts]


async def test_a_default_channel_gets_the_brief_then_each_story_in_full(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        brief, story = await _digest_posts(s, clock)
        assert "Certification of drone parts was agreed." in brief
        assert "Testing rules follow" not in brief  # an area shows its first sentence only
        assert "The full stories follow in the thread." in brief
        assert story.count("Testing rules follow") == 3
        # The thread is named by the slot's day where the channel's schedule runs: 23:30 UTC on 1 May
        # is 01:30 on 2 May in Berlin.
        late = await s.composer.digest(CHAN, datetime(2026, 5, 1, 23, 30, tzinfo=UTC), None)
        assert late is not None
        assert late.thread_name == "News digest · 2 May"


async def test_threads_off_posts_only_the_cards(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        await _layouts(s).set_layout(CHAN, threads=False, user="U1", now=clock())
        [brief] = await _digest_posts(s, clock)
        assert "Drone rules agreed" in brief
        assert "thread" not in brief


async def test_the_full_layout_posts_the_whole_digest_in_the_channel(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        stored = await _layouts(s).set_layout(CHAN, layout="full", user="U1", now=clock())
        assert (stored.layout, stored.threads) == ("full", True)
        [whole] = await _digest_posts(s, clock)
        assert whole.count("Testing rules follow") == 3


async def test_an_alert_is_one_card_whatever_the_threads_setting(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        await s.channels.subscribe(CHAN, "drones", user="U1", now=clock())
        await s.service.ingest([summary("s2", "Drone alert", ["drones"], text=LONG)])
        await s.worker.drain()
        [card] = [str(p.body) for p in s.senders["slack"].posts]
        assert "Drone alert" in card
        assert "Testing rules follow" not in card
