"""The real Bolt app served on loopback, a real App on SQLite, and slash commands signed as Slack signs them."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest

from bot.adapters.slack.bot import SlackBot
from bot.adapters.slack.handlers import NEXT_ACTION, SHARE_ACTION
from bot.adapters.slack.manifest import SlackSetupError
from bot.app import App, digest_renderers, open_app
from bot.core.invocation import Invocation
from bot.core.layout import ChannelLayout
from bot.core.loader import Loaded, load_file
from bot.core.ports import ChannelKey
from bot.core.reply import Reply
from bot.core.summary import Section, Summary
from bot.delivery.compose import Composer
from bot.settings import Settings, SlackSettings
from tests.adapters.payload_tools import run_checker
from tests.adapters.slack.conftest import stalled_server
from tests.fakes.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    block_action,
    signed_headers,
    slash_command,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = [
    ROOT / "examples" / "us-taiwan-dialogue.yaml",
    ROOT.parent / "shared" / "examples" / "us-taiwan-dialogue.txt",
]
MENTION = re.compile(r"<!(channel|here|everyone|subteam\^)|<@[UW][A-Z0-9]+")
HOSTILE = "Zephyrquill drone makers <!channel> and <!here> warned <@U0ALICE> and @everyone about *certification* rules."
LISTED_ADMIN = "U0LISTED"


def example() -> Summary:
    for path in EXAMPLES:
        if path.is_file():
            [loaded] = [item for item in load_file(path) if isinstance(item, Loaded)]
            return loaded.summary
    pytest.skip("the worked example is absent (examples/ and ../shared/examples/)")


def drone_stories(count: int) -> list[Summary]:
    """Extra stories with a drone section each, one of them hostile, so /news topic drones has pages."""
    start = datetime(2024, 10, 1, tzinfo=UTC)  # older than the worked example, which leads page 1
    stories = []
    for i in range(count):
        text = HOSTILE if i == count - 1 else f"Drone export rules, part {i}."
        stories.append(
            Summary(
                headline=f"Drone brief {i}",
                published=start + timedelta(days=i),
                topics=[Section(title=f"Drone policy {i}", text=text)],
            )
        )
    return stories


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def news_app(tmp_path: Path) -> AsyncIterator[App]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'slack.db'}",
        taxonomy_path=ROOT / "config" / "topics.yaml",
    )
    async with open_app(settings) as application:
        await application.service.ingest([example(), *drone_stories(7)])
        yield application


def slack_settings(slack: FakeSlack, **changes: Any) -> SlackSettings:
    values: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "host": "127.0.0.1",
        "port": free_port(),
        "api_base": slack.api_base,
        "admins": [LISTED_ADMIN],
    }
    values.update(changes)
    return SlackSettings(**values)


class Calls:
    """Counts CommandTable.run calls and can hold them until released."""

    def __init__(self, application: App, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[Invocation] = []
        self.gate: asyncio.Event | None = None
        real = application.commands.run

        async def run(inv: Invocation) -> Reply:
            self.seen.append(inv)
            if self.gate is not None:
                await self.gate.wait()
            return await real(inv)

        monkeypatch.setattr(application.commands, "run", run)


@pytest.fixture
def calls(news_app: App, monkeypatch: pytest.MonkeyPatch) -> Calls:
    return Calls(news_app, monkeypatch)


@pytest.fixture
async def bot(news_app: App, slack: FakeSlack, calls: Calls) -> AsyncIterator[SlackBot]:
    running = SlackBot(slack_settings(slack), news_app.commands)
    await running.start()
    yield running
    await running.close()


Post = Callable[..., Awaitable[tuple[int, str]]]


@pytest.fixture
async def post(bot: SlackBot) -> AsyncIterator[Post]:
    async with aiohttp.ClientSession() as session:

        async def send(body: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
            url = f"http://127.0.0.1:{bot.port}/slack/events"
            async with session.post(url, data=body.encode(), headers=headers or signed_headers(body)) as r:
                return r.status, await r.text()

        yield send


async def command(post: Post, slack: FakeSlack, text: str, rid: str, **kw: str) -> list[dict[str, Any]]:
    status, ack = await post(slash_command(text, slack.response_url(rid), **kw))
    assert (status, ack) == (200, "")
    return await slack.wait_for_responses(rid)


def all_text(bodies: list[dict[str, Any]]) -> str:
    return json.dumps(bodies, ensure_ascii=False)


def button(body: dict[str, Any], action_id: str) -> dict[str, Any]:
    [block] = [b for b in body["blocks"] if b["type"] == "actions"]
    [found] = [e for e in block["elements"] if e["action_id"] == action_id]
    return found


# -- answering -----------------------------------------------------------------------------------


async def test_topic_drones_is_acknowledged_at_once_and_answered_privately(
    post: Post, slack: FakeSlack, calls: Calls, tmp_path: Path
) -> None:
    calls.gate = asyncio.Event()  # the answer cannot be ready before the acknowledgement
    status, ack = await post(slash_command("topic drones", slack.response_url("r1")))

    assert (status, ack) == (200, "")
    assert slack.responses["r1"] == []
    calls.gate.set()
    [answer] = await slack.wait_for_responses("r1")

    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Topic: Drones")
    assert "Drone Technology" in all_text([answer])
    assert button(answer, SHARE_ACTION)["text"]["text"] == "Post to channel"
    assert button(answer, NEXT_ACTION)  # 8 drone sections, 5 a page
    assert calls.seen[0] == Invocation(
        "slack", "topic", "drones", TEAM_ID, "C0NEWS", "U0ALICE", False, 1, None
    )
    run_checker("check-slack-payloads", [answer], tmp_path)


async def test_summary_text_can_never_ping(post: Post, slack: FakeSlack, tmp_path: Path) -> None:
    answers = await command(post, slack, "topic zephyrquill", "r1")
    text = all_text(answers)

    assert "Zephyrquill" in text
    assert "&lt;!channel&gt;" in text
    assert "&lt;!here&gt;" in text
    assert "&lt;@U0ALICE&gt;" in text
    assert not MENTION.search(text)
    assert "link_names" not in text
    run_checker("check-slack-payloads", answers, tmp_path)


async def test_post_to_channel_reposts_the_answer_for_everyone(
    post: Post, slack: FakeSlack, calls: Calls
) -> None:
    [private] = await command(post, slack, "topic drones", "r1")
    share = button(private, SHARE_ACTION)

    status, _ = await post(block_action(SHARE_ACTION, share["value"], slack.response_url("r2")))
    [public] = await slack.wait_for_responses("r2")

    assert status == 200
    assert public["response_type"] == "in_channel"
    assert public["replace_original"] is False
    assert public["text"] == private["text"]
    assert "Drone Technology" in all_text([public])
    assert SHARE_ACTION not in all_text([public])
    assert calls.seen[-1].private is False


async def test_public_word_answers_in_the_channel(post: Post, slack: FakeSlack) -> None:
    [answer] = await command(post, slack, "topic drones --public", "r1")

    assert answer["response_type"] == "in_channel"
    assert SHARE_ACTION not in all_text([answer])


async def test_next_replaces_the_answer_with_page_two(post: Post, slack: FakeSlack) -> None:
    [first] = await command(post, slack, "topic drones", "r1")

    await post(block_action(NEXT_ACTION, button(first, NEXT_ACTION)["value"], slack.response_url("r2")))
    [second] = await slack.wait_for_responses("r2")

    assert second["replace_original"] is True
    assert second["response_type"] == "ephemeral"
    assert "page 2 of" in all_text([second])
    assert "page 1 of" in all_text([first])
    assert button(second, "newsbot_prev")


@pytest.mark.parametrize("text", ["", "help", "frobnicate now"])
async def test_empty_or_unknown_subcommands_show_help(post: Post, slack: FakeSlack, text: str) -> None:
    [answer] = await command(post, slack, text, "r1")
    shown = all_text([answer])

    assert answer["response_type"] == "ephemeral"
    assert "/news topic QUERY" in shown
    assert "/news schedule" in shown
    assert "Post to channel button" in shown
    if text.startswith("frobnicate"):
        assert "Unknown command" in shown


@pytest.mark.parametrize("text", ["topics", "digest", "digest 3650d", "subscriptions"])
async def test_read_only_subcommands_answer_without_a_users_info_lookup(
    post: Post, slack: FakeSlack, text: str, tmp_path: Path
) -> None:
    answers = await command(post, slack, text, "r1")

    assert answers[0]["response_type"] == "ephemeral"
    assert slack.calls_to("users.info") == []
    assert "Something went wrong" not in all_text(answers)
    run_checker("check-slack-payloads", answers, tmp_path)


async def test_schedule_show_tells_anyone_the_schedule_even_though_schedule_is_admin_only(
    post: Post, slack: FakeSlack, tmp_path: Path
) -> None:
    # /news schedule is an admin command, so the handler looks the user up; "show" is still answered.
    answers = await command(post, slack, "schedule show", "r1")

    assert answers[0]["response_type"] == "ephemeral"
    assert "This channel has no digest schedule." in all_text(answers)
    assert "workspace admin or owner" not in all_text(answers)
    run_checker("check-slack-payloads", answers, tmp_path)


# -- admin rule ----------------------------------------------------------------------------------


async def test_a_non_admin_cannot_change_the_schedule(post: Post, slack: FakeSlack, news_app: App) -> None:
    slack.users["U0BOB"] = {"is_admin": False, "is_owner": False}

    [answer] = await command(post, slack, "schedule daily 08:00 Europe/Berlin", "r1", user="U0BOB")

    assert answer["text"].startswith("Not allowed")
    assert "workspace admin or owner" in all_text([answer])
    assert await news_app.channels.get_schedule(ChannelKey("slack", TEAM_ID, "C0NEWS")) is None
    assert [c.params["user"] for c in slack.calls_to("users.info")] == ["U0BOB"]


async def test_a_listed_admin_sets_the_schedule_without_a_lookup(
    post: Post, slack: FakeSlack, news_app: App
) -> None:
    [answer] = await command(post, slack, "schedule daily 08:00 Europe/Berlin", "r1", user=LISTED_ADMIN)

    assert answer["text"].startswith("Digest scheduled")
    stored = await news_app.channels.get_schedule(ChannelKey("slack", TEAM_ID, "C0NEWS"))
    assert stored is not None
    assert (stored.cron, stored.timezone, stored.created_by) == ("0 8 * * *", "Europe/Berlin", LISTED_ADMIN)
    assert slack.calls_to("users.info") == []


async def test_a_workspace_admin_subscribes_after_users_info(
    post: Post, slack: FakeSlack, news_app: App
) -> None:
    slack.users["U0BOSS"] = {"is_admin": True}

    [answer] = await command(post, slack, "subscribe drones", "r1", user="U0BOSS", channel="C0GENERAL")
    [again] = await command(
        post, slack, "schedule weekly mon 09:30", "r2", user="U0BOSS", channel="C0GENERAL"
    )

    assert answer["text"].startswith("Subscribed")
    assert again["text"].startswith("Digest scheduled")
    key = ChannelKey("slack", TEAM_ID, "C0GENERAL")
    assert [s.topic_id for s in await news_app.channels.subscriptions(key)] == ["drones"]
    assert await news_app.channels.get_schedule(key) is not None
    assert len(slack.calls_to("users.info")) == 1  # the second command used the cached answer
    assert SHARE_ACTION not in all_text([answer, again])  # changes are never re-run by a button


# -- request verification ------------------------------------------------------------------------


async def test_forged_stale_and_unsigned_requests_are_refused(
    post: Post, slack: FakeSlack, calls: Calls
) -> None:
    body = slash_command("topic drones", slack.response_url("r1"))
    now = int(time.time())
    forged = signed_headers(body, "not-the-secret")
    stale = signed_headers(body, timestamp=now - 6 * 60)
    future = signed_headers(body, timestamp=now + 6 * 60)
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    tampered = signed_headers(body.replace("topic", "topics"))
    ssl_check = "ssl_check=1&token=x"

    for headers in (forged, stale, future, unsigned, tampered):
        assert (await post(body, headers))[0] == 401
    assert (await post(ssl_check, unsigned))[0] == 401
    assert (await post(block_action(SHARE_ACTION, "{}", slack.response_url("r2")), unsigned))[0] == 401

    assert calls.seen == []
    assert slack.calls_to("response") == []
    assert slack.calls_to("users.info") == []


async def test_a_request_body_over_a_megabyte_is_refused_before_anything_reads_it(
    post: Post, slack: FakeSlack, calls: Calls
) -> None:
    body = slash_command("topic " + "x" * 1_000_000, slack.response_url("r1"))

    assert (await post(body, signed_headers(body)))[0] == 413
    assert calls.seen == []
    assert slack.calls_to("response") == []


async def test_a_button_value_naming_a_change_is_not_run(post: Post, slack: FakeSlack, calls: Calls) -> None:
    value = json.dumps({"c": "schedule", "a": "off", "p": 1})

    await post(block_action(SHARE_ACTION, value, slack.response_url("r1"), user=LISTED_ADMIN))
    [answer] = await slack.wait_for_responses("r1")

    assert answer["text"].startswith("This button no longer works")
    assert calls.seen == []


# -- running -------------------------------------------------------------------------------------


async def test_run_serves_until_stopped_and_then_closes(news_app: App, slack: FakeSlack) -> None:
    settings = slack_settings(slack, command="/headlines")  # a renamed command is the one that answers
    stop = asyncio.Event()
    bot = SlackBot(settings, news_app.commands)
    task = asyncio.create_task(bot.run(stop))
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{settings.port}"
        for _ in range(500):
            if bot.port is not None:
                break
            await asyncio.sleep(0.01)
        async with session.get(url + "/healthz") as health:
            assert (health.status, await health.text()) == (200, "ok")
        with pytest.raises(
            aiohttp.ClientConnectionError
        ):  # listening on the host it was given, not every address
            await session.get(f"http://[::1]:{settings.port}/healthz")
        body = slash_command("topics", slack.response_url("r1"), command="/headlines")
        async with session.post(url + "/slack/events", data=body, headers=signed_headers(body)) as r:
            assert r.status == 200
        stop.set()
        await asyncio.wait_for(task, 30)
        assert len(slack.responses["r1"]) == 1  # the answer in flight was delivered before closing
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url + "/healthz")
    assert bot.client.session is not None
    assert bot.client.session.closed  # no connections to Slack are left open after a stop
    assert [c.method for c in slack.calls if c.method != "response"][:1] == ["auth.test"]


async def test_shutdown_waits_for_an_answer_slack_never_takes_only_the_drain_time(
    news_app: App, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.adapters.slack.bot.DRAIN_SECONDS", 0.05)
    async with stalled_server() as (base, held):
        bot = SlackBot(slack_settings(slack), news_app.commands)
        await bot.start()
        try:
            body = slash_command("topics", f"{base}/response/r1")
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{bot.port}/slack/events"
                async with session.post(url, data=body, headers=signed_headers(body)) as r:
                    assert r.status == 200
            for _ in range(500):
                if held:
                    break
                await asyncio.sleep(0.01)
            assert held, "the answer never left for response_url"
        finally:
            async with asyncio.timeout(5):  # the answer's own timeout is 10 s; shutdown must not wait for it
                await bot.close()


async def test_a_slack_api_that_never_answers_delays_start_only_by_the_api_timeout(
    news_app: App, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.adapters.slack.bot.API_TIMEOUT", 0.2)
    async with stalled_server() as (base, held):
        bot = SlackBot(slack_settings(slack, api_base=f"{base}/api/"), news_app.commands)
        try:
            async with asyncio.timeout(5):  # auth.test is given up on; the bot serves commands anyway
                await bot.start()
            assert held, "auth.test never left"
            assert bot.port is not None
        finally:
            await bot.close()


async def test_a_bot_that_never_started_closes_quietly_twice(news_app: App, slack: FakeSlack) -> None:
    bot = SlackBot(slack_settings(slack), news_app.commands)  # e.g. the other platform failed to start first

    await bot.close()
    await bot.close()

    assert slack.calls == []


async def test_socket_mode_answers_without_listening_on_http(news_app: App, slack: FakeSlack) -> None:
    settings = slack_settings(slack, app_token=APP_TOKEN, signing_secret=None)
    bot = SlackBot(settings, news_app.commands)
    await bot.start()
    try:
        payload = dict(parse_qsl(slash_command("topic drones", slack.response_url("s1"))))
        ack = await slack.push_envelope("slash_commands", payload)
        [answer] = await slack.wait_for_responses("s1")
        assert bot.port is None
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(f"http://127.0.0.1:{settings.port}/healthz")
    finally:
        await bot.close()

    assert ack["envelope_id"] == "env-1"
    assert answer["response_type"] == "ephemeral"
    assert "Drone Technology" in all_text([answer])
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"


async def test_a_rejected_token_stops_start_with_a_clear_message(news_app: App, slack: FakeSlack) -> None:
    bot = SlackBot(slack_settings(slack, bot_token="xoxb-revoked-000"), news_app.commands)

    says = (
        r"^slack: Slack rejected NEWSBOT_SLACK__BOT_TOKEN \(invalid_auth\); copy the Bot User OAuth Token "
        r"\(xoxb-…\) from the app's OAuth & Permissions page$"
    )
    with pytest.raises(SlackSetupError, match=says) as caught:
        await bot.start()
    assert "xoxb-revoked-000" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"command": "/topic"}, "built-in commands"),
        ({"bot_token": None}, "^slack: NEWSBOT_SLACK__BOT_TOKEN is not set$"),
        (
            {"signing_secret": None},
            r"^slack: set NEWSBOT_SLACK__SIGNING_SECRET \(HTTP mode\) or NEWSBOT_SLACK__APP_TOKEN \(Socket Mode\)$",
        ),
    ],
)
async def test_settings_slack_cannot_use_are_refused(
    news_app: App, slack: FakeSlack, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(SlackSetupError, match=message):
        SlackBot(slack_settings(slack, **changes), news_app.commands)


async def test_unparseable_unsigned_requests_are_refused_before_anything_is_parsed(
    bot: SlackBot, calls: Calls
) -> None:
    url = f"http://127.0.0.1:{bot.port}/slack/events"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    bad_stamp = {**form, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}
    requests: list[tuple[bytes, dict[str, str]]] = [
        (b"command=%2Fnews&text=topic", bad_stamp),
        (b"\xff\xfe\x00command=\xc3", signed_headers("x")),
        (b"\xff\xfe\x00command=\xc3", form),
        (b"payload=%7Bnot-json", signed_headers("payload=%7Bnot-json", "not-the-secret")),
        (b"payload=%7Bnot-json", form),
    ]
    async with aiohttp.ClientSession() as session:
        for body, headers in requests:
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 401, body
        # Signed by Slack but not a form Slack sends: refused as a bad request, still no 500.
        signed_junk = "payload=%7Bnot-json"
        async with session.post(
            url, data=signed_junk.encode(), headers=signed_headers(signed_junk)
        ) as response:
            assert response.status == 400
    assert calls.seen == []


async def test_commands_are_answered_while_slacks_auth_test_keeps_failing(
    news_app: App, slack: FakeSlack
) -> None:
    for _ in range(10):  # start's check and every later try fail, as during a Slack incident
        slack.fail_next("auth.test", "internal_error", status=500)
    bot = SlackBot(slack_settings(slack), news_app.commands)
    await bot.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = slash_command("topic drones", slack.response_url("r-auth"))
            url = f"http://127.0.0.1:{bot.port}/slack/events"
            async with session.post(url, data=body.encode(), headers=signed_headers(body)) as r:
                assert (r.status, await r.text()) == (200, "")
        [answer] = await slack.wait_for_responses("r-auth")
        assert answer["text"].startswith("Topic: Drones")
        # auth.test is retried now and then, not once per request.
        assert len(slack.calls_to("auth.test")) <= 2
    finally:
        await bot.close()


# -- /news settings -----------------------------------------------------------------------------------


async def test_settings_are_shown_to_anyone_changed_by_admins_and_followed_by_the_digest(
    post: Post, slack: FakeSlack, news_app: App
) -> None:
    key = ChannelKey("slack", TEAM_ID, "C0NEWS")
    composer = Composer(
        news_app.archive,
        news_app.channels,
        news_app.taxonomy.labels(),
        digest_renderers(),
        layouts=news_app.layouts,
    )
    before = await composer.digest(key, datetime.now(UTC), None)
    assert before is not None
    assert before.thread  # the default: the brief, then every story in the thread

    slack.users["U0BOB"] = {"is_admin": False, "is_owner": False}
    [shown] = await command(post, slack, "settings", "r1", user="U0BOB")
    assert "Layout: compact" in all_text([shown])
    assert "Threads: on" in all_text([shown])
    [refused] = await command(post, slack, "settings threads off", "r2", user="U0BOB")
    assert refused["text"].startswith("Not allowed")

    [changed] = await command(post, slack, "settings threads off", "r3", user=LISTED_ADMIN)
    assert changed["text"].startswith("Settings changed")
    assert "only the cards are posted" in all_text([changed])
    [wrong] = await command(post, slack, "settings layout wide", "r4", user=LISTED_ADMIN)
    assert "is not a setting" in all_text([wrong])

    after = await composer.digest(key, datetime.now(UTC), None)
    assert after is not None
    assert (len(after.channel), after.thread, after.thread_name) == (1, [], None)
    assert "Drone Technology" in all_text(after.channel)
    assert await news_app.layouts.get_layout(ChannelKey("slack", TEAM_ID, "C0OTHER")) == ChannelLayout()
