"""Opening the database: URL normalisation, async engine creation and one-line store errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 15_000  # how long a writer waits for another process's write to finish
SQLITE_CACHE_KIB = 65_536  # page cache per connection: bulk ingest touches several large indexes
# WAL pages (4 KiB each, so about 40 MB) after which a commit copies the log into the database file,
# with one fsync of each. SQLite's default of 1,000 checkpointed every ~1,500 bench stories; a
# bulk ingest of 20,000 waited on 129 fdatasync calls (0.9 s), and on 33 (0.5 s) with this. The log
# file stays at about this size between checkpoints.
SQLITE_WAL_CHECKPOINT_PAGES = 10_000
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


# Query-string keys the drivers read a password or key from (asyncpg and libpq both accept ?password=).
_SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "sslpassword", "secret", "token", "key")
_HIDDEN = "***"
# A URL inside free text (driver messages): scheme://, then everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """Return `url` with every password hidden (user:***@, ?password=***), for messages, logs and pages.

    SQLAlchemy's own parser and renderer decide where the password is, so whatever it would connect
    with is what gets hidden ('/' or '@' inside a password included); a URL it cannot read is not echoed.
    """
    try:
        parsed = make_url(url.strip())
    except (exc.ArgumentError, ValueError):
        return "<unreadable database URL>"
    if parsed.host and "@" in parsed.host:
        # An unencoded '@' in a password: SQLAlchemy ends the password at the first one, so the rest
        # would show as part of the host. normalize_url refuses such a URL; here it is only hidden.
        parsed = parsed.set(host=parsed.host.rsplit("@", 1)[1])
    hidden = {
        key: _HIDDEN if any(word in key.lower() for word in _SECRET_QUERY_KEYS) else value
        for key, value in parsed.query.items()
    }
    rendered = parsed.set(query=hidden).render_as_string(hide_password=True)
    return rendered.replace(quote(_HIDDEN, safe=""), _HIDDEN)  # the query renders percent-encoded


def redact_text(text: str) -> str:
    """Return `text` with every URL in it passed through redact_url (driver errors may quote one)."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


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
    if parsed.get_backend_name() == "postgresql" and "sslmode" in parsed.query:
        # libpq's spelling; asyncpg takes the same values as ?ssl= and fails on sslmode with a TypeError.
        raise StoreError(
            f"database_url: write ?ssl=require (asyncpg's name), not ?sslmode=require ({_EXPECTED})"
        )
    if parsed.host and "@" in parsed.host:
        raise StoreError(f"database_url: write an '@' inside the password as %40 ({_EXPECTED})")
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
        # NORMAL, not FULL: in WAL mode a commit is then written to the log but not fsynced, so it
        # survives newsbot crashing or being killed, and only an OS crash or power cut can lose the
        # last commits (never the database's consistency). For the outbox that window means a post
        # made in the last moments before a power cut may be made again after it; the failures the
        # outbox must never repeat a post through (issue 10 item 4: a full disk, a database that
        # refuses the write) are errors at commit, which NORMAL reports exactly as FULL does. FULL
        # would cost an fsync per commit: per delivery part recorded and per ingest batch.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_CHECKPOINT_PAGES}")
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
    return redact_text(text)


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
