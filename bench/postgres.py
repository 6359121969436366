"""A throwaway PostgreSQL database for the benches that measure what replicas share.

The server is NEWSBOT_BENCH_POSTGRES (default postgres@127.0.0.1:5432, the one the tests use); when it
cannot be reached, those figures are left out of bench/results.json with the reason printed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

SERVER = os.environ.get("NEWSBOT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


class NoPostgres(Exception):
    """The bench's PostgreSQL server is not reachable."""


@asynccontextmanager
async def temporary_database() -> AsyncIterator[str]:
    """Yield the URL of a fresh database on the bench server, dropped afterwards."""
    problems = []
    admin = None
    for database in ("postgres", "test"):
        try:
            admin = await asyncpg.connect(f"{SERVER}/{database}", timeout=5)
            break
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            problems.append(f"{database}: {error}")
    if admin is None:
        raise NoPostgres(f"PostgreSQL at {SERVER} is not reachable ({'; '.join(problems)})")
    name = f"newsbot_bench_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{SERVER}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
