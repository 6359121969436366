"""Two real `newsbot run` replicas sharing four gateway shards on one PostgreSQL, and one of them killed.

Shared by the test (tests/adapters/discord/test_shards.py) and `make bench` (`shard_takeover_s`). The
loopback gateway checks each IDENTIFY's `shard: [id, count]` and sends a guild's interactions only to
the session of the shard owning it, `(guild_id >> 22) % 4`, so an interaction is answered only while some
replica runs that guild's shard.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database
from bot.store.shards import ShardOwner, lock_namespace, shard_owners
from tests.fakes.discord import TOKEN, FakeDiscord
from tests.fakes.process import Replicas, discord_run_env, start_module

SHARDS = 4
MAX_CONCURRENCY = 2  # two start-up buckets: shards 0 and 2 share one, 1 and 3 the other
REPLICAS = 2
START_TIMEOUT = 60.0
# One guild per shard: (guild_id >> 22) % 4 == k.
GUILDS = tuple(((1000 + k) << 22) | 1 for k in range(SHARDS))
SETTINGS = {
    "NEWSBOT_DISCORD__SHARD_COUNT": "auto",  # the fake's GET /gateway/bot recommends SHARDS
    "NEWSBOT_DISCORD__SHARD_POLL_SECONDS": "1",
    "NEWSBOT_DELIVERY__ENABLED": "false",
    "NEWSBOT_FEEDS__ENABLED": "false",
    "NEWSBOT_LOG_LEVEL": "INFO",
}


class ShardedReplicas(Replicas):
    """The replicas, the fake gateway and the database they share."""

    def __init__(self, fake: FakeDiscord, database_url: str, logs: Path) -> None:
        super().__init__(logs, "shards")
        self.fake = fake
        self.database_url = database_url
        self.engine = create_engine(database_url)

    async def start(self) -> None:
        """Start the replicas and wait until every shard has a session."""
        env = {**discord_run_env(self.fake, self.database_url), **SETTINGS}
        env["NEWSBOT_DISCORD__GUILD_IDS"] = ",".join(str(g) for g in GUILDS)
        await self.spawn(env, REPLICAS)
        await self.wait_for_all_shards(START_TIMEOUT)

    async def wait_for_all_shards(self, within: float) -> None:
        """Wait until each shard has exactly one live session."""
        try:
            await self.fake.wait_for(lambda: self.fake.connected_shards() == list(range(SHARDS)), within)
        except TimeoutError:
            raise AssertionError(f"shards connected: {self.fake.connected_shards()}\n{self.tail()}") from None

    async def owners(self) -> list[ShardOwner]:
        """Return who holds each shard now, as `newsbot discord shards` shows it."""
        return await shard_owners(self.engine, lock_namespace(TOKEN))

    async def balanced(self, within: float) -> list[ShardOwner]:
        """Wait until both replicas hold shards (one may have taken all before the other started)."""
        deadline = time.monotonic() + within
        while True:
            owners = await self.owners()
            held = {o.owner for o in owners if o.owner is not None}
            if (
                len(held) == REPLICAS
                and len(owners) == SHARDS
                and self.fake.connected_shards() == list(range(SHARDS))
            ):
                return owners
            if time.monotonic() > deadline:
                raise AssertionError(f"shards not shared: {owners}\n{self.tail()}")
            await asyncio.sleep(0.5)

    async def answered(self, guild_id: int, within: float = 3.0) -> bool:
        """Return whether a /topics interaction in `guild_id` is answered within `within` seconds."""
        payload = self.fake.slash("topics", guild_id=guild_id)
        try:
            await self.fake.interact(payload, within=within)
        except TimeoutError:
            return False
        return True

    async def kill_one(self) -> float:
        """SIGKILL the replica holding shard 0; return when (time.monotonic())."""
        owners = {o.shard_id: o.owner for o in await self.owners()}
        victim_pid = int(str(owners[0]).split(":")[1])
        victim = next(p for p in self.procs if p.pid == victim_pid)
        killed_at = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        return killed_at

    async def all_answered_again(self, since: float, within: float) -> float:
        """Wait until every guild's interaction is answered; return the seconds since `since`."""
        deadline = since + within
        waiting = set(GUILDS)
        while waiting:
            if time.monotonic() > deadline:
                raise AssertionError(f"guilds unanswered: {sorted(waiting)}\n{self.tail()}")
            results = await asyncio.gather(*(self.answered(g, within=1.0) for g in sorted(waiting)))
            waiting = {g for g, ok in zip(sorted(waiting), results, strict=True) if not ok}
        return time.monotonic() - since

    async def cli(self, *args: str) -> Any:
        """Run `newsbot ARGS` with the replicas' settings and return its JSON output."""
        proc = await start_module("bot", *args, env=self.env)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        return json.loads(out)

    async def close(self) -> None:
        """Stop what still runs and let go of the database."""
        await self.stop_all()
        await self.engine.dispose()


@asynccontextmanager
async def sharded_replicas(database_url: str, logs: Path) -> AsyncIterator[ShardedReplicas]:
    """Start the sharded loopback gateway and two replicas on `database_url` (migrated first)."""
    await upgrade_database(database_url)
    async with FakeDiscord(guild_ids=GUILDS, shard_count=SHARDS, max_concurrency=MAX_CONCURRENCY) as fake:
        replicas = ShardedReplicas(fake, database_url, logs)
        try:
            await replicas.start()
            yield replicas
        finally:
            await replicas.close()
