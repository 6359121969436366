"""newsbot installed in two workspaces through Slack's real OAuth flow, against the loopback Slack.

The browser's part is played by an aiohttp client: /slack/install sets the state cookie and redirects
to Slack's consent page; "approving" it is the fake granting a code, and the browser then follows
Slack's redirect to /slack/oauth_redirect?code=…&state=… with the cookie. Everything after that
(oauth.v2.access, auth.test, chat.postMessage, users.info) is the real slack_sdk and Bolt talking to
the fake, which answers each token only for its own workspace.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import select

from bot.adapters.slack.bot import SlackBot
from bot.adapters.slack.installations import WorkspaceTokens
from bot.adapters.slack.sender import SlackSender
from bot.app import App, app_preview_deps, build_delivery, open_app, slack_workspaces
from bot.core.ports import ChannelKey
from bot.core.summary import Section, Summary
from bot.settings import Settings, SlackSettings
from bot.store.outbox import SqlOutbox
from bot.store.tables import slack_bots, slack_installations
from bot.store.workspaces import WORKSPACE_PAUSE, list_slack_workspaces
from tests.adapters.slack.test_bot import ROOT, example, free_port
from tests.fakes.slack import (
    APP_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    SIGNING_SECRET,
    FakeSlack,
    signed_headers,
    slash_command,
)

TOKEN_KEY = Fernet.generate_key().decode()
TEAMS = {"T0AAA": "C0AAA", "T0BBB": "C0BBB"}  # workspace → its news channel
ADMINS = {"T0AAA": "U0ANNA", "T0BBB": "U0BEN"}  # a workspace admin in each


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    channel_teams = {channel: team for team, channel in TEAMS.items()}
    users = {admin: {"is_admin": True, "team_id": team} for team, admin in ADMINS.items()}
    async with FakeSlack(channels=set(channel_teams), channel_teams=channel_teams, users=users) as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_workspace_secrets_in_logs(caplog: pytest.LogCaptureFixture, slack: FakeSlack) -> Iterator[None]:
    """Fail if a workspace's token, refresh token, the client secret or the token key reaches a log line."""
    yield
    secrets = [
        CLIENT_SECRET,
        TOKEN_KEY,
        *slack.refresh_tokens,
        *(t for ts in slack.issued.values() for t in ts),
    ]
    for record in caplog.records:
        text = record.getMessage() + " " + (record.exc_text or "")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"a secret leaked into the log ({record.name}): {text[:200]}"


def oauth_settings(slack: FakeSlack) -> SlackSettings:
    return SlackSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_key=TOKEN_KEY,
        signing_secret=SIGNING_SECRET,
        host="127.0.0.1",
        port=free_port(),
        api_base=slack.api_base,
    )


@pytest.fixture
async def news_app(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[App]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'oauth.db'}",
        taxonomy_path=ROOT / "config" / "topics.yaml",
        slack=oauth_settings(slack),
    )
    async with open_app(settings) as application:
        await application.service.ingest([example()])
        yield application


