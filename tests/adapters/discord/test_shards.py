"""Two real `newsbot run` replicas share four gateway shards on PostgreSQL; a killed one's shards are taken over."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.adapters.discord.sharded import GUILDS, MAX_CONCURRENCY, SHARDS, sharded_replicas

pytestmark = pytest.mark.postgres

TAKEOVER_LIMIT_SECONDS = 15.0  # the promise: a dead replica's guilds are answered again by then


async def test_four_shards_over_two_replicas_answer_every_guild_and_survive_a_killed_replica(
    postgres_url: str, tmp_path: Path
) -> None:
    async with sharded_replicas(postgres_url, tmp_path) as replicas:
        owners = await replicas.balanced(within=30.0)
        assert sorted(o.shard_id for o in owners) == list(range(SHARDS))
        # Each IDENTIFY named its shard out of the four, and each shard identified once per session.
        assert sorted(s["shard"] for s in replicas.fake.sessions)[:1] == [[0, SHARDS]]
        assert all(s["shard"][1] == SHARDS for s in replicas.fake.sessions)
        # Discord's start-up rule: shards of one max_concurrency bucket identify 5 s apart at least.
        for bucket in range(MAX_CONCURRENCY):
            times = sorted(t for t, shard in replicas.fake.identified_at if shard % MAX_CONCURRENCY == bucket)
            assert all(b - a >= 4.5 for a, b in itertools.pairwise(times)), times
        for guild in GUILDS:
            assert await replicas.answered(guild, within=5.0), f"guild {guild} got no answer"

        killed_at = await replicas.kill_one()
        await replicas.all_answered_again(killed_at, within=TAKEOVER_LIMIT_SECONDS)
        await replicas.wait_for_all_shards(within=5.0)
        survivors = {o.owner for o in await replicas.owners()}
        assert len(survivors) == 1
        assert None not in survivors
        # What an operator sees: every shard with the surviving replica's name.
        shown = await replicas.cli("discord", "shards", "--json")
        assert [(s["shard_id"], s["owner"]) for s in shown["shards"]] == [
            (n, next(iter(survivors))) for n in range(SHARDS)
        ]
