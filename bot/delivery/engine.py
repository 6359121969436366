"""The delivery loop `newsbot run` keeps going: the tick and the watch-folder scan on a timer, the sender loop
in between, and whatever is served beside them (the ingest API) started and stopped with it.

It only runs parts it is handed; `bot/app.py` chooses and wires them, so this module knows no platform.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.delivery.outage import OutageLog
from bot.delivery.ticker import Ticker
from bot.delivery.watch import WatchFolder
from bot.delivery.worker import Worker

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


class Served(Protocol):
    """Something started before the loop and stopped after it (the HTTP server)."""

    async def start(self) -> None:
        """Start serving."""
        ...

    async def stop(self) -> None:
        """Stop serving and finish open requests."""
        ...


class DeliveryEngine:
    """Post scheduled digests and topic alerts exactly once per slot and story, alongside the chat adapters."""

    def __init__(
        self,
        ticker: Ticker,
        worker: Worker,
        *,
        tick_seconds: float,
        watch: WatchFolder | None = None,
        served: Sequence[Served] = (),
        on_close: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self.ticker = ticker
        self.worker = worker
        self.tick_seconds = tick_seconds
        self.watch = watch
        self.served = list(served)
        self.on_close = list(on_close)
        self._jobs: set[asyncio.Task[Any]] = set()  # scheduler jobs in flight, awaited at shutdown
        self._tick_outage = OutageLog("delivery tick", log)
        self._scan_outage = OutageLog("watch folder scan", log)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)

    async def _tick(self) -> None:
        self._track()
        try:
            await self.ticker.tick()
        except Exception as error:
            self._tick_outage.failed(error)
        else:
            self._tick_outage.succeeded()

    async def _scan(self) -> None:
        if self.watch is None:
            return
        self._track()
        try:
            await self.watch.scan()
        except Exception as error:
            self._scan_outage.failed(error)
        else:
            self._scan_outage.succeeded()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set."""
        if not self.worker.senders:
            log.warning("delivery: no platform sender configured; digests and alerts wait in the outbox")
        scheduler = AsyncIOScheduler(timezone=UTC)
        # In-process ticks only: user schedules live in the database, never in APScheduler's job store.
        jobs = {"delivery-tick": self._tick}
        if self.watch is not None:
            jobs["watch-folder"] = self._scan
        for job_id, job in jobs.items():
            scheduler.add_job(
                job,
                "interval",
                seconds=self.tick_seconds,
                next_run_time=datetime.now(UTC),
                max_instances=1,
                coalesce=True,
                id=job_id,
            )
        started: list[Served] = []
        try:
            for served in self.served:
                await served.start()
                started.append(served)
            scheduler.start()
            await self.worker.run(stop)
        finally:
            if scheduler.running:
                # Pause, let a tick that is writing finish its transaction, then shut down: APScheduler's
                # shutdown cancels jobs in flight, which would roll the tick back and log a traceback.
                scheduler.pause()
                if self._jobs:
                    await asyncio.wait(set(self._jobs), timeout=SHUTDOWN_GRACE_SECONDS)
                scheduler.shutdown(wait=False)
            for served in reversed(started):
                await served.stop()
            for close in self.on_close:
                await close()
