"""Shared fixtures: `database_url` runs a test on SQLite and on PostgreSQL, each in a fresh database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_DATABASES = ("postgres", "test")  # where to connect to create and drop the per-test databases


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs against the PostgreSQL server on 127.0.0.1:5432")


async def _admin_connection() -> asyncpg.Connection:
    """Connect to the PostgreSQL server, or skip (no CI) / fail (CI) with the reason."""
    problems = []
    for database in PG_ADMIN_DATABASES:
        try:
            return await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user="postgres", database=database, timeout=5
            )
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            problems.append(f"{database}: {error}")
    reason = f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} ({'; '.join(problems)})"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@asynccontextmanager
async def _fresh_postgres_database() -> AsyncIterator[str]:
    admin = await _admin_connection()
    name = f"newsbot_test_{uuid.uuid4().hex[:16]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Yield the URL of an empty database (not yet migrated) that is thrown away after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newsbot.db'}"
        return
    async with _fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """Yield the URL of an empty PostgreSQL database, for behaviour only PostgreSQL has."""
    async with _fresh_postgres_database() as url:
        yield url