@dataclass
class Running:
    """The Slack app in OAuth mode, its token keeper, and a browser/Slack client to drive it."""

    bot: SlackBot
    workspaces: WorkspaceTokens
    http: aiohttp.ClientSession
    slack: FakeSlack
    paused: asyncio.Event  # set when a workspace was paused

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.bot.port}"

    async def install(self, team: str, code: str, **grant: Any) -> str:
        """Install newsbot in `team` as a browser does; return the completion page."""
        async with self.http.get(f"{self.base}/slack/install", allow_redirects=False) as started:
            assert started.status == 302
            consent = urlsplit(started.headers["Location"])
            cookie = started.headers["Set-Cookie"].split(";")[0]
        assert (consent.netloc, consent.path) == ("slack.com", "/oauth/v2/authorize")
        query = parse_qs(consent.query)
        assert query["client_id"] == [CLIENT_ID]
        self.slack.grant(code, team, **grant)  # the user approves on Slack's page
        redirect = f"{self.base}/slack/oauth_redirect?code={code}&state={query['state'][0]}"
        async with self.http.get(redirect, headers={"Cookie": cookie}) as finished:
            page = await finished.text()
            assert finished.status == 200, page
        return page

    async def install_both_following_drones(self, application: App) -> None:
        """Install newsbot in both workspaces, each news channel following drones."""
        for n, team in enumerate(TEAMS, start=1):
            await self.install(team, f"code-{n}")
            key = ChannelKey("slack", team, TEAMS[team])
            await application.channels.subscribe(key, "drones", user=None, now=application.service.clock())

    async def event(self, team: str, kind: str, **event: Any) -> int:
        body = json.dumps(
            {
                "token": "deprecated-verification-token",
                "team_id": team,
                "api_app_id": APP_ID,
                "event": {"type": kind, **event},
                "type": "event_callback",
                "event_id": f"Ev{kind}{team}",
                "event_time": 1_700_000_000,
            }
        )
        headers = {**signed_headers(body), "Content-Type": "application/json"}
        async with self.http.post(f"{self.base}/slack/events", data=body, headers=headers) as answer:
            return answer.status

    async def command(self, team: str, text: str, rid: str, user: str = "U0SOMEONE") -> dict[str, Any]:
        body = slash_command(text, self.slack.response_url(rid), team=team, channel=TEAMS[team], user=user)
        async with self.http.post(f"{self.base}/slack/events", data=body, headers=signed_headers(body)) as r:
            assert (r.status, await r.text()) == (200, "")
        [answer] = await self.slack.wait_for_responses(rid)
        return answer


@pytest.fixture
async def running(news_app: App, slack: FakeSlack) -> AsyncIterator[Running]:
    workspaces = slack_workspaces(news_app)
    assert workspaces is not None
    paused = asyncio.Event()
    pause = workspaces.unusable

    async def unusable(workspace: str, why: str) -> None:
        await pause(workspace, why)
        paused.set()

    workspaces.unusable = unusable  # type: ignore[method-assign]
    bot = SlackBot(news_app.settings.slack, news_app.commands, workspaces=workspaces)
    await bot.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Running(bot, workspaces, http, slack, paused)
    finally:
        await bot.close()


def drone_story(n: int) -> Summary:
    return Summary(
        headline=f"Drone certification update {n}",
        published=example().published,
        topics=[Section(title="Drone rules", text=f"New drone export rules, round {n}.")],
    )


def authorization(call: Any) -> str:
    return str(call.headers.get("Authorization", "")).removeprefix("Bearer ")


async def test_two_workspaces_installed_through_the_flow_are_answered_and_posted_to_with_their_own_tokens(
    running: Running, slack: FakeSlack, news_app: App
) -> None:
    for n, team in enumerate(TEAMS, start=1):
        page = await running.install(team, f"code-{n}")
        assert "Thank you!" in page or "slack://app" in page

    for team in TEAMS:
        answer = await running.command(team, "topic drones", f"topic-{team}")
        assert answer["text"].startswith("Topic: Drones")
        # An admin-only command needs users.info, asked with this workspace's token: the fake knows
        # each admin only in their own workspace, so a wrong token would make them a non-admin.
        done = await running.command(team, "subscribe drones", f"sub-{team}", user=ADMINS[team])
        assert "drones" in json.dumps(done).lower()
        assert "only" not in done["text"].lower()

    lookups = {authorization(c): c.params["user"] for c in slack.calls_to("users.info")}
    assert lookups == {slack.issued[team][0]: ADMINS[team] for team in TEAMS}
    for team, channel in TEAMS.items():
        [sub] = await news_app.channels.subscriptions(ChannelKey("slack", team, channel))
        assert sub.topic_id == "drones"

    # A digest falls due in each workspace and a story on drones queues one alert in each; all of it
    # goes out through the outbox, each post with its own workspace's token.
    await news_app.service.ingest([drone_story(1)])
    now = news_app.service.clock()
    for team, channel in TEAMS.items():
        key = ChannelKey("slack", team, channel)
        await news_app.channels.set_schedule(
            key, cron="0 8 * * *", timezone="UTC", user=None, now=now, next_fire_at=now
        )
    delivery = build_delivery(news_app, workspaces=running.workspaces, serve_http=False)
    assert await delivery.ticker.tick() == 2
    await delivery.worker.drain()

    sent = await SqlOutbox(news_app.engine).find(status="sent")
    replies = [d for d in sent if d.step is not None]  # each digest's story in its thread, under the brief
    assert {d.key.workspace for d in replies} == set(TEAMS)
    assert sorted((d.kind, d.key.workspace) for d in sent if d.step is None) == [
        ("alert", "T0AAA"),
        ("alert", "T0BBB"),
        ("digest", "T0AAA"),
        ("digest", "T0BBB"),
    ]
    assert {(p.channel, p.team) for p in slack.posted} == {(c, t) for t, c in TEAMS.items()}
    tokens = {(c.params["channel"], authorization(c)) for c in slack.calls_to("chat.postMessage")}
    assert tokens == {(channel, slack.issued[team][0]) for team, channel in TEAMS.items()}


