"""One running bot per SQLite file: an exclusive lock on a file beside the database."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class AlreadyRunning(RuntimeError):
    """Another newsbot process already runs against this SQLite database."""


def sqlite_path(database_url: str) -> Path | None:
    """Return the database file of a SQLite URL, or None for any other database."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None  # the store reports a bad URL with a better message
    if url.get_backend_name() != "sqlite" or not url.database or url.database.startswith("file:"):
        return None
    return Path(url.database)


class ProcessLock:
    """Hold `PATH.lock` exclusively for as long as the bot runs; the kernel drops it when the process dies."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                f"another newsbot is already running on {self.database} (pid {holder}). A SQLite database "
                "serves one running bot; stop the other one, or use PostgreSQL (NEWSBOT_DATABASE_URL="
                "postgresql://…) to run several."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Give the lock up."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def hold_database(database_url: str) -> ProcessLock | None:
    """Refuse a second bot on one SQLite file: take its lock (None for PostgreSQL, which needs no lock)."""
    path = sqlite_path(database_url)
    if path is None:
        return None
    lock = ProcessLock(path)
    lock.acquire()
    return lock
