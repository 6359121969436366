"""Post-only webhook mode, the invite URL, `newsbot discord …` and the registered command bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from typer.testing import CliRunner

from bot.adapters.discord.errors import DiscordLoginError
from bot.adapters.discord.interactions import CUSTOM_ID_MAX, PageIds
from bot.adapters.discord.invite import fetch_application_id, invite_url
from bot.adapters.discord.registration import MANAGE_GUILD, command_payloads
from bot.adapters.discord.render import render_reply
from bot.adapters.discord.webhook import check_webhook_url, post_webhook
from bot.app import App
from bot.cli.discord import _sync, discord_app
from bot.core.commands import COMMANDS
from bot.core.invocation import CommandSpec, OptionSpec
from bot.core.ports import Failed, RetryLater, Sent
from bot.core.reply import Item, Reply
from tests.adapters.discord.conftest import discord_settings
from tests.adapters.payload_tools import run_checker
from tests.fakes.discord import APPLICATION_ID, GUILD_ID, TOKEN, FakeDiscord

# View Channel (1 << 10) + Send Messages (1 << 11) + Embed Links (1 << 14) + Send Messages in Threads (1 << 38)
# View Channel, Send Messages, Embed Links, Create Public Threads, Send Messages in Threads
INVITE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 35) | (1 << 38)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


# -- webhook -----------------------------------------------------------------------------------------


async def test_webhook_posts_every_body_in_order(fake: FakeDiscord, tmp_path: Path) -> None:
    reply = Reply(title="Digest", items=[Item(title=f"Story {i}", text="words " * 800) for i in range(4)])
    bodies = render_reply(reply)
    assert len(bodies) > 1
    outcomes = await post_webhook(fake.webhook_url(), bodies)
    assert all(isinstance(o, Sent) for o in outcomes)
    sent = fake.requests_to("POST", r"/webhooks/\d+/[\w-]+$")
    assert len(sent) == len(bodies)
    assert all(r.query.get("wait") == "true" for r in sent)
    assert [r.json["embeds"] for r in sent] == [b["embeds"] for b in bodies]
    run_checker(
        "check-discord-payloads",
        [r.json for r in sent],
        tmp_path,
        "--schema",
        "IncomingWebhookRequestPartial",
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/api/webhooks/123456/abc",
        "http://discord.com/api/webhooks/123456/abc",
        "https://discord.com/api/channels/123456/messages",
        "https://discord.com.evil.test/api/webhooks/123456/abc",
        "ftp://127.0.0.1/api/webhooks/123456/abc",
        "not a url",
        "",
    ],
)
async def test_webhook_urls_that_are_not_discords_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="webhook URL"):
        await post_webhook(url, [{"content": "x"}])


def test_discord_webhook_urls_are_accepted() -> None:
    for url in (
        "https://discord.com/api/webhooks/1234567890/tok_en-1",
        "https://discordapp.com/api/v10/webhooks/1234567890/token?thread_id=5",
        "http://127.0.0.1:8080/api/v10/webhooks/1234567890/token",
    ):
        check_webhook_url(url)


async def test_webhook_waits_out_a_short_rate_limit(fake: FakeDiscord) -> None:
    fake.fail_webhook(1600000000000000001, 429, retry_after=0.01)
    outcomes = await post_webhook(fake.webhook_url(), [{"content": "one"}])
    assert isinstance(outcomes[0], Sent)
    assert len(fake.requests_to("POST", r"/webhooks/")) == 2


async def test_webhook_stops_after_a_refusal(fake: FakeDiscord) -> None:
    bodies = [{"content": "one"}, {"content": ""}, {"content": "three"}]  # the empty one is refused (400)
    outcomes = await post_webhook(fake.webhook_url(), bodies)
    assert isinstance(outcomes[0], Sent)
    assert isinstance(outcomes[1], Failed)
    assert "Cannot send an empty message" in outcomes[1].reason
    assert isinstance(outcomes[2], Failed)
    assert "earlier" in outcomes[2].reason


async def test_webhook_to_an_unreachable_host_is_reported() -> None:
    outcomes = await post_webhook(
        "http://127.0.0.1:9/api/webhooks/123456/abc", [{"content": "x"}], attempts=1
    )
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], RetryLater)
    assert "cannot reach Discord" in outcomes[0].reason


# -- invite URL --------------------------------------------------------------------------------------


def test_invite_url_has_exactly_the_two_scopes_and_five_permissions() -> None:
    parts = urlsplit(invite_url(APPLICATION_ID))
    query = parse_qs(parts.query)
    assert parts.netloc == "discord.com"
    assert query["client_id"] == [str(APPLICATION_ID)]
    assert query["scope"] == ["bot applications.commands"]
    assert query["permissions"] == [str(INVITE_PERMISSIONS)]


async def test_the_application_id_is_looked_up_with_the_token(fake: FakeDiscord) -> None:
    assert await fetch_application_id(fake.api_base, SecretStr(TOKEN)) == APPLICATION_ID
    with pytest.raises(DiscordLoginError, match="401"):
        await fetch_application_id(fake.api_base, SecretStr("nope"))


def test_invite_url_command_prints_the_url() -> None:
    result = CliRunner().invoke(discord_app, ["invite-url", "--application-id", str(APPLICATION_ID)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == invite_url(APPLICATION_ID)


def test_sync_command_without_a_token_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/newsbot.toml here
    monkeypatch.delenv("NEWSBOT_DISCORD__TOKEN", raising=False)
    result = CliRunner().invoke(discord_app, ["sync"])
    assert result.exit_code == 2
    assert "NEWSBOT_DISCORD__TOKEN" in result.output


async def test_sync_registers_the_commands_again(fake: FakeDiscord, app: App) -> None:
    settings = app.settings.model_copy(update={"discord": discord_settings(fake)})
    results = await _sync(settings)
    assert [(r.scope, r.count) for r in results] == [(f"guild {GUILD_ID}", len(COMMANDS))]
    assert len(fake.requests_to("PUT", r"/guilds/\d+/commands$")) == 1


async def test_sync_with_a_bad_token_is_a_login_error(fake: FakeDiscord, app: App) -> None:
    settings = app.settings.model_copy(update={"discord": discord_settings(fake, token="bad")})
    with pytest.raises(DiscordLoginError):
        await _sync(settings)


async def test_sync_to_a_guild_the_bot_is_not_in_says_how_to_fix_it(fake: FakeDiscord, app: App) -> None:
    from bot.adapters.discord.errors import DiscordSyncError

    settings = app.settings.model_copy(update={"discord": discord_settings(fake, guild_ids=[42])})
    with pytest.raises(DiscordSyncError, match="invite-url"):
        await _sync(settings)


# -- command bodies and paging ids -------------------------------------------------------------------


def test_command_bodies_validate_and_mark_admin_commands(tmp_path: Path) -> None:
    specs = [
        CommandSpec(
            "topic",
            "d",
            "topic Q",
            "_topic",
            options=(OptionSpec("query", "q", required=True, autocomplete=True),),
        ),
        CommandSpec("mode", "d", "mode M", "_mode", options=(OptionSpec("m", "m", choices=("a", "b")),)),
        CommandSpec(
            "schedule",
            "d" * 300,
            "schedule W",
            "_schedule",
            admin_only=True,
            options=(OptionSpec("when", "w"),),
        ),
    ]
    bodies = command_payloads(specs)
    assert bodies[2]["default_member_permissions"] == MANAGE_GUILD
    assert len(bodies[2]["description"]) == 100
    assert bodies[1]["options"][0]["choices"] == [{"name": "a", "value": "a"}, {"name": "b", "value": "b"}]
    assert bodies[2]["contexts"] == [0]  # channel settings only in a server
    run_checker("check-discord-payloads", bodies, tmp_path, "--schema", "ApplicationCommandUpdateRequest")


@given(
    command=st.sampled_from(["topic", "digest"]),
    args=st.text(max_size=200),
    page=st.integers(min_value=1, max_value=10_000),
)
def test_paging_custom_ids_fit_and_round_trip(command: str, args: str, page: int) -> None:
    ids = PageIds()
    custom_id = ids.encode(command, args, page, "n")
    assert len(custom_id) <= CUSTOM_ID_MAX
    assert ids.decode(custom_id) == (command, args, page)


def test_a_forgotten_long_query_is_not_guessed() -> None:
    ids = PageIds(remember=1)
    first = ids.encode("topic", "x" * 150, 2, "n")
    ids.encode("topic", "y" * 150, 2, "n")
    assert ids.decode(first) is None
    assert ids.decode("nb:n:topic:2:#0000") is None
    assert ids.decode("something else") is None
