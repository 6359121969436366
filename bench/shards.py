"""Shard takeover: two replicas share four gateway shards; one is SIGKILLed; how long until its guilds are
answered again (tests/adapters/discord/sharded.py, as the test runs it). Figure `shard_takeover_s`."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.postgres import NoPostgres, temporary_database
from tests.adapters.discord.sharded import sharded_replicas


async def measure() -> dict[str, float]:
    """Return the seconds from SIGKILL to every guild answered again."""
    try:
        async with temporary_database() as url:
            with tempfile.TemporaryDirectory() as logs:
                async with sharded_replicas(url, Path(logs)) as replicas:
                    await replicas.balanced(within=30.0)
                    killed_at = await replicas.kill_one()
                    seconds = await replicas.all_answered_again(killed_at, within=60.0)
    except NoPostgres as error:
        print(f"shard takeover skipped: {error}", file=sys.stderr)
        return {}
    return {"shard_takeover_s": round(seconds, 2)}
