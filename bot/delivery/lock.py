"""One running bot per SQLite file: an exclusive OS lock on the database file itself, held for the process's life.

The lock used to be on `PATH.lock` beside the database; deleting that file (a clean-up script, a
curious operator) let a second bot lock a new file and run on the same database. The database file
is what must be guarded, so it is what is locked. flock() and the POSIX locks SQLite takes on the
same file are independent on Linux and macOS, so the two never interfere; the kernel drops the lock
when the process dies. `PATH.lock` now only records which process holds it, for the message.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import suppress
from pathlib import Path

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
    """Hold an exclusive flock on the database file for as long as the bot runs."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")  # who holds it: a pid, informational
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning naming the process that holds it."""
        self.database.parent.mkdir(parents=True, exist_ok=True)
        # O_CREAT: an empty file is a valid empty SQLite database, which migrations then fill.
        fd = os.open(self.database, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"another newsbot is already running on {self.database} (pid {self._holder()}). A SQLite "
                "database serves one running bot; stop the other one, or use PostgreSQL "
                "(NEWSBOT_DATABASE_URL=postgresql://…) to run several."
            ) from None
        self._fd = fd
        with suppress(OSError):  # the note is a courtesy; the lock above is what guards the file
            self.path.write_text(str(os.getpid()), encoding="utf-8")

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        """Give the lock up (after the database is closed: closing this descriptor ends the lock)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            with suppress(OSError):
                self.path.unlink()


def hold_database(database_url: str) -> ProcessLock | None:
    """Refuse a second bot on one SQLite file: take its lock (None for PostgreSQL, which needs no lock)."""
    path = sqlite_path(database_url)
    if path is None:
        return None
    lock = ProcessLock(path)
    lock.acquire()
    return lock
