"""End to end: the real discord.py client, run by DiscordBot against the loopback Discord, with a real App."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.discord.bot import DiscordBot
from bot.adapters.discord.errors import DiscordLoginError
from bot.app import App, digest_renderers
from bot.core.commands import COMMANDS
from bot.core.layout import ChannelLayout
from bot.core.ports import ChannelKey
from bot.core.threads import ChannelShape
from bot.delivery.compose import Composer
from tests.adapters.discord.conftest import RunBot, Running, discord_settings, ingest_copies
from tests.adapters.payload_tools import run_checker
from tests.fakes.discord import CHANNEL_ID, GUILD_ID, INTERACTION_DEADLINE, MANAGE_GUILD, Recorded

EPHEMERAL = 1 << 6
GUILDS_INTENT = 1 << 0

# Which OpenAPI schema each kind of request to Discord must satisfy.
CALLBACK_SCHEMAS = {
    4: "CreateMessageInteractionCallbackRequest",
    5: "CreateMessageInteractionCallbackRequest",
    7: "UpdateMessageInteractionCallbackRequest",
    8: "ApplicationCommandAutocompleteCallbackRequest",
}


def check_bodies(requests: list[Recorded], tmp_path: Path) -> None:
    """Run check-discord-payloads on every interaction callback and webhook body, each with its schema."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in requests:
        if r.path.endswith("/callback"):
            schema = CALLBACK_SCHEMAS.get(r.json.get("type"), "")
            assert schema, f"unexpected callback type {r.json.get('type')}"
        elif "/webhooks/" in r.path and r.method == "POST":
            schema = "IncomingWebhookRequestPartial"
        elif "/webhooks/" in r.path and r.method == "PATCH":
            schema = "IncomingWebhookUpdateRequestPartial"
        elif r.path.endswith("/messages") and r.method == "POST":
            schema = "MessageCreateRequest"
        else:
            continue
        groups.setdefault(schema, []).append(r.json)
    assert groups, "no bodies were sent"
    for schema, bodies in groups.items():
        run_checker("check-discord-payloads", bodies, tmp_path, "--schema", schema)


def embed_text(data: dict[str, Any]) -> str:
    """Return every title, description and field of a message body's embeds as one string."""
    bits = []
    for e in data.get("embeds") or []:
        bits += [e.get("title") or "", e.get("description") or "", (e.get("footer") or {}).get("text") or ""]
        bits += [f"{f['name']} {f['value']}" for f in e.get("fields") or []]
    return "\n".join(bits)


async def test_login_registers_guild_commands_and_identifies_with_guilds_intent_only(
    running: Running, tmp_path: Path
) -> None:
    fake = running.fake
    assert fake.identify is not None
    assert fake.identify["intents"] == GUILDS_INTENT  # no message content, members or presences
    puts = fake.requests_to("PUT", r"/guilds/\d+/commands$")
    assert len(puts) == 1
    assert f"/guilds/{GUILD_ID}/" in puts[0].path
    commands = {c["name"]: c for c in puts[0].json}
    assert set(commands) == {s.name for s in COMMANDS}
    topic_options = {o["name"]: o for o in commands["topic"]["options"]}
    assert topic_options["query"]["autocomplete"] is True
    assert topic_options["private"]["type"] == 5
    for admin in ("subscribe", "unsubscribe", "schedule"):
        assert commands[admin]["default_member_permissions"] == MANAGE_GUILD
    assert "default_member_permissions" not in commands["topic"]
    run_checker(
        "check-discord-payloads", puts[0].json, tmp_path, "--schema", "ApplicationCommandUpdateRequest"
    )


async def test_without_guild_ids_commands_are_registered_globally(fake: Any, run_bot: RunBot) -> None:
    async with run_bot(settings=discord_settings(fake, guild_ids=[])):
        assert len(fake.requests_to("PUT", r"/applications/\d+/commands$")) == 1
        assert not fake.requests_to("PUT", r"/guilds/")


async def test_gateway_url_comes_from_the_api_when_not_configured(fake: Any, run_bot: RunBot) -> None:
    async with run_bot(settings=discord_settings(fake, gateway_url=None)):
        assert fake.requests_to("GET", r"/gateway/bot$")
        assert fake.identified.is_set()


async def test_topic_drones_answers_with_the_drone_technology_section(
    running: Running, tmp_path: Path
) -> None:
    fake = running.fake
    callback = await fake.interact(fake.slash("topic", {"query": "drones"}))
    assert callback.json["type"] == 4
    data = callback.json["data"]
    assert "Drone Technology" in embed_text(data)
    assert "Topic: Drones" in embed_text(data)
    assert data["allowed_mentions"] == {"parse": []}
    assert not int(data.get("flags") or 0) & EPHEMERAL
    check_bodies(fake.requests, tmp_path)


