"""Start and stop newsbot as a child process, configured only by the settings a test gives it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.fakes.discord import GUILD_ID, TOKEN, FakeDiscord

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**settings: str) -> dict[str, str]:
    """Return this process's environment without any NEWSBOT_ setting, plus `settings`."""
    # A developer's own NEWSBOT_ variables must not leak into the child and change what it does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(settings)
    return env


def discord_run_env(fake: FakeDiscord, database_url: str, token: str = TOKEN) -> dict[str, str]:
    """Return the environment for `newsbot run` with Discord only, pointed at `fake`."""
    return clean_env(
        NEWSBOT_DATABASE_URL=database_url,
        NEWSBOT_DISCORD__TOKEN=token,
        NEWSBOT_DISCORD__API_BASE=fake.api_base,
        NEWSBOT_DISCORD__GATEWAY_URL=fake.gateway_url,
        NEWSBOT_DISCORD__GUILD_IDS=str(GUILD_ID),
    )


async def start_module(
    module: str,
    *args: str,
    env: dict[str, str],
    stdout: int = asyncio.subprocess.PIPE,
    stderr: int = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:
    """Start `python -m module args` from the repository root with exactly `env`."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT, env=env, stdout=stdout, stderr=stderr
    )


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 15) -> None:
    """Ask a running process to stop with SIGTERM, and kill it if it has not within `grace` seconds."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class Replicas:
    """Several `newsbot run` processes started with one environment, each logging to its own file."""

    def __init__(self, logs: Path, prefix: str) -> None:
        self.logs = logs
        self.prefix = prefix
        self.procs: list[asyncio.subprocess.Process] = []
        self.env: dict[str, str] = {}

    async def spawn(self, env: dict[str, str], count: int) -> None:
        """Start `count` replicas with `env` (plus an empty config file), their stderr in the log folder."""
        self.env = {**env, "PYTHONUNBUFFERED": "1", "NEWSBOT_CONFIG": str(self.logs / "empty.toml")}
        (self.logs / "empty.toml").write_text("", encoding="utf-8")
        for n in range(count):
            with (self.logs / f"{self.prefix}-{n}.log").open("wb") as log:
                self.procs.append(
                    await start_module(
                        "bot", "run", env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=log.fileno()
                    )
                )

    def tail(self) -> str:
        """Return the end of every replica's log, for a failure message."""
        return "\n".join(
            f"replica {n}: {(self.logs / f'{self.prefix}-{n}.log').read_text(errors='replace')[-1500:]}"
            for n in range(len(self.procs))
        )

    async def stop_all(self) -> None:
        """Stop the replicas that are still running."""
        for proc in self.procs:
            await stop_process(proc)
