"""Reading and tagging the files of a large ingest in worker processes, while this process stores.

A bulk ingest ran at the pace of its event loop's thread, which shares the GIL with SQLite's
thread: per story, reading and validating took 35 µs and tagging 120 µs of that thread's ~270 µs
(py-spy, 20,000 bench stories). A worker process does both and sends the tagged story back
pickled, which costs this process 25 µs to take in. Files are handed out in order and their
results taken in order, so a report lists files as a serial run does and a later copy of a story
still wins. Small ingests stay in this process: starting a worker (a fresh interpreter importing
pydantic) costs more than reading a few thousand stories.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.core.loader import Loaded, LoadError, iter_file
from bot.core.ports import TaggedSummary
from bot.core.tagging import Tagger
from bot.core.taxonomy import Taxonomy

log = logging.getLogger(__name__)

# Below this many bytes of files an ingest is read here: a worker takes about half a second to
# start, in which this process reads some 4 MB of JSON Lines itself.
POOL_MIN_BYTES = 8_000_000
# Files are handed to a worker in groups of about this many bytes: one pickled reply per group
# instead of one per small file. A larger file is one task: cut into spans of lines, with as many
# stories queued ahead, the bench ran slower (2,000-2,430 stories/s against 2,530-2,760 whole),
# its workers idle while this process stored in bursts.
TASK_BYTES = 4_000_000
MAX_WORKERS = 2  # the event loop's thread, not the workers, sets the pace past two
# Suffixes whose readers live in bot.core and so exist in a fresh worker; a reader the composition
# root registered (web pages) exists only in this process, so such files are read here.
POOLED_SUFFIXES = frozenset({".json", ".jsonl", ".yaml", ".yml", ".txt", ".md", ".markdown"})


@dataclass(frozen=True, slots=True)
class TaggedLoad:
    """A story read from `where` and tagged."""

    where: str
    tagged: TaggedSummary


FileResult = list[TaggedLoad | LoadError]
# Awaited between stories read here, so a batch being stored can send its next statement.
MakeWay = Callable[[int], Awaitable[None]]

# The one tagger of a worker process, built by its initializer: a process pool passes nothing else
# to its workers once, and building a Tagger per task would cost more than some tasks' work.
_worker_tagger: Tagger | None = None


def _start_worker(taxonomy: Taxonomy) -> None:
    global _worker_tagger  # see _worker_tagger
    _worker_tagger = Tagger(taxonomy)
    # As in the parent's ingest (bot/core/ingest.py): the stories read are live until returned,
    # so the allocation-driven collector would only walk them; each task collects once at its end.
    gc.disable()


def _read_and_tag(paths: Sequence[Path]) -> list[FileResult]:
    """In a worker: read and tag each of `paths`."""
    if _worker_tagger is None:
        raise RuntimeError("the ingest worker was started without a taxonomy")
    try:
        return [read_file(path, _worker_tagger) for path in paths]
    finally:
        gc.collect(1)


def _tagged(item: Loaded | LoadError, tagger: Tagger) -> TaggedLoad | LoadError:
    return item if isinstance(item, LoadError) else TaggedLoad(item.where, tagger.tag_summary(item.summary))


def read_file(path: Path, tagger: Tagger) -> FileResult:
    """Read and tag one file: its stories and errors, in file order."""
    return [_tagged(item, tagger) for item in iter_file(path)]


async def read_here(path: Path, tagger: Tagger, make_way: MakeWay) -> FileResult:
    """Read and tag one file in this process, making way for the store every few stories."""
    out: FileResult = []
    for item in iter_file(path):
        out.append(_tagged(item, tagger))
        await make_way(len(out))
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the reader names the problem


def worker_count(files: Sequence[Path], requested: int | None) -> int:
    """Return how many worker processes an ingest of `files` gets (0: read here).

    `requested` None decides by size and cores: one or two workers when the pooled files come to
    POOL_MIN_BYTES and another core is free.
    """
    if requested is not None:
        return max(0, requested)
    cores = os.cpu_count() or 1
    pooled = sum(_size(p) for p in files if p.suffix.lower() in POOLED_SUFFIXES)
    if cores < 2 or pooled < POOL_MIN_BYTES:
        return 0
    return min(MAX_WORKERS, cores - 1)


def _tasks(files: Sequence[Path]) -> list[tuple[bool, list[Path]]]:
    """Group `files`, in order, into (pooled?, files) runs of about TASK_BYTES each."""
    tasks: list[tuple[bool, list[Path]]] = []
    size = 0
    for path in files:
        pooled = path.suffix.lower() in POOLED_SUFFIXES
        here = _size(path)
        if tasks and tasks[-1][0] == pooled and (not pooled or size + here <= TASK_BYTES):
            tasks[-1][1].append(path)
            size += here
        else:
            tasks.append((pooled, [path]))
            size = here
    return tasks


async def read_pooled(
    files: Sequence[Path], tagger: Tagger, workers: int, make_way: MakeWay
) -> AsyncGenerator[tuple[Path, FileResult]]:
    """Yield each of `files` with its stories and errors, in order, read by `workers` processes.

    If no pool can be built (no POSIX semaphores) or it breaks (a worker killed, a process that could
    not start), the files not yet taken in are read here instead, so nothing is skipped; a file that
    cannot be read fails here as it would have in a serial run.
    """
    pool: ProcessPoolExecutor | None
    try:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            # A fresh interpreter: forking would copy this process's threads' locks in whatever state
            # they are (SQLite's connection thread is running beside the ingest).
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(tagger.taxonomy,),
        )
    except (OSError, NotImplementedError) as error:  # no semaphores (a container without /dev/shm)
        log.warning("cannot start ingest workers (%s); reading every file in this process", error)
        pool = None
    tasks = _tasks(files)
    ahead: deque[Future[list[FileResult]] | None] = deque()  # the next tasks', aligned with `tasks`
    try:
        for i, (_, paths) in enumerate(tasks):
            results: list[FileResult] | None = None
            if pool is not None:
                try:
                    # Keep each worker a task ahead of the one being taken in.
                    while len(ahead) < min(len(tasks) - i, 2 * workers):
                        later_pooled, later_paths = tasks[i + len(ahead)]
                        ahead.append(pool.submit(_read_and_tag, later_paths) if later_pooled else None)
                    future = ahead.popleft()
                    if future is not None:
                        results = await asyncio.wrap_future(future)
                except Exception as error:  # any failure of the pool: the rest is read here
                    log.warning(
                        "ingest worker failed (%s); reading the remaining files in this process", error
                    )
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool, ahead = None, deque()
            if results is None:
                results = [await read_here(path, tagger, make_way) for path in paths]
            for path, result in zip(paths, results, strict=True):
                yield path, result
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
