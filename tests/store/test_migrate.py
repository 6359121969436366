"""Migrations: applying them again is a no-op, concurrent starts are safe, and they match tables.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

import bot.store.outbox  # noqa: F401  # defines the outbox tables on the same MetaData
from bot.store.archive import SqlArchive
from bot.store.engine import StoreError, create_engine
from bot.store.migrate import alembic_config, upgrade_database, upgrade_in_child
from bot.store.tables import metadata
from tests.store.conftest import T0, story


async def test_upgrading_twice_keeps_the_data(database_url: str) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        await SqlArchive(engine).put_many([story(1, sections=[("Drones", "Drone talks.", ["drones"])])], T0)
        await upgrade_database(database_url)
        assert await SqlArchive(engine).count_stories() == 1
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
    finally:
        await engine.dispose()


async def test_two_processes_starting_together_both_succeed(database_url: str) -> None:
    await asyncio.gather(upgrade_database(database_url), upgrade_database(database_url))
    engine = create_engine(database_url)
    try:
        assert await SqlArchive(engine).count_stories() == 0
    finally:
        await engine.dispose()


def _diff(connection: Connection) -> list[Any]:
    # The full-text machinery (FTS5 tables, the tsvector column) is dialect-specific and lives only
    # in the migration, so it is left out of the comparison.
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (name or "").startswith(("sections_fts", "alembic_version")) and name not in {
            "search",
            "ix_sections_search",
        }

    context = MigrationContext.configure(connection, opts={"include_object": include, "compare_type": False})
    return list(compare_metadata(context, metadata))


async def test_migration_creates_exactly_the_tables_the_code_uses(database_url: str) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_a_child_process_migrates_and_reports_failure_as_one_line(database_url: str) -> None:
    await upgrade_in_child(database_url)  # what `newsbot run` does, so Alembic stays out of its memory
    engine = create_engine(database_url)
    try:
        assert await SqlArchive(engine).count_stories() == 0  # the tables are there
    finally:
        await engine.dispose()
    with pytest.raises(StoreError) as refused:
        await upgrade_in_child("postgresql://nobody:secret-pw@127.0.0.1:1/none")
    assert "\n" not in str(refused.value)
    assert "secret-pw" not in str(refused.value)
