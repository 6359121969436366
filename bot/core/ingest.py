"""Ingesting files into the archive: read, validate, tag, store — reporting each file's fate."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.bulk import FileResult, TaggedLoad, read_here, read_pooled, worker_count
from bot.core.loader import LoadError, expand_paths
from bot.core.ports import PutOutcome
from bot.core.service import IngestPipeline, IngestResult, NewsService

FILES_PER_FLUSH = 200  # files read before the stories found so far are stored
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
    workers: int | None = 0,
) -> IngestReport:
    """Ingest every summary file named or found below the folders named; bad files never stop good ones.

    `workers` processes read and tag the files (0: this process does); None decides by the ingest's
    size and the machine's cores (bot/core/bulk.py). A program that passes anything but 0 must keep
    its own top-level code under `if __name__ == "__main__":`, as the workers import its main module.
    """
    with _collections_between_flushes():
        return await _ingest(service, paths, on_file=on_file, on_files_found=on_files_found, workers=workers)


@contextmanager
def _collections_between_flushes() -> Iterator[None]:
    # A bulk ingest allocates millions of model objects that live until their flush is stored.
    # The collector, run by allocation count, kept walking those live stories: with CPython's
    # default threshold it cost over a tenth of the run, and still about 20 µs per story (of
    # ~400 µs CPU) with a threshold of 20,000. Nothing here forms reference cycles that need
    # prompt collection, so automatic collection is off for the duration and _ingest collects
    # the young generations after each flush, when that flush's stories are gone.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _ingest(
    service: NewsService,
    paths: Iterable[Path],
    *,
    on_file: Callable[[Path], None] | None,
    on_files_found: Callable[[int], None] | None,
    workers: int | None,
) -> IngestReport:
    files, errors = expand_paths(paths)
    report = IngestReport(errors=list(errors), files=len(files))
    if on_files_found is not None:
        on_files_found(len(files))
    pending: list[TaggedLoad] = []
    pipeline = service.pipeline()
    waiting: deque[TaggedLoad] = deque()  # stored or being stored, not yet in the report
    try:
        async with aclosing(_read(files, service, pipeline, workers)) as reading:
            i = 0
            async for path, items in reading:
                i += 1
                for item in items:
                    if isinstance(item, LoadError):
                        report.errors.append(item)
                    else:
                        pending.append(item)
                if on_file is not None:
                    on_file(path)
                if i % FILES_PER_FLUSH == 0 or len(pending) >= STORIES_PER_FLUSH:
                    await pipeline.add_tagged([item.tagged for item in pending])
                    waiting.extend(pending)
                    pending = []
                    _report(pipeline.result, waiting, report)
                    # Cycles made meanwhile, here or by other tasks; see _collections_between_flushes.
                    gc.collect(1)
        await pipeline.add_tagged([item.tagged for item in pending])
        waiting.extend(pending)
    finally:
        _report(await pipeline.drain(), waiting, report)
    return report


async def _read(
    files: list[Path], service: NewsService, pipeline: IngestPipeline, workers: int | None
) -> AsyncGenerator[tuple[Path, FileResult]]:
    """Yield each file with its tagged stories and errors, in order: from worker processes when the
    ingest is large enough to pay for them (bot/core/bulk.py), else read here."""
    count = worker_count(files, workers)
    if count:
        async for found in read_pooled(files, service.tagger, count, pipeline.make_way):
            yield found
        return
    for path in files:
        yield path, await read_here(path, service.tagger, pipeline.make_way)


def _report(result: IngestResult, waiting: deque[TaggedLoad], report: IngestReport) -> None:
    """Move the stories whose batch has been stored from `waiting` into the report, with their outcome."""
    for outcome in result.outcomes[len(report.stored) :]:
        item = waiting.popleft()
        s = item.tagged.summary
        report.stored.append(Stored(item.where, s.id, s.headline, outcome, result.unknown_tags.get(s.id, ())))
