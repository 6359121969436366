"""`newsbot run` as a process, Discord only, against the loopback Discord: SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.fakes.discord import TOKEN, FakeDiscord
from tests.fakes.process import discord_run_env, start_module


def bot_env(fake: FakeDiscord, tmp_path: Path, token: str = TOKEN) -> dict[str, str]:
    """Return the environment for `newsbot run` on Discord only, with its database in `tmp_path`."""
    return discord_run_env(fake, f"sqlite:///{tmp_path / 'newsbot.db'}", token=token)


async def start(env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start `newsbot run` with exactly `env`, its output piped."""
    return await start_module("bot", "run", env=env)


async def test_sigterm_stops_newsbot_run_cleanly(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        proc = await start(bot_env(fake, tmp_path))
        try:
            await asyncio.wait_for(fake.identified.wait(), 60)
            await fake.wait_for(lambda: bool(fake.requests_to("PUT", r"/commands$")))
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, stderr.decode()
        assert "Traceback" not in stderr.decode()
        await fake.wait_for(lambda: not fake._sockets)


async def test_newsbot_run_with_a_refused_token_fails_without_printing_it(tmp_path: Path) -> None:
    secret = "refused-token-value-123"
    async with FakeDiscord() as fake:
        # At WARNING the start-up lines are silent, so the refusal is all there is to read.
        proc = await start(bot_env(fake, tmp_path, token=secret) | {"NEWSBOT_LOG_LEVEL": "WARNING"})
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    output = stdout.decode() + stderr.decode()
    assert proc.returncode == 2
    assert "Discord refused the token (401 Unauthorized): check NEWSBOT_DISCORD__TOKEN" in output
    assert "Traceback" not in output
    assert len(stderr.decode().strip().splitlines()) == 1
    assert secret not in output
    assert fake.identify is None