async def test_an_uninstall_pauses_that_workspace_with_its_reason_and_a_reinstall_resumes_it(
    running: Running, slack: FakeSlack, news_app: App
) -> None:
    await running.install_both_following_drones(news_app)
    await news_app.service.ingest([drone_story(1)])  # one alert queued in each workspace

    slack.revoke("T0AAA")  # Slack revokes the tokens, then tells the app
    assert await running.event("T0AAA", "app_uninstalled") == 200

    async with asyncio.timeout(10):
        await running.paused.wait()  # Bolt acknowledges an event first and runs its listener after
    outbox = SqlOutbox(news_app.engine)
    [paused] = await outbox.find(status="paused")
    assert paused.key == ChannelKey("slack", "T0AAA", "C0AAA")
    assert paused.last_error is not None
    assert paused.last_error.startswith(
        WORKSPACE_PAUSE + "newsbot was uninstalled from Slack workspace T0AAA"
    )
    [sub] = await news_app.channels.subscriptions(ChannelKey("slack", "T0AAA", "C0AAA"))
    assert sub.paused_reason == paused.last_error
    [other] = await news_app.channels.subscriptions(ChannelKey("slack", "T0BBB", "C0BBB"))
    assert other.paused_reason is None
    assert await running.workspaces.store.async_find_bot(enterprise_id=None, team_id="T0AAA") is None

    page = await app_preview_deps(news_app).status.status(deliveries=10)
    [shown] = [d for d in page.deliveries if d.status == "paused"]
    assert (shown.workspace, shown.reason) == ("T0AAA", paused.last_error)
    assert page.counts["paused"] == 1
    listed = {w.workspace: w for w in await list_slack_workspaces(news_app.engine, CLIENT_ID)}
    assert listed["T0AAA"].installed_at is None
    assert (listed["T0AAA"].paused_reason, listed["T0AAA"].paused_deliveries) == (paused.last_error, 1)
    assert listed["T0BBB"].installed_at is not None
    assert listed["T0BBB"].paused_reason is None

    delivery = build_delivery(news_app, workspaces=running.workspaces, serve_http=False)
    await delivery.worker.drain()
    assert [p.channel for p in slack.posted] == ["C0BBB"]  # the other workspace is not held up
    assert not [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "C0AAA"]

    await running.install("T0AAA", "code-again")
    [sub] = await news_app.channels.subscriptions(ChannelKey("slack", "T0AAA", "C0AAA"))
    assert sub.paused_reason is None
    await delivery.worker.drain()
    assert [p.channel for p in slack.posted] == ["C0BBB", "C0AAA"]
    [last] = slack.calls_to("chat.postMessage")[-1:]
    assert authorization(last) == slack.issued["T0AAA"][-1]  # the new installation's token
    assert await outbox.find(status="paused") == []


