"""Applying the Alembic migrations shipped inside the package, without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.store.engine import WRITE, StoreError, create_engine, translated_errors

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number works; it only has to be the same in every newsbot process sharing the database.
_PG_MIGRATION_LOCK = 7_140_215_301


def alembic_config() -> Config:
    """Return an Alembic config pointing at the packaged migrations."""
    config = Config()
    # Config values go through ConfigParser interpolation, so a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_database(url: str) -> None:
    """Bring the database at `url` to the newest schema; a no-op when it is already there."""
    engine = create_engine(url)
    config = alembic_config()
    try:
        async with translated_errors(url), engine.execution_options(**WRITE).begin() as connection:
            if connection.dialect.name == "postgresql":
                # Two processes starting together: the second waits here, then finds nothing to do.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            await connection.run_sync(_upgrade, config)
    except CommandError as error:
        # E.g. the database was migrated by a newer newsbot whose revision this one does not know.
        raise StoreError(f"cannot migrate the database: {error}") from None
    finally:
        await engine.dispose()
