"""The delivery engine `newsbot run` starts: the tick, the sender loop, the ingest API and the watch folder."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.ports import Sender
from bot.delivery.backoff import Backoff
from bot.delivery.compose import Composer
from bot.delivery.config import DeliverySettings
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.ratelimit import Limiter
from bot.delivery.ticker import Ticker
from bot.delivery.watch import WatchFolder
from bot.delivery.worker import FaultHook, Worker
from bot.settings import Settings
from bot.store.outbox import SqlOutbox

if TYPE_CHECKING:
    from bot.api.server import ApiServer
    from bot.app import App

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def process_owner() -> str:
    """Return an id naming this process in lease columns: host, pid and a random suffix."""
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


def build_senders(settings: Settings) -> dict[str, Sender]:
    """Build the sender of every configured platform."""
    senders: dict[str, Sender] = {}
    if settings.discord.configured and settings.discord.token is not None:
        from bot.adapters.discord.sender import DiscordSender

        senders["discord"] = DiscordSender(settings.discord.api_base, settings.discord.token)
    if settings.slack.bot_token is not None and settings.slack.bot_token.get_secret_value():
        from bot.adapters.slack.sender import SlackSender

        senders["slack"] = SlackSender(settings.slack.bot_token, api_base=settings.slack.api_base)
    return senders


def build_limiters(config: DeliverySettings) -> dict[str, Limiter]:
    """Build the proactive limiter of each platform from the delivery settings."""
    return {
        # A whole second's allowance may leave at once (Discord counts requests per second, not their
        # spacing); the margin keeps the next second's requests from arriving inside the first one's.
        "discord": Limiter(
            config.discord_rate,
            burst=max(1, int(config.discord_rate)),
            margin=config.window_margin,
        ),
        "slack": Limiter(
            config.slack_rate, per_key_rate=config.slack_channel_rate, margin=config.window_margin
        ),
    }


SHUTDOWN_GRACE_SECONDS = 5.0


class DeliveryEngine:
    """Post scheduled digests and topic alerts exactly once per slot and story, alongside the chat adapters."""

    def __init__(
        self,
        app: App,
        config: DeliverySettings,
        *,
        clock: Clock | None = None,
        senders: Mapping[str, Sender] | None = None,
        limiters: Mapping[str, Limiter] | None = None,
        faults: FaultHook | None = None,
        owner: str | None = None,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.clock = clock or app.service.clock
        self.metrics = metrics or DeliveryMetrics()
        self.outbox = SqlOutbox(app.engine)
        self.senders = dict(senders) if senders is not None else build_senders(app.settings)
        self._own_senders = senders is None
        digest = app.settings.digest
        self.composer = Composer(
            self.outbox,
            app.taxonomy.labels(),
            title=digest.title,
            max_stories=digest.max_stories,
            post_when_empty=digest.post_when_empty,
        )
        self.worker = Worker(
            self.outbox,
            self.senders,
            self.composer,
            clock=self.clock,
            owner=owner or process_owner(),
            lease_for=timedelta(seconds=config.lease_seconds),
            concurrency=config.concurrency,
            poll_seconds=config.poll_seconds,
            backoff=Backoff(config.backoff_base_seconds, config.backoff_cap_seconds, config.max_attempts),
            limiters=limiters if limiters is not None else build_limiters(config),
            metrics=self.metrics,
            faults=faults,
        )
        self.ticker = Ticker(
            self.outbox,
            clock=self.clock,
            platforms=self.senders,
            grace=timedelta(hours=config.grace_hours),
            metrics=self.metrics,
            on_queued=self.worker.wake,
        )
        self.watch = (
            WatchFolder(config.watch_folder, app.service, metrics=self.metrics, on_ingested=self.worker.wake)
            if config.watch_folder is not None
            else None
        )
        self.server: ApiServer | None = None
        self.last_tick: datetime | None = None
        self._jobs: set[asyncio.Task[Any]] = set()  # scheduler jobs in flight, awaited at shutdown

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)

    async def _tick(self) -> None:
        self._track()
        try:
            await self.ticker.tick()
            self.last_tick = self.clock()
        except Exception:
            log.exception("delivery tick failed; the next one retries")

    async def _scan(self) -> None:
        if self.watch is None:
            return
        self._track()
        try:
            await self.watch.scan()
        except Exception:
            log.exception("watch folder scan failed; the next one retries")

    async def health(self) -> dict[str, Any]:
        """Return what /healthz reports: the outbox by status and the last tick (raises when the database is down)."""
        return {
            "platforms": sorted(self.senders),
            "outbox": await self.outbox.counts(),
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set."""
        if not self.senders:
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
                seconds=self.config.tick_seconds,
                next_run_time=datetime.now(UTC),
                max_instances=1,
                coalesce=True,
                id=job_id,
            )
        try:
            if self.config.serve_http:
                await self._serve()
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
            if self.server is not None:
                await self.server.stop()
            if self._own_senders:
                for sender in self.senders.values():
                    close = getattr(sender, "close", None)
                    if close is not None:
                        await close()

    async def _serve(self) -> None:
        from bot.api.server import ApiServer, IngestApi
        from bot.preview import preview_routes
        from bot.preview.serve import app_preview_deps

        api = self.app.settings.api
        handlers = IngestApi(
            self.app.service,
            api,
            metrics=self.metrics,
            health=self.health,
            on_ingested=self.worker.wake,
            routes=preview_routes(app_preview_deps(self.app)),
        )
        self.server = ApiServer(handlers, api.host, api.port)
        await self.server.start()
        log.info(
            "ingest API, /healthz, /metrics, /preview and /status on http://%s:%s", api.host, self.server.port
        )