async def test_a_workspace_whose_token_slack_refuses_is_paused_alone(
    running: Running, slack: FakeSlack, news_app: App
) -> None:
    await running.install_both_following_drones(news_app)
    slack.revoke("T0BBB")  # revoked, and no event has arrived (yet)
    await news_app.service.ingest([drone_story(2)])

    delivery = build_delivery(news_app, workspaces=running.workspaces, serve_http=False)
    await delivery.worker.drain()

    assert [p.channel for p in slack.posted] == ["C0AAA"]
    [paused] = await SqlOutbox(news_app.engine).find(status="paused")
    assert paused.key.workspace == "T0BBB"
    assert "Slack refused the token of workspace T0BBB (invalid_auth)" in (paused.last_error or "")
    assert delivery.worker.trouble() is None  # Slack as a whole is not locked out


async def test_tokens_revoked_for_the_bot_pauses_the_workspace(
    running: Running, slack: FakeSlack, news_app: App
) -> None:
    await running.install("T0AAA", "code-1")
    key = ChannelKey("slack", "T0AAA", "C0AAA")
    await news_app.channels.subscribe(key, "drones", user=None, now=news_app.service.clock())

    assert await running.event("T0AAA", "tokens_revoked", tokens={"oauth": [], "bot": ["U0BOTT0AAA"]}) == 200

    async with asyncio.timeout(10):
        await running.paused.wait()
    [sub] = await news_app.channels.subscriptions(key)
    assert (sub.paused_reason or "").startswith(WORKSPACE_PAUSE + "Slack revoked newsbot's token")


async def test_tokens_are_encrypted_at_rest(running: Running, slack: FakeSlack, news_app: App) -> None:
    await running.install("T0AAA", "code-1", expires_in=3600)
    token = slack.issued["T0AAA"][0]

    async with news_app.engine.connect() as conn:
        raw = [
            *(await conn.execute(select(slack_installations))).all(),
            *(await conn.execute(select(slack_bots))).all(),
        ]
    assert len(raw) == 2
    stored = json.dumps([[str(v) for v in row] for row in raw])
    assert token not in stored
    assert "xoxe-1-" not in stored  # nor the refresh token
    assert "xoxb" not in stored
    bot = await running.workspaces.store.async_find_bot(enterprise_id=None, team_id="T0AAA")
    assert bot is not None
    assert bot.bot_token == token


@pytest.mark.parametrize("replicas", ["one process", "two processes"])
async def test_an_expiring_token_is_refreshed_once_when_two_senders_post_at_the_same_moment(
    database_url: str, slack: FakeSlack, replicas: str
) -> None:
    if replicas == "two processes" and not database_url.startswith("postgresql"):
        pytest.skip("SQLite serves one newsbot process; its lock is in-process")
    settings = Settings(
        database_url=database_url, taxonomy_path=ROOT / "config" / "topics.yaml", slack=oauth_settings(slack)
    )
    # Each "replica" opens the database on its own engine and has its own token keeper and locks.
    async with open_app(settings) as first, open_app(settings, migrate=False) as second:
        mine = slack_workspaces(first)
        theirs = slack_workspaces(second) if replicas == "two processes" else mine  # one per process
        assert mine is not None
        assert theirs is not None
        keepers = [mine, theirs]

        issued = slack.issue("T0AAA", expires_in=60)  # expires within the two-hour refresh window
        await keepers[0].store.async_save(
            Installation(
                app_id=APP_ID,
                team_id="T0AAA",
                user_id="U0INSTALLER",
                bot_token=issued["access_token"],
                bot_refresh_token=issued["refresh_token"],
                bot_token_expires_in=60,
                bot_id="B0BOTT0AAA",
                bot_user_id="U0BOTT0AAA",
            )
        )
        senders = [SlackSender(None, api_base=slack.api_base, workspaces=k) for k in keepers]
        body = {"text": "Drone rules changed", "blocks": []}

        outcomes = await asyncio.gather(
            *(s.send("C0AAA", body, key=f"1:{i}", workspace="T0AAA") for i, s in enumerate(senders))
        )

        assert len(slack.refreshes()) == 1
        fresh = slack.issued["T0AAA"][-1]
        assert fresh != issued["access_token"]
        assert [authorization(c) for c in slack.calls_to("chat.postMessage")] == [fresh, fresh]
        assert all(type(o).__name__ == "Sent" for o in outcomes), outcomes


