"""Ingesting files into the archive: read, validate, tag, store — reporting each file's fate."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.loader import Loaded, LoadError, expand_paths, load_file
from bot.core.ports import PutOutcome
from bot.core.service import NewsService
from bot.sources.page import register_page_reader

# Saved web pages are read through bot.sources, which bot.core must not import (bot/core/loader.py).
register_page_reader()

FILES_PER_FLUSH = 200  # files read before the stories found so far are stored
GC_GEN0_THRESHOLD = 20_000  # allocations between young-generation collections during a bulk ingest
STORIES_PER_FLUSH = 2_000  # …or stories: a folder of large JSONL files must not sit in memory whole


@dataclass(frozen=True, slots=True)
class Stored:
    """A story that reached the archive, and what storing it did."""

    where: str
    summary_id: str
    headline: str
    outcome: PutOutcome
    unknown_tags: tuple[str, ...] = ()


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did: stored stories and errors, in input order."""

    stored: list[Stored] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    files: int = 0

    def count(self, outcome: PutOutcome) -> int:
        """Return how many stories had `outcome`."""
        return sum(1 for s in self.stored if s.outcome == outcome)


async def ingest_paths(
    service: NewsService,
    paths: Iterable[Path],
    *,
    on_file: Callable[[Path], None] | None = None,
    on_files_found: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest every summary file named or found below the folders named; bad files never stop good ones."""
    with _fewer_collections():
        return await _ingest(service, paths, on_file=on_file, on_files_found=on_files_found)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    # A bulk ingest allocates millions of short-lived model objects; with CPython's default
    # threshold (700) the collector runs thousands of times and costs over a tenth of the
    # run (measured with make bench). Nothing here forms reference cycles that need prompt
    # collection, so collect less often for the duration and restore the setting after.
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_GEN0_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def _ingest(
    service: NewsService,
    paths: Iterable[Path],
    *,
    on_file: Callable[[Path], None] | None,
    on_files_found: Callable[[int], None] | None,
) -> IngestReport:
    files, errors = expand_paths(paths)
    report = IngestReport(errors=list(errors), files=len(files))
    if on_files_found is not None:
        on_files_found(len(files))
    pending: list[Loaded] = []
    for i, path in enumerate(files, start=1):
        for item in load_file(path):
            if isinstance(item, LoadError):
                report.errors.append(item)
            else:
                pending.append(item)
        if on_file is not None:
            on_file(path)
        if i % FILES_PER_FLUSH == 0 or len(pending) >= STORIES_PER_FLUSH:
            await _store(service, pending, report)
            pending = []
    await _store(service, pending, report)
    return report


async def _store(service: NewsService, loaded: list[Loaded], report: IngestReport) -> None:
    if not loaded:
        return
    result = await service.ingest([item.summary for item in loaded])
    for item, outcome in zip(loaded, result.outcomes, strict=True):
        s = item.summary
        report.stored.append(Stored(item.where, s.id, s.headline, outcome, result.unknown_tags.get(s.id, ())))
