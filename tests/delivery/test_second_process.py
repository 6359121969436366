"""Two `newsbot run` processes on one SQLite file: the second one refuses to start, in one line."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.adapters.discord.test_run_process import bot_env, start
from tests.fakes.discord import FakeDiscord


async def test_a_second_newsbot_run_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        env = bot_env(fake, tmp_path) | {"NEWSBOT_DELIVERY__SERVE_HTTP": "false"}
        first = await start(env)
        try:
            await asyncio.wait_for(fake.identified.wait(), 60)
            second = await start(env)
            out, err = await asyncio.wait_for(second.communicate(), 60)
            assert second.returncode == 2
            message = (out + err).decode()
            assert "another newsbot is already running on" in message
            assert "newsbot.db" in message  # which file, and who holds it
            assert f"pid {first.pid}" in message
            assert "Traceback" not in message
            assert first.returncode is None  # the first bot is untouched
        finally:
            if first.returncode is None:
                first.send_signal(signal.SIGTERM)
                await asyncio.wait_for(first.wait(), 15)
    assert first.returncode == 0