async def test_a_command_in_a_workspace_with_an_expiring_token_refreshes_it_once_and_is_answered(
    running: Running, slack: FakeSlack
) -> None:
    await running.install("T0AAA", "code-1", expires_in=60)  # inside the two-hour refresh window
    first = slack.issued["T0AAA"][0]

    answers = [
        await running.command("T0AAA", "topic drones", f"r{i}", user=ADMINS["T0AAA"]) for i in range(2)
    ]
    done = await running.command("T0AAA", "subscribe drones", "sub", user=ADMINS["T0AAA"])

    assert all(a["text"].startswith("Topic: Drones") for a in answers)
    assert len(slack.refreshes()) == 1  # the refreshed token lasts 12 hours: the next requests reuse it
    fresh = slack.issued["T0AAA"][-1]
    assert fresh != first
    [lookup] = slack.calls_to("users.info")
    assert authorization(lookup) == fresh
    assert "drones" in json.dumps(done).lower()


def test_the_workspaces_command_lists_them_and_refuses_single_workspace_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bot.cli.main import app as cli

    monkeypatch.setenv("NEWSBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("NEWSBOT_TAXONOMY_PATH", str(ROOT / "config" / "topics.yaml"))
    monkeypatch.setenv("NEWSBOT_SLACK__BOT_TOKEN", "xoxb-one-workspace")
    single = CliRunner().invoke(cli, ["slack", "workspaces"])
    monkeypatch.delenv("NEWSBOT_SLACK__BOT_TOKEN")
    for name, value in {
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "SIGNING_SECRET": SIGNING_SECRET,
        "TOKEN_KEY": TOKEN_KEY,
    }.items():
        monkeypatch.setenv(f"NEWSBOT_SLACK__{name}", value)
    listed = CliRunner().invoke(cli, ["slack", "workspaces", "--json"])

    assert single.exit_code == 2
    assert "one bot token" in single.output
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == {"workspaces": []}


async def test_an_install_begun_on_one_replica_finishes_on_another(
    postgres_url: str, slack: FakeSlack
) -> None:
    settings = Settings(
        database_url=postgres_url, taxonomy_path=ROOT / "config" / "topics.yaml", slack=oauth_settings(slack)
    )
    other = settings.model_copy(update={"slack": oauth_settings(slack)})  # its own port
    async with open_app(settings) as first, open_app(other, migrate=False) as second:
        replicas: list[tuple[SlackBot, WorkspaceTokens]] = []
        for application in (first, second):
            workspaces = slack_workspaces(application)
            assert workspaces is not None
            bot = SlackBot(application.settings.slack, application.commands, workspaces=workspaces)
            await bot.start()
            replicas.append((bot, workspaces))
        try:
            async with aiohttp.ClientSession() as http:
                begun, ended = (
                    Running(bot, keeper, http, slack, asyncio.Event()) for bot, keeper in replicas
                )
                async with http.get(f"{begun.base}/slack/install", allow_redirects=False) as started:
                    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
                    cookie = started.headers["Set-Cookie"].split(";")[0]
                slack.grant("code-1", "T0AAA")
                url = f"{ended.base}/slack/oauth_redirect?code=code-1&state={state}"
                async with http.get(url, headers={"Cookie": cookie}) as finished:
                    assert finished.status == 200, await finished.text()
                answer = await begun.command("T0AAA", "topic drones", "r1")  # the first replica knows it too
                async with http.get(url, headers={"Cookie": cookie}) as again:
                    assert again.status != 200  # a state works once, whichever replica sees it
        finally:
            for bot, _ in replicas:
                await bot.close()
    assert answer["response_type"] == "ephemeral"
