"""The watch folder: summary files dropped into it are ingested, then moved to `done/` or `failed/`."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.core.loader import SUPPORTED, Loaded, LoadError, load_file
from bot.core.service import NewsService

log = logging.getLogger(__name__)

DONE = "done"
FAILED = "failed"
CLAIMED = ".claimed"  # files being read; a rename here is how one process claims a file
SETTLE_SECONDS = 1.0  # a file modified more recently may still be being written


@dataclass(frozen=True, slots=True)
class WatchResult:
    """What happened to one file."""

    name: str
    ok: bool
    moved_to: Path
    problems: tuple[str, ...] = ()


class WatchFolder:
    """Ingest files as they appear in `folder`; each is moved aside whatever the outcome, so it is read once."""

    def __init__(
        self,
        folder: Path,
        service: NewsService,
        *,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.folder = folder
        self.service = service
        self.settle_seconds = settle_seconds

    def _ready(self) -> list[Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        for sub in (DONE, FAILED, CLAIMED):
            (self.folder / sub).mkdir(exist_ok=True)
        horizon = time.time() - self.settle_seconds
        found = []
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in SUPPORTED:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file() and stat.st_mtime <= horizon:
                found.append(path)
        return found

    async def scan(self) -> list[WatchResult]:
        """Ingest every settled file now in the folder; return what happened to each."""
        paths = await asyncio.to_thread(self._ready)
        results = []
        for path in paths:
            result = await self._one(path)
            if result is not None:
                results.append(result)
        return results

    async def _one(self, path: Path) -> WatchResult | None:
        claimed = self.folder / CLAIMED / f"{os.getpid()}-{path.name}"
        try:
            await asyncio.to_thread(os.rename, path, claimed)
        except FileNotFoundError:
            return None  # another process claimed it first
        items = await asyncio.to_thread(load_file, claimed)
        errors = [i for i in items if isinstance(i, LoadError)]
        loaded = [i for i in items if isinstance(i, Loaded)]
        problems = tuple(
            line for e in errors for line in str(e).replace(str(claimed), path.name).splitlines()
        )
        if not errors:
            try:
                # The service's listeners count the outcome and wake the sender loop (bot/app.py).
                await self.service.ingest([i.summary for i in loaded])
            except Exception as exc:  # e.g. the database went away: the file is kept for a later scan
                log.warning("watch folder: %s could not be stored (%s); will retry", path.name, exc)
                await asyncio.to_thread(os.rename, claimed, path)
                return None
        ok = not errors
        target = await asyncio.to_thread(self._move, claimed, path.name, DONE if ok else FAILED, problems)
        if ok:
            log.info("watch folder: stored %s", path.name)
        else:
            log.warning("watch folder: %s has problems and was moved to %s", path.name, target)
        return WatchResult(path.name, ok, target, problems)

    def _move(self, claimed: Path, name: str, where: str, problems: tuple[str, ...]) -> Path:
        target = self.folder / where / name
        if target.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            target = target.with_name(f"{target.stem}.{stamp}{target.suffix}")
        os.replace(claimed, target)
        if problems:
            target.with_name(target.name + ".errors.txt").write_text(
                "\n".join(problems) + "\n", encoding="utf-8"
            )
        return target
