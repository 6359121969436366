"""One `newsbot run` process serving Discord and Slack together, as a team on both platforms runs it."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp

from tests.fakes.discord import FakeDiscord
from tests.fakes.process import clean_env, discord_run_env, start_module, stop_process
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, signed_headers, slash_command

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _post_until_served(url: str, body: str) -> int:
    # The Slack listener opens a moment after Discord connects; retry the connection, not the answer.
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.post(url, data=body, headers=signed_headers(body)) as response:
                    return response.status
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.2)
    raise AssertionError("the Slack listener never opened")


async def test_discord_and_slack_answer_from_one_process_and_stop_together(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'both.db'}"
    ingest = await start_module(
        "bot",
        "ingest",
        str(ROOT / "examples" / "us-taiwan-dialogue.yaml"),
        env=clean_env(NEWSBOT_DATABASE_URL=db),
    )
    assert await ingest.wait() == 0
    port = _free_port()
    async with FakeDiscord() as discord, FakeSlack() as slack:
        env = discord_run_env(discord, db) | {
            "NEWSBOT_SLACK__BOT_TOKEN": BOT_TOKEN,
            "NEWSBOT_SLACK__SIGNING_SECRET": SIGNING_SECRET,
            "NEWSBOT_SLACK__API_BASE": slack.api_base,
            "NEWSBOT_SLACK__HOST": "127.0.0.1",
            "NEWSBOT_SLACK__PORT": str(port),
            "NEWSBOT_DELIVERY__SERVE_HTTP": "false",
        }
        proc = await start_module("bot", "run", env=env)
        try:
            await asyncio.wait_for(discord.identified.wait(), 60)
            body = slash_command("topic drones", slack.response_url("both"))
            assert await _post_until_served(f"http://127.0.0.1:{port}/slack/events", body) == 200
            [answer] = await slack.wait_for_responses("both", 1)
            assert "Drone Technology" in str(answer)
        finally:
            await stop_process(proc)
        _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    said = stderr.decode()
    assert "Traceback" not in said
    # NEWSBOT_LOG_LEVEL is unset: `run` defaults to INFO and says what it serves, one line each.
    assert said.count("discord: connected as") == 1, said
    assert "apscheduler" not in said
    assert said.count(f"slack: listening on 127.0.0.1:{port}") == 1, said
    assert said.count("feeds: polling 0 feed(s)") == 1, said


async def test_a_port_in_use_stops_run_with_one_line_before_anything_connects(tmp_path: Path) -> None:
    async with FakeDiscord() as discord:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = int(taken.getsockname()[1])
            env = discord_run_env(discord, f"sqlite:///{tmp_path / 'p.db'}") | {
                "NEWSBOT_API__PORT": str(port),
            }
            proc = await start_module("bot", "run", env=env)
            _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert not discord.identified.is_set()
    said = stderr.decode()
    assert proc.returncode == 2, said
    assert "Traceback" not in said
    assert f"cannot listen on 127.0.0.1:{port} for the ingest API (NEWSBOT_API__HOST/PORT)" in said
    assert "in use" in said
    assert len(said.strip().splitlines()) == 1, said
