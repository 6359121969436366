"""The sharded Discord runner: one discord.py Client per gateway shard this replica holds.

Discord refuses a single gateway connection past 2,500 servers; a bot then opens shards, each
identifying as `[shard_id, shard_count]` and receiving the guilds with `(guild_id >> 22) % count ==
shard_id`. Replicas share the shards: each holds a claim per shard it runs (bot/store/shards.py, a
PostgreSQL session lock that dies with the replica), takes its fair share of free shards on start, and
every `shard_poll_seconds` takes any shard a dead replica left. discord.py's AutoShardedClient opens its
shards once at start and has no way to add one later, so each shard is its own `discord.Client(shard_id=,
shard_count=)`, which can be started and closed on its own while the others keep running.

IDENTIFYs follow Discord's start-up rule: shards with the same `shard_id % max_concurrency` identify at
most once per 5 s (https://discord.com/developers/docs/events/gateway#session-start-limit-object), paced
through `IdentifyPacer`s the composition root shares between replicas on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import discord

from bot.adapters.discord.bot import (
    DEFAULT_API_BASE,
    DiscordBot,
    _Client,
    discord_endpoints,
    login,
    use_gateway,
)
from bot.adapters.discord.errors import DiscordLoginError
from bot.core.commands import CommandTable
from bot.settings import DiscordSettings

log = logging.getLogger(__name__)

IDENTIFY_WINDOW_SECONDS = 5.0  # Discord: one IDENTIFY per max_concurrency bucket per 5 s


class ShardClaims(Protocol):
    """This replica's hold on shards (bot/store/shards.py's SqlShardClaims)."""

    async def check(self) -> bool:
        """Return whether the claims still stand."""
        ...

    async def live_replicas(self) -> int:
        """Return how many replicas share the shards now."""
        ...

    async def claim(self, shard_id: int, shard_count: int) -> bool:
        """Take a free shard; return whether this replica holds it."""
        ...

    async def release(self, shard_id: int) -> None:
        """Give a shard up."""
        ...

    async def close(self) -> None:
        """Give every shard up."""
        ...


class IdentifyPacer(Protocol):
    """Waits until one more IDENTIFY of a max_concurrency bucket may go (SqlRateBudget on PostgreSQL)."""

    async def take(self) -> float:
        """Wait for the bucket's next IDENTIFY slot."""
        ...


class LocalPacer:
    """One process's IDENTIFY pacing for a bucket: once per window, measured on the monotonic clock."""

    def __init__(self, window: float = IDENTIFY_WINDOW_SECONDS) -> None:
        self.window = window
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def take(self) -> float:
        """Wait for this bucket's next slot; return how long that took."""
        async with self._lock:
            delay = max(0.0, self._next - time.monotonic())
            await asyncio.sleep(delay)
            self._next = time.monotonic() + self.window
            return delay


PacerFactory = Callable[[int], IdentifyPacer]  # bucket key (shard_id % max_concurrency) → its pacer


