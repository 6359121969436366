"""Discord thread requests: names and tags within Discord's limits, and finding a forum post on retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.discord.sender import DiscordSender
from bot.adapters.discord.threads import APPLIED_TAGS_MAX, DiscordThreads, choose_tags, thread_name
from bot.core.ports import RetryLater, Sent
from bot.core.threads import ChannelShape, ForumTag
from tests.fakes.clock import ManualClock
from tests.fakes.discord import GUILD_ID, TOKEN, FakeDiscord

FORUM = "1300000000000000009"
GUILD = str(GUILD_ID)


@pytest.fixture
async def threads() -> AsyncIterator[tuple[FakeDiscord, DiscordThreads]]:
    async with FakeDiscord() as fake:
        sender = DiscordSender(fake.api_base, TOKEN)
        api = DiscordThreads(sender)
        try:
            yield fake, api
        finally:
            await api.close()
            await sender.close()


@given(st.text())
def test_a_thread_name_is_never_empty_and_never_longer_than_discord_allows(name: str) -> None:
    cut = thread_name(name)
    assert 1 <= len(cut) <= 100
    assert cut == cut.strip()
    if name.split() and len(" ".join(name.split())) <= 100:
        assert cut == " ".join(name.split())  # a name that fits is kept, only its spacing tidied


tag_names = st.lists(st.text(min_size=1, max_size=20), max_size=20, unique_by=str.casefold)


@given(tag_names, st.lists(st.text(min_size=1, max_size=20), max_size=12), st.data())
def test_forum_tags_are_the_offered_ones_named_like_the_topics_at_most_five(
    names: list[str], wanted: list[str], data: st.DataObject
) -> None:
    moderated = data.draw(st.sets(st.sampled_from(names))) if names else set()
    offered = tuple(ForumTag(str(i), n, n in moderated) for i, n in enumerate(names))
    chosen = choose_tags(offered, wanted)
    by_id = {t.id: t for t in offered}
    assert len(chosen) <= APPLIED_TAGS_MAX
    assert len(set(chosen)) == len(chosen)
    assert all(c in by_id and not by_id[c].moderated for c in chosen)
    assert all(any(by_id[c].name.casefold() == w.casefold() for w in wanted) for c in chosen)


def test_tags_follow_the_topics_order_in_any_case() -> None:
    offered = (ForumTag("1", "AI"), ForumTag("2", "drones"), ForumTag("3", "Taxation", moderated=True))
    assert choose_tags(offered, ["Drones", "Taxation", "ai", "drones"]) == ["2", "1"]


async def test_a_channel_is_asked_about_once(threads: tuple[FakeDiscord, DiscordThreads]) -> None:
    fake, api = threads
    fake.add_forum(FORUM, ["Drones"])
    first = await api.shape(FORUM)
    assert isinstance(first, ChannelShape)
    assert first.style == "forum"
    assert [t.name for t in first.tags] == ["Drones"]
    assert await api.shape(FORUM) == first
    assert await api.shape("1300000000000000001") == ChannelShape("thread", GUILD)
    assert len(fake.requests_to("GET", r"/channels/\d+$")) == 2
    fake.threads["1300000000000000077"] = {"id": "1300000000000000077", "type": 11, "guild_id": GUILD}
    assert await api.shape("1300000000000000077") == ChannelShape("none", GUILD)  # no thread in a thread


async def test_without_the_gateway_cache_one_request_answers_for_every_channel_of_a_guild() -> None:
    texts = tuple(str(1300000000000000100 + n) for n in range(50))
    async with FakeDiscord(text_channels=texts) as fake:
        fake.add_forum(FORUM, ["Drones"])
        sender = DiscordSender(fake.api_base, TOKEN)
        api = DiscordThreads(sender)
        try:
            shapes = await asyncio.gather(*(api.shape(c, GUILD) for c in (*texts, FORUM)))
            assert shapes[:-1] == [ChannelShape("thread", GUILD)] * len(texts)
            forum = shapes[-1]
            assert isinstance(forum, ChannelShape)
            assert (forum.style, [t.name for t in forum.tags]) == ("forum", ["Drones"])
            assert len(fake.requests_to("GET", rf"/guilds/{GUILD}/channels$")) == 1
            assert fake.requests_to("GET", r"/channels/\d+$") == []
            # A thread is not in its guild's list: it alone is asked about, and the list is not read again.
            fake.threads["1300000000000000077"] = {"id": "1300000000000000077", "type": 11, "guild_id": GUILD}
            assert await api.shape("1300000000000000077", GUILD) == ChannelShape("none", GUILD)
            assert len(fake.requests_to("GET", r"/channels/\d+$")) == 1
            assert len(fake.requests_to("GET", rf"/guilds/{GUILD}/channels$")) == 1
        finally:
            await api.close()
            await sender.close()


async def test_a_guild_whose_list_is_refused_has_its_channels_asked_about_one_by_one() -> None:
    async with FakeDiscord() as fake:
        fake.add_forum(FORUM, ["Drones"])
        sender = DiscordSender(fake.api_base, TOKEN)
        api = DiscordThreads(sender)
        try:
            other = "1200000000000000999"  # a guild the fake does not know: its list answers 404
            assert await api.shape(FORUM, other) == await api.shape(FORUM)
            assert (await api.shape("1300000000000000001", other)) == ChannelShape("thread", GUILD)
            assert len(fake.requests_to("GET", rf"/guilds/{other}/channels$")) == 1  # not asked again
            assert len(fake.requests_to("GET", r"/channels/\d+$")) == 2
        finally:
            await api.close()
            await sender.close()


async def test_a_rate_limited_question_is_retried_later_not_taken_as_a_text_channel() -> None:
    clock = ManualClock()
    async with FakeDiscord(global_limit=1, clock=clock) as fake:
        fake.add_forum(FORUM, ["Drones"])
        sender = DiscordSender(fake.api_base, TOKEN)
        api = DiscordThreads(sender)
        try:
            assert isinstance(await api.shape("1300000000000000001"), ChannelShape)
            limited = await api.shape(FORUM)  # the second request inside one second
            assert isinstance(limited, RetryLater)
            assert limited.rate_limited
            clock.advance(1.0)
            again = await api.shape(FORUM)
            assert isinstance(again, ChannelShape)
            assert again.style == "forum"  # asked again, not remembered as a text channel
        finally:
            await api.close()
            await sender.close()


async def test_only_the_bots_own_recent_post_of_that_name_is_taken_for_the_one_it_lost(
    threads: tuple[FakeDiscord, DiscordThreads],
) -> None:
    fake, api = threads
    fake.add_forum(FORUM, ["Drones"])
    body = {"name": "News digest · 1 May", "message": {"content": "brief"}}
    created = await api.create_post(FORUM, body)
    assert isinstance(created, Sent)
    since = datetime.now(UTC)
    assert await api.find_post(GUILD, FORUM, "News digest · 1 May", since) == created
    assert await api.find_post(GUILD, FORUM, "News digest · 2 May", since) is None
    assert await api.find_post(GUILD, "1300000000000000001", "News digest · 1 May", since) is None
    assert await api.find_post(GUILD, FORUM, "News digest · 1 May", since + timedelta(hours=1)) is None
    fake.threads[created.message_id]["owner_id"] = "1400000000000000001"  # someone else's post
    assert await api.find_post(GUILD, FORUM, "News digest · 1 May", since) is None