async def test_private_option_answers_only_the_caller(running: Running) -> None:
    fake = running.fake
    callback = await fake.interact(fake.slash("topic", {"query": "drones", "private": True}))
    assert int(callback.json["data"]["flags"]) & EPHEMERAL


def make_slow(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every command take a moment, so a bot with defer_after=0 always defers."""
    original = app.commands.run

    async def slow_run(inv: Any) -> Any:
        await asyncio.sleep(0.05)
        return await original(inv)

    monkeypatch.setattr(app.commands, "run", slow_run)


async def test_a_slow_command_is_deferred_then_answered_by_editing_the_original(
    run_bot: RunBot, fake: Any, app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    make_slow(app, monkeypatch)
    async with run_bot(defer_after=0.0):
        payload = fake.slash("topic", {"query": "drones"})
        callback = await fake.interact(payload)
        assert callback.json["type"] == 5
        await fake.wait_for(lambda: any(r.method == "PATCH" for r in fake.responses(payload["token"])))
        edit = next(r for r in fake.responses(payload["token"]) if r.method == "PATCH")
        assert edit.path.endswith("/messages/@original")
        assert "Drone Technology" in embed_text(edit.json)
        check_bodies(fake.responses(payload["token"]), tmp_path)


async def test_a_command_slower_than_discords_deadline_is_deferred_before_the_token_expires(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bot runs with its real defer threshold; the fake refuses any first answer after 3 s (10062),
    # so a threshold at or past Discord's deadline leaves the user with "The application did not respond".
    fake, app = running.fake, running.app
    original = app.commands.run
    release = asyncio.Event()

    async def stuck_run(inv: Any) -> Any:
        await release.wait()
        return await original(inv)

    monkeypatch.setattr(app.commands, "run", stuck_run)
    payload = fake.slash("topic", {"query": "drones"})
    callback = await fake.interact(payload, within=INTERACTION_DEADLINE + 5)
    assert callback.json["type"] == 5
    assert fake.late_callbacks == []
    release.set()
    await fake.wait_for(lambda: any(r.method == "PATCH" for r in fake.responses(payload["token"])))
    edit = next(r for r in fake.responses(payload["token"]) if r.method == "PATCH")
    assert "Drone Technology" in embed_text(edit.json)
    assert "Something went wrong" not in embed_text(edit.json)


async def test_a_deferred_private_answer_replaces_the_public_placeholder(
    run_bot: RunBot, fake: Any, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_slow(app, monkeypatch)
    async with run_bot(defer_after=0.0):
        payload = fake.slash("schedule", {"when": "daily 08:00"})  # refused: the member lacks Manage Server
        await fake.interact(payload)
        await fake.wait_for(
            lambda: any(
                r.method == "POST" and "/webhooks/" in r.path for r in fake.responses(payload["token"])
            )
        )
        methods = [r.method for r in fake.responses(payload["token"])]
        assert methods == ["POST", "DELETE", "POST"]
        follow_up = fake.responses(payload["token"])[-1].json
        assert int(follow_up["flags"]) & EPHEMERAL
        assert "Manage Server" in embed_text(follow_up)


async def test_autocomplete_offers_at_most_25_topics_with_drones_first(
    running: Running, tmp_path: Path
) -> None:
    fake = running.fake
    callback = await fake.interact(fake.autocomplete("topic", "query", "dro"))
    assert callback.json["type"] == 8
    choices = callback.json["data"]["choices"]
    assert 1 <= len(choices) <= 25
    assert choices[0]["value"] == "drones"
    empty = await fake.interact(fake.autocomplete("topic", "query", ""))
    assert len(empty.json["data"]["choices"]) <= 25
    check_bodies(fake.requests, tmp_path)


async def test_next_and_previous_buttons_page_through_the_answer(running: Running, tmp_path: Path) -> None:
    fake = running.fake
    await ingest_copies(running.app, 7)  # 8 stories with a drones section: two pages of five
    payload = fake.slash("topic", {"query": "drones"})
    first = await fake.interact(payload)
    row = first.json["data"]["components"][0]["components"]
    previous, following = row
    assert previous["disabled"] is True
    assert following["disabled"] is False
    assert "page 1 of 2" in embed_text(first.json["data"])

    message = fake.message(str(CHANNEL_ID), first.json["data"], webhook_id="1")
    second = await fake.interact(fake.button(following["custom_id"], message))
    assert second.json["type"] == 7  # the same message is updated
    assert "page 2 of 2" in embed_text(second.json["data"])
    previous2, following2 = second.json["data"]["components"][0]["components"]
    assert following2["disabled"] is True
    assert previous2["disabled"] is False

    back = await fake.interact(fake.button(previous2["custom_id"], message))
    assert back.json["type"] == 7
    assert "page 1 of 2" in embed_text(back.json["data"])
    check_bodies(fake.requests, tmp_path)


async def test_an_expired_button_is_answered(running: Running) -> None:
    fake = running.fake
    message = fake.message(str(CHANNEL_ID), {"embeds": [{"title": "old"}]})
    callback = await fake.interact(fake.button("nb:n:topic:2:#0123456789abcdef", message))
    assert callback.json["type"] == 4
    assert int(callback.json["data"]["flags"]) & EPHEMERAL
    assert "expired" in embed_text(callback.json["data"])


async def test_schedule_is_refused_without_manage_server_and_stored_for_an_admin(
    running: Running, tmp_path: Path
) -> None:
    fake, app = running.fake, running.app
    key = ChannelKey("discord", str(GUILD_ID), str(CHANNEL_ID))

    refused = await fake.interact(fake.slash("schedule", {"when": "daily 08:00 Europe/Berlin"}))
    assert int(refused.json["data"]["flags"]) & EPHEMERAL
    assert "Manage Server" in embed_text(refused.json["data"])
    assert await app.channels.get_schedule(key) is None

    accepted = await fake.interact(
        fake.slash("schedule", {"when": "daily 08:00 Europe/Berlin"}, permissions=MANAGE_GUILD)
    )
    assert "Digest scheduled" in embed_text(accepted.json["data"])
    schedule = await app.channels.get_schedule(key)
    assert schedule is not None
    assert schedule.timezone == "Europe/Berlin"

    shown = await fake.interact(fake.slash("schedule", {"when": "show"}))  # reading needs no rights
    assert "Europe/Berlin" in embed_text(shown.json["data"])
    check_bodies(fake.requests, tmp_path)


async def test_subscriptions_are_stored_per_channel_by_admins(running: Running) -> None:
    fake, app = running.fake, running.app
    done = await fake.interact(fake.slash("subscribe", {"topic": "drones"}, permissions=MANAGE_GUILD))
    assert "Subscribed" in embed_text(done.json["data"])
    subs = await app.channels.subscriptions(ChannelKey("discord", str(GUILD_ID), str(CHANNEL_ID)))
    assert [s.topic_id for s in subs] == ["drones"]
    listed = await fake.interact(fake.slash("subscriptions"))
    assert "Drones" in embed_text(listed.json["data"])
    refused = await fake.interact(fake.slash("unsubscribe", {"topic": "drones"}))
    assert "Manage Server" in embed_text(refused.json["data"])


async def test_guild_dm_and_unknown_commands_are_all_answered(running: Running) -> None:
    fake = running.fake
    in_guild = await fake.interact(fake.slash("topics"))
    assert in_guild.json["type"] == 4
    assert "Drones" in embed_text(in_guild.json["data"])

    in_dm = await fake.interact(fake.slash("topic", {"query": "drones"}, guild_id=None))
    assert "Drone Technology" in embed_text(in_dm.json["data"])

    # In a DM nobody has Manage Server: changing settings is refused, not left unanswered.
    dm_admin = await fake.interact(
        fake.slash("subscribe", {"topic": "drones"}, guild_id=None, permissions=MANAGE_GUILD)
    )
    assert dm_admin.json["type"] == 4
    assert "Manage Server" in embed_text(dm_admin.json["data"])

    unknown = await fake.interact(fake.slash("frobnicate", {"x": "y"}))
    assert unknown.json["type"] == 4
    assert "Unknown command" in embed_text(unknown.json["data"])

    for name, words in (("help", "/topic"), ("digest", "Drone Technology")):
        answered = await fake.interact(fake.slash(name))
        assert answered.json["type"] == 4
        said = embed_text(answered.json["data"])
        assert words in said, (name, said[:200])
        assert "Something went wrong" not in said


async def test_bad_arguments_get_a_clear_answer(running: Running) -> None:
    fake = running.fake
    bad_since = await fake.interact(fake.slash("digest", {"since": "next tuesday-ish"}))
    assert "is not a time" in embed_text(bad_since.json["data"])
    bad_cron = await fake.interact(
        fake.slash("schedule", {"when": "cron 99 * * * *"}, permissions=MANAGE_GUILD)
    )
    said = embed_text(bad_cron.json["data"])
    assert "is not a valid cron expression" in said
    assert "(99) is higher than the maximum value (59)" in said
    assert "Something went wrong" not in said
    assert int(bad_cron.json["data"]["flags"]) & EPHEMERAL


async def test_an_invalid_token_is_one_line_without_the_token(fake: Any, app: App) -> None:
    bot = DiscordBot(discord_settings(fake, token="not-the-token"), app.commands)
    with pytest.raises(DiscordLoginError) as info:
        await asyncio.wait_for(bot.run(asyncio.Event()), 15)
    message = str(info.value)
    assert message == "Discord refused the token (401 Unauthorized): check NEWSBOT_DISCORD__TOKEN"
    assert "\n" not in message
    assert "not-the-token" not in message
    assert info.value.__cause__ is None
    assert not fake.identified.is_set()


async def test_stop_ends_run_and_closes_the_gateway(run_bot: RunBot, fake: Any) -> None:
    async with run_bot() as r:
        assert fake.identified.is_set()
        r.stop.set()
        await asyncio.wait_for(r.task, 10)  # a safety net: run() returns on its own once stop is set
        assert r.task.exception() is None
    await fake.wait_for(lambda: not fake._sockets)


async def test_a_crash_inside_the_bot_still_answers_the_user(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, app = running.fake, running.app

    async def broken_run(inv: Any) -> Any:
        raise RuntimeError("boom")

    async def broken_complete(prefix: str, limit: int = 25) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.commands, "run", broken_run)
    monkeypatch.setattr(app.commands, "complete_topics", broken_complete)
    answered = await fake.interact(fake.slash("topic", {"query": "drones"}))
    assert answered.json["type"] == 4
    assert int(answered.json["data"]["flags"]) & EPHEMERAL
    assert "Something went wrong" in embed_text(answered.json["data"])
    completed = await fake.interact(fake.autocomplete("topic", "query", "dro"))
    assert completed.json == {"type": 8, "data": {"choices": []}}


async def test_an_admin_sets_the_layout_with_the_slash_command_and_the_digest_follows_it(
    running: Running,
) -> None:
    fake, app = running.fake, running.app
    key = ChannelKey("discord", str(GUILD_ID), str(CHANNEL_ID))
    composer = Composer(
        app.archive, app.channels, app.taxonomy.labels(), digest_renderers(), layouts=app.layouts
    )

    refused = await fake.interact(fake.slash("settings", {"setting": "layout", "value": "full"}))
    assert "Manage Server" in embed_text(refused.json["data"])
    assert await app.layouts.get_layout(key) == ChannelLayout()

    changed = await fake.interact(
        fake.slash("settings", {"setting": "layout", "value": "full"}, permissions=MANAGE_GUILD)
    )
    assert "Layout: full" in embed_text(changed.json["data"])
    assert await app.layouts.get_layout(key) == ChannelLayout("full", threads=True)
    shown = await fake.interact(fake.slash("settings", permissions=MANAGE_GUILD))
    assert "Layout: full" in embed_text(shown.json["data"])
    assert "Digest: none" in embed_text(shown.json["data"])

    digest = await composer.digest(key, datetime.now(UTC), None)
    assert digest is not None
    assert digest.thread == []  # the full text is in the channel: nothing left for a thread
    assert "Drone Technology" in str(digest.channel)
    commands = [*fake.global_commands, *(c for cs in fake.guild_commands.values() for c in cs)]
    [registered] = [c for c in commands if c["name"] == "settings"]
    assert [o["name"] for o in registered["options"]] == ["setting", "value"]


async def test_the_gateway_cache_tells_delivery_a_forum_and_its_tags_from_a_text_channel(
    fake: Any, run_bot: RunBot
) -> None:
    fake.add_forum(1300000000000000009, ["Drones", "AI"], moderated=("AI",))
    async with run_bot() as r:
        requests_before = len(fake.requests)
        assert r.bot.channel_shape(str(CHANNEL_ID)) == ChannelShape("thread", str(GUILD_ID))
        forum = r.bot.channel_shape("1300000000000000009")
        assert forum is not None
        assert forum.style == "forum"
        assert [(t.name, t.moderated) for t in forum.tags] == [("Drones", False), ("AI", True)]
        assert r.bot.channel_shape("1399999999999999999") is None  # not cached: delivery asks REST
        assert r.bot.channel_shape("news") is None
        assert len(fake.requests) == requests_before  # read from the cache, not asked
