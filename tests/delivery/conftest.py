"""Fixtures for delivery tests: `pg_url`, a fresh PostgreSQL database (tests/conftest.py has `database_url`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


async def _pg_available() -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def fresh_pg_database() -> str:
    """Create an empty PostgreSQL database and return its URL (skip, or fail on CI, when there is no server)."""
    import asyncpg

    if not await _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 and CI is set")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (tests needing it run on CI)")
    name = f"newsbot_delivery_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


async def drop_pg_database(url: str) -> None:
    """Drop a database made by fresh_pg_database."""
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database only."""
    url = await fresh_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)
