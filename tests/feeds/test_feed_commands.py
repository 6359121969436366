"""Feeds in chat, through the one command table: /feeds, /feed add|remove, /subscribe feed:NAME, /subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, feed_poller, open_app
from bot.core.commands import COMMANDS
from bot.core.invocation import Invocation, Platform
from bot.settings import Settings
from bot.store.outbox import SqlOutbox
from tests.fakes.feeds import FakeFeeds, sample_rss

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[tuple[App, FakeFeeds]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'chat.db'}", taxonomy_path=ROOT / "config" / "topics.yaml"
    )
    async with FakeFeeds() as server, open_app(settings, clock=lambda: NOW) as application:
        yield application, server


def inv(text: str, *, admin: bool = False, platform: Platform = "discord") -> Invocation:
    name, _, args = text.lstrip("/").partition(" ")
    return Invocation(platform, name, args, workspace="g1", channel="c1", user="u1", is_admin=admin)


async def test_an_admin_adds_a_feed_in_chat_and_everyone_sees_it_in_feeds(
    chat: tuple[App, FakeFeeds],
) -> None:
    app, server = chat
    empty = await app.commands.run(inv("/feeds"))
    assert "follows no feeds yet" in empty.text
    server.serve("/wire.xml", sample_rss("One", "Two"))

    refused = await app.commands.run(inv(f"/feed add {server.url('/wire.xml')}"))
    assert refused.tone == "error"
    assert "Manage Server" in refused.text
    assert await app.feeds.list_feeds() == []

    added = await app.commands.run(inv(f"/feed add {server.url('/wire.xml')}", admin=True))
    assert added.title == "Feed added"
    assert "Following fake-feed" in added.text
    listed = await app.commands.run(inv("/feeds"))
    assert "fake-feed — new · 0 stories · not fetched yet" in listed.text
    assert server.url("/wire.xml") in listed.text


async def test_a_feed_that_cannot_be_added_is_refused_naming_the_url(chat: tuple[App, FakeFeeds]) -> None:
    app, server = chat
    server.fail("/gone.xml", 410)
    reply = await app.commands.run(inv(f"/feed add {server.url('/gone.xml')}", admin=True))
    assert reply.tone == "error"
    assert server.url("/gone.xml") in reply.text
    assert "410" in reply.text
    usage = await app.commands.run(inv("/feed rename x", admin=True))
    assert "feed add URL, or feed remove NAME" in usage.text
    missing = await app.commands.run(inv("/feed remove nosuch", admin=True))
    assert missing.tone == "error"
    assert "No feed is called 'nosuch'" in missing.text


async def test_a_channel_subscribed_to_a_feed_gets_its_new_items_but_not_the_first_polls(
    chat: tuple[App, FakeFeeds],
) -> None:
    app, server = chat
    route = server.serve("/wire.xml", sample_rss("One", "Two"))
    await app.commands.run(inv(f"/feed add {server.url('/wire.xml')} ", admin=True))
    unknown = await app.commands.run(inv("/subscribe feed:nosuch", admin=True))
    assert unknown.tone == "error"
    assert "No feed is called “nosuch”" in unknown.text
    subscribed = await app.commands.run(inv("/subscribe feed:fake-feed", admin=True))
    assert subscribed.title == "Subscribed"
    async with feed_poller(app) as poller:
        await poller.poll_named(["fake-feed"])
        route.body = sample_rss("One", "Two", "Three")
        await poller.poll_named(["fake-feed"])
    alerts = await SqlOutbox(app.engine).find()
    assert [(a.kind, a.key.channel, a.topics) for a in alerts] == [("alert", "c1", ("feed:fake-feed",))]
    shown = await app.commands.run(inv("/topic feed:fake-feed"))
    assert sorted(i.title for i in shown.items) == ["One", "Three", "Two"]


async def test_subscriptions_show_a_followed_feed_and_why_it_is_paused(chat: tuple[App, FakeFeeds]) -> None:
    app, server = chat
    server.serve("/wire.xml", sample_rss("One"))
    await app.commands.run(inv(f"/feed add {server.url('/wire.xml')}", admin=True))
    await app.commands.run(inv("/subscribe feed:fake-feed", admin=True))
    await app.feeds.pause("fake-feed", "410 Gone: the feed was removed", NOW)
    shown = await app.commands.run(inv("/subscriptions"))
    assert "• Feed fake-feed (feed:fake-feed) — feed paused: 410 Gone: the feed was removed" in shown.text
    listed = await app.commands.run(inv("/feeds"))
    assert "paused: 410 Gone" in listed.text

    removed = await app.commands.run(inv("/feed remove fake-feed", admin=True))
    assert removed.title == "Feed removed"
    assert "no longer followed by newsbot" in (await app.commands.run(inv("/subscriptions"))).text
    dropped = await app.commands.run(inv("/unsubscribe feed:fake-feed", admin=True))
    assert dropped.title == "Unsubscribed"
    again = await app.commands.run(inv("/unsubscribe feed:fake-feed", admin=True))
    assert again.tone == "error"


async def test_slack_help_names_the_feed_commands_as_subcommands_of_news(chat: tuple[App, FakeFeeds]) -> None:
    app, _ = chat
    help_text = (await app.commands.run(inv("/help", platform="slack"))).text
    assert "/news feeds — " in help_text
    assert "/news feed add URL | feed remove NAME — " in help_text
    slack_empty = await app.commands.run(inv("/feeds", platform="slack"))
    assert "/news feed add URL" in slack_empty.text


def test_the_feed_command_takes_its_action_as_a_discord_choice_before_the_target() -> None:
    spec = next(s for s in COMMANDS if s.name == "feed")
    assert [(o.name, o.required, o.choices) for o in spec.options] == [
        ("action", True, ("add", "remove")),
        ("target", True, ()),
    ]
    assert spec.admin_only