class _ShardClient(_Client):
    """A Client for one shard whose IDENTIFYs wait for the bucket's pacer (discord.py's hook for it)."""

    def __init__(self, pacer: IdentifyPacer, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self._pacer = pacer

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self._pacer.take()


@dataclass(slots=True)
class _Running:
    client: discord.Client
    task: asyncio.Task[None]


class ShardedDiscordBot(DiscordBot):
    """Run the shards this replica holds, and take free ones, until `stop` is set."""

    def __init__(
        self,
        settings: DiscordSettings,
        commands: CommandTable,
        *,
        claims: ShardClaims | None,
        pacers: PacerFactory | None = None,
        **options: Any,
    ) -> None:
        super().__init__(settings, commands, **options)
        self.claims = claims
        self.pacers = pacers
        self.shard_count = 0
        self.running: dict[int, _Running] = {}
        self._bucket_pacers: dict[int, IdentifyPacer] = {}

    def _cached_channel(self, channel_id: int) -> Any:
        # Each shard's client caches its own guilds' channels; a replica holding no shard knows none,
        # and delivery then asks Discord's REST API.
        for running in list(self.running.values()):
            found = running.client.get_channel(channel_id)
            if found is not None:
                return found
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Log in once to learn the shard count and gateway, register commands, then keep the shards."""
        token = self._token()
        api_base = self.settings.api_base.rstrip("/")
        with discord_endpoints(api_base, self.settings.gateway_url):
            try:
                max_concurrency = await self._prepare(token, api_base)
                log.info("discord: %d shard(s), max_concurrency %d", self.shard_count, max_concurrency)
                while not stop.is_set():
                    try:
                        await self._keep(token, api_base, max_concurrency)
                    except DiscordLoginError:
                        raise
                    except Exception as exc:  # the database or Discord is away: keep what runs, try again
                        log.warning("discord: could not look after the shards (%s); trying again", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.shard_poll_seconds)
            finally:
                for shard_id in list(self.running):
                    await self._stop_shard(shard_id)
                if self.claims is not None:
                    await self.claims.close()

    async def _prepare(self, token: str, api_base: str) -> int:
        probe = discord.Client(intents=discord.Intents.none())
        try:
            await login(probe, token, api_base)
            recommended, url, max_concurrency = 1, None, 1
            try:
                recommended, url, limit = await probe.http.get_bot_gateway()
                max_concurrency = int(limit.get("max_concurrency", 1))
            except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
                log.warning("GET /gateway/bot failed (%s): one shard, max_concurrency 1", exc)
            if url is not None and self.settings.gateway_url is None and api_base != DEFAULT_API_BASE:
                use_gateway(url)
            configured = self.settings.shard_count
            self.shard_count = max(1, int(recommended)) if configured == "auto" else configured
            if self.sync:
                await self._sync(probe)
        finally:
            await probe.close()
        return max(1, max_concurrency)

    async def _keep(self, token: str, api_base: str, max_concurrency: int) -> None:
        """One round: drop shards whose claim is gone, take the fair share of free ones, restart dead ones."""
        for shard_id, running in list(self.running.items()):
            if running.task.done():
                log.warning("discord: shard %d's connection ended; starting it again", shard_id)
                await self._stop_shard(shard_id, release=False)
        if self.claims is None:
            wanted = list(range(self.shard_count))
        else:
            if not await self.claims.check():
                for shard_id in list(self.running):
                    log.error("discord: lost the claim on shard %d (database connection gone)", shard_id)
                    await self._stop_shard(shard_id, release=False)
                return
            share = math.ceil(self.shard_count / await self.claims.live_replicas())
            if len(self.running) > share:
                # Another replica started after this one took everything: give one shard back per round.
                await self._stop_shard(max(self.running))
            wanted = []
            for shard_id in range(self.shard_count):
                if len(self.running) + len(wanted) >= share:
                    break
                if shard_id not in self.running and await self.claims.claim(shard_id, self.shard_count):
                    wanted.append(shard_id)
        for shard_id in wanted:
            if shard_id not in self.running:
                await self._start_shard(shard_id, token, api_base, max_concurrency)

    def _pacer(self, shard_id: int, max_concurrency: int) -> IdentifyPacer:
        bucket = shard_id % max_concurrency
        if bucket not in self._bucket_pacers:
            self._bucket_pacers[bucket] = self.pacers(bucket) if self.pacers else LocalPacer()
        return self._bucket_pacers[bucket]

    async def _start_shard(self, shard_id: int, token: str, api_base: str, max_concurrency: int) -> None:
        client = _ShardClient(
            self._pacer(shard_id, max_concurrency),
            self.handler,
            self.ready,
            shard_id=shard_id,
            shard_count=self.shard_count,
            **self._client_options(),
        )
        await login(client, token, api_base)
        task = asyncio.create_task(client.connect(reconnect=True), name=f"discord-shard-{shard_id}")
        self.running[shard_id] = _Running(client, task)
        log.info("discord: running shard %d of %d", shard_id, self.shard_count)

    async def _stop_shard(self, shard_id: int, *, release: bool = True) -> None:
        running = self.running.pop(shard_id)
        await self._close(running.client, running.task)
        if release and self.claims is not None:
            with contextlib.suppress(Exception):
                await self.claims.release(shard_id)
        log.info("discord: stopped shard %d", shard_id)
