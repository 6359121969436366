"""The command table as chat users meet it, on a real store with the worked example loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, open_app
from bot.core.commands import parse_since
from bot.core.ingest import ingest_paths
from bot.core.invocation import Invocation, Platform
from bot.core.query import QueryError
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "us-taiwan-dialogue.yaml"
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cmd.db'}",
        taxonomy_path=ROOT / "config" / "topics.yaml",
    )
    async with open_app(settings, clock=lambda: NOW) as application:
        report = await ingest_paths(application.service, [EXAMPLE])
        assert not report.errors
        yield application


def inv(
    text: str, *, platform: Platform = "discord", admin: bool = False, channel: str | None = "c1"
) -> Invocation:
    name, _, args = text.lstrip("/").partition(" ")
    return Invocation(platform, name, args, workspace="g1", channel=channel, user="u1", is_admin=admin)


async def test_topic_answers_with_the_drone_section(app: App) -> None:
    reply = await app.commands.run(inv("/topic drones"))
    assert reply.tone == "info"
    assert reply.items[0].title == "Drone Technology"
    assert "certification" in reply.items[0].text
    assert reply.items[0].meta is not None
    assert "Taiwan and US Deepen" in reply.items[0].meta


async def test_typo_says_what_it_showed(app: App) -> None:
    reply = await app.commands.run(inv("/topic drnoes"))
    assert reply.notice is not None
    assert "Drones" in reply.notice
    assert reply.items[0].title == "Drone Technology"


async def test_nothing_found_suggests_topics(app: App) -> None:
    reply = await app.commands.run(inv("/topic energy"))
    assert reply.tone == "warning"
    assert "No stories on Energy yet" in reply.text


async def test_control_characters_and_huge_queries(app: App) -> None:
    cleaned = await app.commands.run(inv("/topic dro\x00nes\x07"))
    assert cleaned.tone in {"info", "warning"}
    huge = await app.commands.run(inv("/topic " + "x" * 20_000))
    assert huge.tone == "error"
    assert "too long" in huge.text
    blank = await app.commands.run(inv("/topic "))
    assert blank.tone == "error"


@pytest.mark.parametrize(
    ("platform", "rule"),
    [
        ("discord", "Manage Server"),
        ("slack", "workspace admin or owner"),
    ],
)
async def test_changing_alerts_needs_admin(app: App, platform: Platform, rule: str) -> None:
    for text in ("/subscribe drones", "/unsubscribe drones", "/schedule daily 08:00", "/schedule off"):
        reply = await app.commands.run(inv(text, platform=platform))
        assert reply.tone == "error", text
        assert rule in reply.text
        assert reply.private
    assert await app.channels.subscriptions(_key(platform)) == []
    assert await app.channels.get_schedule(_key(platform)) is None


async def test_anyone_may_look_at_the_schedule(app: App) -> None:
    reply = await app.commands.run(inv("/schedule show"))
    assert reply.tone == "info"
    assert "no digest schedule" in reply.text


async def test_subscribe_round_trip(app: App) -> None:
    first = await app.commands.run(inv("/subscribe UAV", admin=True))
    assert first.title == "Subscribed"
    again = await app.commands.run(inv("/subscribe drones", admin=True))
    assert again.title == "Already subscribed"
    listing = await app.commands.run(inv("/subscriptions"))
    assert "Drones (drones)" in listing.text
    gone = await app.commands.run(inv("/unsubscribe drones", admin=True))
    assert gone.title == "Unsubscribed"
    unknown = await app.commands.run(inv("/subscribe zebras", admin=True))
    assert unknown.tone == "error"
    assert "not a topic" in unknown.text


async def test_schedule_presets_and_validation(app: App) -> None:
    daily = await app.commands.run(inv("/schedule daily 08:00 Europe/Berlin", admin=True))
    assert daily.title == "Digest scheduled"
    assert (
        "2026-11-26 08:00 CET" in daily.text
    )  # 07:00 UTC is 08:00 in Berlin: the next slot is strictly later
    stored = await app.channels.get_schedule(_key("discord"))
    assert stored is not None
    assert (stored.cron, stored.timezone) == ("0 8 * * *", "Europe/Berlin")
    weekly = await app.commands.run(inv("/schedule weekly fri 17:30", admin=True))
    assert "every fri at 17:30 (UTC)" in weekly.text
    cron = await app.commands.run(inv('/schedule cron "0 9 * * mon-fri" America/New_York', admin=True))
    assert cron.title == "Digest scheduled"
    bad_tz = await app.commands.run(inv("/schedule daily 08:00 Europe/Berln", admin=True))
    assert bad_tz.tone == "error"
    assert "Did you mean Europe/Berlin?" in bad_tz.text
    bad_time = await app.commands.run(inv("/schedule daily 25:00", admin=True))
    assert "24-hour HH:MM" in bad_time.text
    bad_cron = await app.commands.run(inv("/schedule cron 61 * * * *", admin=True))
    assert "not a valid cron expression" in bad_cron.text
    off = await app.commands.run(inv("/schedule off", admin=True))
    assert "off" in off.text
    assert await app.channels.get_schedule(_key("discord")) is None


async def test_channel_commands_need_a_channel(app: App) -> None:
    reply = await app.commands.run(inv("/subscriptions", channel=None))
    assert reply.tone == "error"
    assert "in a channel" in reply.text


async def test_unknown_command_shows_help_for_the_platform(app: App) -> None:
    slack = await app.commands.run(inv("/frobnicate", platform="slack"))
    assert "Unknown command “frobnicate”" in slack.text
    assert "/news topic QUERY" in slack.text
    discord = await app.commands.run(inv("/help"))
    assert "/topic QUERY" in discord.text
    assert discord.private


async def test_digest_windows(app: App) -> None:
    latest = await app.commands.run(inv("/digest"))
    assert latest.items[0].title.startswith("Taiwan and US Deepen")
    empty = await app.commands.run(inv("/digest 24h"))
    assert empty.tone == "warning"
    assert "No stories since 2026-11-24" in empty.text
    bad = await app.commands.run(inv("/digest soon"))
    assert bad.tone == "error"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", datetime(2026, 11, 24, 7, 0, tzinfo=UTC)),
        ("7d", datetime(2026, 11, 18, 7, 0, tzinfo=UTC)),
        ("2w", datetime(2026, 11, 11, 7, 0, tzinfo=UTC)),
        ("today", datetime(2026, 11, 25, tzinfo=UTC)),
        ("yesterday", datetime(2026, 11, 24, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:00+01:00", datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_parse_since_refuses_nonsense() -> None:
    with pytest.raises(QueryError, match="not a time"):
        parse_since("next tuesday", NOW)


def _key(platform: str):  # type: ignore[no-untyped-def]
    from bot.core.ports import ChannelKey

    return ChannelKey(platform, "g1", "c1")
