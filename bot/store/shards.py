"""Which replica runs which Discord gateway shard, decided by PostgreSQL session advisory locks.

A replica owns a shard while its claim connection holds `pg_try_advisory_lock(namespace, shard_id)`.
The lock belongs to that connection's session, so when the replica dies (even by SIGKILL) the server
drops the session and the shard is free at once; the survivors, polling for free locks, take it. The
connection is held open for that reason and never returned to the pool. The `discord_shards` row only
records who took a shard and since when, for `newsbot discord shards`; the lock is the truth.

Every claim connection carries the application name CLAIMANT, so a replica can count the live ones
and take its fair share, not every shard because it happened to start first.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.engine import translated_errors
from bot.store.tables import discord_shards

CLAIMANT = "newsbot-shards"  # application_name of every claim connection


def lock_namespace(token: str) -> int:
    """Return the advisory-lock namespace of one bot token (a signed 32-bit int), so two bots sharing a
    database never hold each other's shards."""
    digest = hashlib.sha256(token.encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


@dataclass(frozen=True, slots=True)
class ShardOwner:
    """One shard as `newsbot discord shards` shows it."""

    shard_id: int
    shard_count: int
    owner: str | None  # None when no replica holds it now
    since: datetime | None
    last_owner: str | None  # who held it last, when it is free


class SqlShardClaims:
    """This replica's claims on gateway shards: one connection, one session lock per shard it runs."""

    def __init__(self, engine: AsyncEngine, namespace: int, owner: str) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("sharing shards between replicas needs PostgreSQL")
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._url = engine.url.render_as_string(hide_password=True)
        self.namespace = namespace
        self.owner = owner
        self._conn: AsyncConnection | None = None
        self.held: set[int] = set()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            self.held.clear()  # a new session holds nothing
            conn = await self._engine.connect()
            await conn.exec_driver_sql(f"SET application_name TO '{CLAIMANT}'")
            self._conn = conn
        return self._conn

    async def check(self) -> bool:
        """Return whether the claims still stand (the session is alive); when not, they are all gone."""
        try:
            async with translated_errors(self._url):
                await (await self._connection()).execute(text("SELECT 1"))
        except Exception:
            await self._drop()
            return False
        return True

    async def live_replicas(self) -> int:
        """Return how many replicas hold a claim connection now (this one included)."""
        async with translated_errors(self._url):
            conn = await self._connection()
            found = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": CLAIMANT},
            )
            return max(1, int(found.scalar_one()))

    async def claim(self, shard_id: int, shard_count: int) -> bool:
        """Take `shard_id` if no replica holds it; return whether this replica now does."""
        if shard_id in self.held:
            return True
        async with translated_errors(self._url):
            conn = await self._connection()
            got = await conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :shard)"), {"ns": self.namespace, "shard": shard_id}
            )
            if not got.scalar_one():
                return False
            self.held.add(shard_id)
            row = {"shard_count": shard_count, "owner": self.owner, "since": text("statement_timestamp()")}
            stmt = pg_insert(discord_shards).values(shard_id=shard_id, **row)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["shard_id"], set_=row))
        return True

    async def release(self, shard_id: int) -> None:
        """Give `shard_id` up, so another replica may take it."""
        if shard_id not in self.held:
            return
        self.held.discard(shard_id)
        async with translated_errors(self._url):
            conn = await self._connection()
            await conn.execute(
                text("SELECT pg_advisory_unlock(:ns, :shard)"), {"ns": self.namespace, "shard": shard_id}
            )

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.held.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        """End the session: every shard this replica held is free."""
        await self._drop()


async def claimants(engine: AsyncEngine) -> int:
    """Return how many replicas hold a claim connection to this database now."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND datname = current_database()"
    )
    async with translated_errors(engine.url.render_as_string(hide_password=True)), engine.connect() as conn:
        return int((await conn.execute(query, {"name": CLAIMANT})).scalar_one())


async def shard_owners(engine: AsyncEngine, namespace: int) -> list[ShardOwner]:
    """Return every shard ever claimed for this bot with its owner now (from the locks) and since when."""
    query = text(
        "SELECT s.shard_id, s.shard_count, s.owner, s.since, "
        "  EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
        "          AND l.classid = (:ns)::bigint::oid AND l.objid = s.shard_id AND l.objsubid = 2) "
        "FROM discord_shards s ORDER BY s.shard_id"
    )
    async with translated_errors(engine.url.render_as_string(hide_password=True)), engine.connect() as conn:
        rows = (await conn.execute(query, {"ns": namespace & 0xFFFFFFFF})).all()
    return [
        ShardOwner(
            shard_id=int(r[0]),
            shard_count=int(r[1]),
            owner=str(r[2]) if r[4] else None,
            since=r[3] if r[4] else None,
            last_owner=None if r[4] else str(r[2]),
        )
        for r in rows
    ]
