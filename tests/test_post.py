"""`newsbot post`: a digest through a webhook, no bot — as a cron job would run it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "us-taiwan-dialogue.yaml"


async def newsbot(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env["NEWSBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'post.db'}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_digest_is_posted_through_a_discord_webhook(tmp_path: Path) -> None:
    assert (await newsbot(tmp_path, "ingest", str(EXAMPLE)))[0] == 0
    async with FakeDiscord() as fake:
        code, out, err = await newsbot(tmp_path, "post", "--discord-webhook", fake.webhook_url())
        posts = fake.requests_to("POST", r"/webhooks/")
    assert code == 0, err
    assert "message 1 of" in out
    assert posts
    sent = str([p.json for p in posts])
    assert "Drone Technology" in sent
    assert all(p.json["allowed_mentions"] == {"parse": []} for p in posts if isinstance(p.json, dict))


async def test_a_digest_is_posted_through_a_slack_webhook_and_a_refusal_is_reported(tmp_path: Path) -> None:
    assert (await newsbot(tmp_path, "ingest", str(EXAMPLE)))[0] == 0
    async with FakeSlack() as fake:
        code, _, err = await newsbot(
            tmp_path, "post", "--slack-webhook", fake.webhook_url(), "--topic", "drones"
        )
        assert code == 0, err
        assert "Drone Technology" in str(fake.webhook_posts)
        fake.fail_next("webhook", "channel_is_archived", status=410)
        code, _, err = await newsbot(tmp_path, "post", "--slack-webhook", fake.webhook_url(), "--last", "1")
    assert code == 1
    assert "not posted" in err
    assert "secretpart" not in err  # the webhook path is its secret


async def test_bad_post_arguments_are_one_line_errors(tmp_path: Path) -> None:
    code, _, err = await newsbot(tmp_path, "post")
    assert (code, "Traceback" in err) == (2, False)
    assert "exactly one of --discord-webhook" in err
    code, _, err = await newsbot(tmp_path, "post", "--discord-webhook", "https://example.com/not-a-webhook")
    assert (code, "Traceback" in err) == (2, False)
    assert "--discord-webhook" in err


async def test_an_empty_webhook_is_blamed_on_the_option_that_was_given(tmp_path: Path) -> None:
    for option in ("--discord-webhook", "--slack-webhook"):
        code, _, err = await newsbot(tmp_path, "post", option, "")
        assert (code, "Traceback" in err) == (2, False)
        assert f"{option}: " in err
        other = "--slack-webhook" if option == "--discord-webhook" else "--discord-webhook"
        assert other not in err
