"""Applying the Alembic migrations shipped inside the package, without an alembic.ini."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.store.engine import WRITE, StoreError, create_engine, redact_text, translated_errors

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (with Mako and Pygments behind it) is imported only where migrations run: a long-running
# bot applies them in a short-lived child process (upgrade_in_child) and never carries the ~9 MB.
_URL_ENV = (
    "NEWSBOT_MIGRATE_DATABASE_URL"  # the child's input; an environment variable keeps passwords out of ps
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number works; it only has to be the same in every newsbot process sharing the database.
_PG_MIGRATION_LOCK = 7_140_215_301


def alembic_config() -> Config:
    """Return an Alembic config pointing at the packaged migrations."""
    from alembic.config import Config

    config = Config()
    # Config values go through ConfigParser interpolation, so a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


def _upgrade(connection: Connection, config: Config) -> None:
    from alembic import command

    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_database(url: str) -> None:
    """Bring the database at `url` to the newest schema; a no-op when it is already there."""
    from alembic.util.exc import CommandError

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


async def upgrade_in_child(url: str) -> None:
    """Bring the database to the newest schema from a child process; its error comes back as StoreError."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.store.migrate",
        env={**os.environ, _URL_ENV: url},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await child.communicate()
    if child.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        # The child's last line may be an unexpected error quoting the URL: it is redacted too.
        raise StoreError(
            redact_text(lines[-1]) if lines else f"database migration failed (exit status {child.returncode})"
        )


def _main() -> int:
    try:
        asyncio.run(upgrade_database(os.environ[_URL_ENV]))
    except StoreError as error:
        print(error, file=sys.stderr)  # noqa: T201 - the parent reads this one line
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main())
