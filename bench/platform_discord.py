"""Discord figures: /topic latency through the real discord.py client, and the idle memory of `newsbot run`.

Both run against the loopback Discord from tests/fakes, so they need no network and no token.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.adapters.discord.bot import DiscordBot
from bot.app import App
from bot.settings import DiscordSettings
from tests.fakes.discord import GUILD_ID, TOKEN, FakeDiscord
from tests.fakes.process import discord_run_env, start_module, stop_process

ROOT = Path(__file__).resolve().parents[1]
QUERIES = (
    "drones",
    "ai",
    "semiconductors",
    "critical-minerals",
    "uav",
    "chips",
    "tariffs",
    "drnoes",
    "energy",
)


async def measure(app: App, interactions: int = 1000, queries: Sequence[str] = QUERIES) -> dict[str, float]:
    """Time /topic from INTERACTION_CREATE leaving the fake to the interaction callback reaching it."""
    async with FakeDiscord(global_limit=None) as fake:
        settings = DiscordSettings(
            token=TOKEN, api_base=fake.api_base, gateway_url=fake.gateway_url, guild_ids=[GUILD_ID]
        )
        bot = DiscordBot(settings, app.commands, guild_ready_timeout=0.1)
        stop = asyncio.Event()
        task = asyncio.create_task(bot.run(stop))
        try:
            ready = asyncio.create_task(bot.ready.wait())
            await asyncio.wait({task, ready}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
            if not bot.ready.is_set():
                raise RuntimeError("the Discord bot did not become ready against the fake")
            latencies: list[float] = []
            for i in range(interactions):
                payload = fake.slash("topic", {"query": queries[i % len(queries)]})
                started = asyncio.get_running_loop().time()
                future = fake.send_interaction(payload)
                await asyncio.wait_for(future, 30)
                latencies.append((asyncio.get_running_loop().time() - started) * 1000)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "discord_topic_p50_ms": round(statistics.median(latencies), 2),
        "discord_topic_p99_ms": round(cuts[98], 2),
    }


async def idle_rss_mb(settle: float = 5.0) -> float:
    """Return the resident memory (MB) of a `newsbot run` process (Discord only) once READY and idle."""
    async with FakeDiscord() as fake:
        with tempfile.TemporaryDirectory() as tmp:
            env = discord_run_env(fake, f"sqlite:///{Path(tmp) / 'newsbot.db'}")
            proc = await start_module("bot", "run", env=env, stdout=asyncio.subprocess.DEVNULL)
            waiting = asyncio.create_task(fake.identified.wait())
            exited = asyncio.create_task(proc.wait())
            try:
                await asyncio.wait({waiting, exited}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if not fake.identified.is_set():
                    stderr = (await proc.stderr.read()).decode() if proc.stderr and exited.done() else ""
                    raise RuntimeError(f"`newsbot run` did not connect to the fake Discord: {stderr[-2000:]}")
                await asyncio.sleep(settle)  # past discord.py's guild-ready wait, then idle
                return memory_mb(proc.pid)
            finally:
                await stop_process(proc)
                exited.cancel()


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """Return a process's memory figure in MB: VmRSS (resident now) or VmHWM (the peak so far)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"{field} not found in /proc (Linux only)")


async def _main() -> None:
    from bot.app import open_app
    from bot.core.loader import Loaded, load_file
    from bot.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}")
        async with open_app(settings) as app:
            loaded = [
                i.summary
                for i in load_file(ROOT / "examples" / "us-taiwan-dialogue.yaml")
                if isinstance(i, Loaded)
            ]
            await app.service.ingest(loaded)
            figures = await measure(app, interactions=int(os.environ.get("BENCH_INTERACTIONS", "300")))
    figures["discord_idle_rss_mb"] = await idle_rss_mb()
    print(figures)


if __name__ == "__main__":
    asyncio.run(_main())
