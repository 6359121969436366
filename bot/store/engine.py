"""Opening the database: URL normalisation, async engine creation and one-line store errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 15_000  # how long a writer waits for another process's write to finish
SQLITE_CACHE_KIB = 65_536  # page cache per connection: bulk ingest touches several large indexes
PG_CONNECT_TIMEOUT_S = 10
# Execution options saying how a SQLite transaction begins (PostgreSQL ignores them):
WRITE = {"newsbot_begin": "IMMEDIATE"}  # will write: take the write lock at BEGIN
READ = {"newsbot_begin": "NONE"}  # reads only: no BEGIN, each statement sees the latest commit

_ASYNC_DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg"}
_SYNC_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
_EXPECTED = "expected sqlite:///PATH/TO/newsbot.db or postgresql://USER@HOST:5432/DBNAME"


class StoreError(Exception):
    """The database cannot be used: a bad URL, an unreachable server or a schema that is not there."""


def redact_url(url: str) -> str:
    """Return `url` with any password replaced by ***, for messages and logs."""
    return re.sub(r"(://[^:/@\s]*):[^@/\s]*@", r"\1:***@", url)


def normalize_url(url: str) -> str:
    """Return the async-driver form of a sqlite:// or postgresql:// URL; raise StoreError for anything else."""
    text = url.strip()
    if "://" not in text:
        # Not echoed: whatever was put here by mistake might be a secret.
        raise StoreError(f"database_url is not a database URL ({_EXPECTED})")
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme in _SYNC_SCHEMES:
        scheme = _SYNC_SCHEMES[scheme]
    elif scheme not in _ASYNC_DRIVERS:
        raise StoreError(
            f"database_url scheme {scheme!r} is not supported; newsbot uses SQLite or PostgreSQL ({_EXPECTED})"
        )
    normalized = f"{scheme}://{rest}"
    parsed = _parse(normalized)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise StoreError(f"an in-memory SQLite database cannot be shared between connections ({_EXPECTED})")
    if parsed.get_backend_name() == "postgresql" and not parsed.database:
        raise StoreError(f"database_url names no database ({_EXPECTED})")
    return normalized


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except (exc.ArgumentError, ValueError):
        raise StoreError(f"database_url cannot be read ({_EXPECTED})") from None


def create_engine(url: str) -> AsyncEngine:
    """Create the async engine for `url`, creating the folder of a SQLite file when it is missing."""
    normalized = normalize_url(url)
    parsed = _parse(normalized)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_async_engine(
        parsed,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"timeout": PG_CONNECT_TIMEOUT_S},
    )


def _sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""  # never empty here: normalize_url refuses a URL without a file
    path = Path(database)
    if not database.startswith("file:"):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the folder {path.parent} for the database: {error}") from None
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not the sqlite3 module, decides where transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front: upgrading a read transaction later fails at once
        # with "database is locked" when another process wrote meanwhile, instead of waiting.
        # Plain reads skip BEGIN altogether: one round trip to the driver thread fewer per query.
        mode = conn.get_execution_options().get("newsbot_begin", "")
        if mode != "NONE":
            conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


def describe_error(error: BaseException) -> str:
    """Return a one-line description of a database error, without statement text or parameters."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return redact_url(text)


def store_error(error: BaseException, url: str | None = None) -> StoreError:
    """Translate a driver or connection error into a one-line StoreError."""
    detail = describe_error(error)
    lowered = detail.lower()
    where = f" at {redact_url(url)}" if url else ""
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return StoreError(
            f"the database{where} has no newsbot tables yet; run `newsbot db upgrade` ({detail})"
        )
    if isinstance(error, OSError | TimeoutError) or isinstance(getattr(error, "orig", None), OSError):
        return StoreError(f"cannot connect to the database{where}: {detail}")
    return StoreError(f"database error{where}: {detail}")


# Driver errors (connection refused, locked, missing database or table, …) plus the socket-level
# failures some drivers let through unwrapped.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (exc.DBAPIError, OSError, TimeoutError)


@asynccontextmanager
async def translated_errors(url: str | None = None) -> AsyncIterator[None]:
    """Turn database errors raised inside the block into one-line StoreErrors."""
    try:
        yield
    except StoreError:
        raise
    except DATABASE_ERRORS as error:
        raise store_error(error, url) from error
