"""The composition root: every choice of implementation and every wire between parts is made here, once.

settings → store → service → command table (`open_app`), then for `newsbot run` the platform runners
(`build_runners`) and the delivery engine (`build_delivery`): senders, limiters and renderers chosen per
platform, the composer, worker, ticker, watch folder and HTTP API joined up. Nothing below this module
picks a platform; tests and bench/ call the same factories with fakes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.commands import CommandTable
from bot.core.loader import Loaded, LoadError
from bot.core.ports import Clock, FeedDirectory, Sender
from bot.core.service import IngestResult, NewsService
from bot.core.taxonomy import Taxonomy, load_taxonomy
from bot.core.threads import ChannelShape, ThreadApi
from bot.delivery.backoff import Backoff
from bot.delivery.compose import Composer, Render
from bot.delivery.cron import ApsCronRules
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.ratelimit import Limiter, SharedLimiter
from bot.delivery.threads import Threads
from bot.delivery.ticker import Ticker
from bot.delivery.watch import WatchFolder
from bot.delivery.worker import FaultHook, Worker
from bot.settings import DeliverySettings, FeedSettings, Settings
from bot.store.archive import SqlArchive
from bot.store.channel_settings import SqlChannelSettings
from bot.store.channels import SqlChannelStore
from bot.store.engine import create_engine
from bot.store.feeds import SqlFeedStore
from bot.store.migrate import upgrade_database, upgrade_in_child
from bot.store.outbox import AlertEnqueuer, SqlOutbox
from bot.store.thread_rows import SqlThreadRows

# The suffixes bot/sources/page.py reads; kept here so registering them imports no extractor.
PAGE_SUFFIXES = (".html", ".htm")

if TYPE_CHECKING:
    from bot.adapters.slack.installations import WorkspaceTokens
    from bot.delivery.engine import DeliveryEngine
    from bot.feeds.poller import FeedPoller, PollSettings
    from bot.feeds.service import FeedService
    from bot.preview.web import PreviewDeps
    from bot.sources.fetch import FetchSettings

# The delivery engine and the HTTP API (APScheduler's scheduler, aiohttp.web) are imported inside
# build_delivery: only `newsbot run` needs them, and every other command starts faster.

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """Return the current time in UTC (the production clock)."""
    return datetime.now(UTC)


class Runner(Protocol):
    """Something `newsbot run` keeps running until asked to stop: a platform adapter or a server."""

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down cleanly."""
        ...


@dataclass(frozen=True, slots=True)
class App:
    """Everything a command or an adapter needs, built once per process."""

    settings: Settings
    engine: AsyncEngine
    taxonomy: Taxonomy
    archive: SqlArchive
    channels: SqlChannelStore
    service: NewsService
    commands: CommandTable
    feeds: SqlFeedStore
    layouts: SqlChannelSettings


def install_file_readers() -> None:
    """Teach the loader the file types bot.sources reads (saved web pages), which bot.core cannot import."""
    from bot.core.loader import register_reader

    def read_page(raw: bytes, where: str) -> list[Loaded | LoadError]:
        # Imported at the first page read: an idle `newsbot run` need not hold the extractor's modules.
        from bot.sources.page import read_page_file

        return read_page_file(raw, where)

    register_reader(PAGE_SUFFIXES, read_page)


@asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    migrate: bool = True,
    migrate_in_child: bool = False,
) -> AsyncIterator[App]:
    """Build the app from settings (applying migrations first) and dispose of it on exit."""
    install_file_readers()
    taxonomy = load_taxonomy(settings.taxonomy_path)
    if migrate:
        # A long-running process migrates from a child so Alembic never stays in its memory.
        await (upgrade_in_child if migrate_in_child else upgrade_database)(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        archive = SqlArchive(engine, on_stored=AlertEnqueuer(on_revision=settings.delivery.alert_on_revision))
        channels = SqlChannelStore(engine)
        service = NewsService(
            archive,
            taxonomy,
            clock=clock,
            digest_title=settings.digest.title,
            max_stories=settings.digest.max_stories,
        )
        feeds = SqlFeedStore(engine)
        layouts = SqlChannelSettings(engine)
        commands = CommandTable(
            service,
            channels,
            ApsCronRules(),
            default_timezone=settings.digest.timezone,
            slack_command=settings.slack.command,
            feeds=feed_directory(feeds, settings, taxonomy, clock),
            layouts=layouts,
        )
        yield App(settings, engine, taxonomy, archive, channels, service, commands, feeds, layouts)
    finally:
        await engine.dispose()


# -- newsbot run: the platform runners ---------------------------------------------------------------------


def build_runners(application: App) -> list[Runner]:
    """Build one runner per configured platform, and the delivery engine when it is enabled."""
    settings = application.settings
    runners: list[Runner] = []
    hint: Callable[[str], ChannelShape | None] | None = None
    if settings.discord.configured:
        discord = discord_runner(application)
        # Delivery reads channel types from the gateway's cache where the runner keeps one (a replica
        # holding no shard has none, and delivery reads each guild's channel list over REST instead).
        hint = getattr(discord, "channel_shape", None)
        runners.append(discord)
    # One per process, shared by the Slack app and the sender, so both refresh a workspace's token
    # under the same lock.
    workspaces = slack_workspaces(application)
    if settings.slack.configured:
        from bot.adapters.slack.bot import SlackBot

        runners.append(SlackBot(settings.slack, application.commands, workspaces=workspaces))
    wake: Callable[[], None] | None = None
    if settings.delivery.enabled:
        delivery = build_delivery(application, channel_hint=hint, workspaces=workspaces)
        wake = delivery.worker.wake
        runners.append(delivery)
    if settings.feeds.enabled:
        from bot.feeds.runner import FeedPolling

        config = settings.feeds
        runners.append(
            FeedPolling(
                lambda: feed_poller(application, on_stored=wake),
                application.feeds,
                clock=application.service.clock,
                tick_seconds=config.tick_seconds,
                forget_after=timedelta(days=config.forget_after_days),
            )
        )
    return runners


def discord_budget_name(token: str | None) -> str:
    """Return the name of one bot token's shared budgets: replicas of one bot share them, two bots do not."""
    return "discord:" + hashlib.sha256((token or "").encode()).hexdigest()[:16]


def discord_runner(application: App) -> Runner:
    """Return the Discord runner: shards shared by replicas on PostgreSQL, else one process runs them all."""
    from bot.adapters.discord.bot import DiscordBot

    config = application.settings.discord
    engine = application.engine
    if engine.dialect.name != "postgresql":
        if config.shard_count == 1:
            return DiscordBot(config, application.commands)
        from bot.adapters.discord.shards import ShardedDiscordBot

        return ShardedDiscordBot(config, application.commands, claims=None)
    from bot.adapters.discord.shards import IDENTIFY_WINDOW_SECONDS, ShardedDiscordBot
    from bot.store.budgets import SqlRateBudget
    from bot.store.shards import SqlShardClaims, lock_namespace

    token = _secret(config.token) or ""
    name = discord_budget_name(token)

    def identify_pacer(bucket: int) -> SqlRateBudget:
        # One IDENTIFY per bucket per 5 s for the bot as a whole, whichever replica starts the shard.
        return SqlRateBudget(engine, f"{name}:identify:{bucket}", rate=1 / IDENTIFY_WINDOW_SECONDS, burst=1)

    claims = SqlShardClaims(engine, lock_namespace(token), process_owner())
    return ShardedDiscordBot(config, application.commands, claims=claims, pacers=identify_pacer)


# -- feeds -------------------------------------------------------------------------------------------------


def poll_settings(config: FeedSettings) -> PollSettings:
    """Return the poller's settings from the [feeds] section."""
    from bot.feeds.poller import PollSettings

    return PollSettings(
        interval=timedelta(minutes=config.interval_minutes),
        floor=timedelta(minutes=min(config.min_interval_minutes, config.interval_minutes)),
        ceiling=timedelta(hours=config.max_interval_hours),
        pause_after=timedelta(hours=config.pause_after_hours),
        stale_after=timedelta(days=config.stale_after_days),
        lease=timedelta(seconds=config.lease_seconds),
        concurrency=config.concurrency,
    )


def fetch_settings(config: FeedSettings) -> FetchSettings:
    """Return the fetcher's settings from the [feeds] section."""
    from bot.sources.fetch import FetchSettings

    return FetchSettings(
        connect_timeout_seconds=config.connect_timeout_seconds,
        total_timeout_seconds=config.timeout_seconds,
        read_timeout_seconds=config.read_timeout_seconds,
        max_body_bytes=int(config.max_body_mb * 1024 * 1024),
        max_connections_per_host=config.per_host,
    )


@asynccontextmanager
async def feed_poller(
    application: App,
    *,
    clock: Clock | None = None,
    owner: str | None = None,
    on_stored: Callable[[], None] | None = None,
) -> AsyncIterator[FeedPoller]:
    """Open a fetcher and return the poller over it (closed on exit)."""
    from bot.feeds.poller import FeedPoller
    from bot.sources.fetch import FeedFetcher

    config = application.settings.feeds
    async with FeedFetcher(fetch_settings(config)) as fetcher:
        yield FeedPoller(
            application.feeds,
            application.archive,
            application.service.tagger,
            fetcher,
            settings=poll_settings(config),
            clock=clock or application.service.clock,
            owner=owner or process_owner(),
            on_stored=on_stored,
        )


@asynccontextmanager
async def feed_service(application: App) -> AsyncIterator[FeedService]:
    """Open a fetcher and return the feed service over it (closed on exit): `feeds add`, `/feed add`."""
    async with _open_feed_service(
        application.feeds, application.settings, application.taxonomy, application.service.clock
    ) as service:
        yield service


@asynccontextmanager
async def _open_feed_service(
    store: SqlFeedStore, settings: Settings, taxonomy: Taxonomy, clock: Clock
) -> AsyncIterator[FeedService]:
    from bot.feeds.service import FeedService
    from bot.sources.fetch import FeedFetcher

    async with FeedFetcher(fetch_settings(settings.feeds)) as fetcher:
        yield FeedService(store, fetcher, clock=clock, topic_ids=[t.id for t in taxonomy.topics])


def feed_directory(
    store: SqlFeedStore, settings: Settings, taxonomy: Taxonomy, clock: Clock
) -> FeedDirectory:
    """Return the command table's feed directory; `/feed add` opens a fetcher only while it runs."""
    from bot.feeds.directory import SqlFeedDirectory

    return SqlFeedDirectory(store, lambda: _open_feed_service(store, settings, taxonomy, clock))


# -- newsbot run: delivery ---------------------------------------------------------------------------------


def process_owner() -> str:
    """Return an id naming this process in lease columns: host, pid and a random suffix."""
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


def slack_workspaces(application: App) -> WorkspaceTokens | None:
    """Return the Slack installations newsbot serves in many workspaces, or None with one bot token."""
    slack = application.settings.slack
    if not slack.oauth or slack.client_secret is None or slack.token_key is None:
        return None
    from bot.adapters.slack.installations import build_workspace_tokens
    from bot.adapters.slack.sender import SEND_TIMEOUT, make_client

    return build_workspace_tokens(
        application.engine,
        client_id=slack.client_id or "",
        client_secret=slack.client_secret,
        token_key=slack.token_key,
        # oauth.v2.access refreshes: never repeated silently
        client=make_client(None, slack.api_base, timeout=SEND_TIMEOUT),
        clock=application.service.clock,
    )


def build_senders(settings: Settings, workspaces: WorkspaceTokens | None = None) -> dict[str, Sender]:
    """Build the sender of every configured platform; with `workspaces`, Slack posts with each one's token."""
    senders: dict[str, Sender] = {}
    if settings.discord.configured and settings.discord.token is not None:
        from bot.adapters.discord.sender import DiscordSender

        senders["discord"] = DiscordSender(settings.discord.api_base, settings.discord.token)
    if workspaces is not None:
        from bot.adapters.slack.sender import SlackSender

        senders["slack"] = SlackSender(None, api_base=settings.slack.api_base, workspaces=workspaces)
    elif settings.slack.bot_token is not None and settings.slack.bot_token.get_secret_value():
        from bot.adapters.slack.sender import SlackSender

        senders["slack"] = SlackSender(settings.slack.bot_token, api_base=settings.slack.api_base)
    return senders


def build_limiters(
    config: DeliverySettings, *, engine: AsyncEngine | None = None, discord_token: str | None = None
) -> dict[str, Limiter]:
    """Build the proactive limiter of each platform; on PostgreSQL Discord's is shared by every replica."""
    discord_options: dict[str, Any] = {
        # A whole second's allowance may leave at once (Discord counts requests per second, not their
        # spacing); the margin keeps the next second's requests from arriving inside the first one's.
        "burst": max(1, int(config.discord_rate)),
        "margin": config.window_margin,
        "careful_slowdown": config.careful_slowdown,
        "careful_seconds": config.careful_seconds,
    }
    discord: Limiter
    if engine is not None and engine.dialect.name == "postgresql" and config.shared_discord_budget:
        from bot.store.budgets import LATE_SECONDS, SqlChannelBuckets, SqlRateBudget

        name = discord_budget_name(discord_token)
        # Replicas' requests reach Discord with independent delays, so the shared bucket spaces them
        # evenly (a burst of one) at a rate that leaves the window margin free: a one-second burst
        # plus a second's refill let 100 through in a second, and three replicas met 5 % 429s that way
        # (tests/delivery/test_replicas.py, the fake counting arrivals as Discord does).
        # A reservation woken late by up to the margin is still sent: spaced at the rate less the margin,
        # requests sent that late still fit Discord's one-second windows.
        budget = SqlRateBudget(
            engine,
            name,
            rate=config.discord_rate / (1 + config.window_margin),
            burst=1,
            late_seconds=max(LATE_SECONDS, config.window_margin),
            careful_slowdown=config.careful_slowdown,
            careful_seconds=config.careful_seconds,
        )
        buckets = SqlChannelBuckets(engine, name)
        discord = SharedLimiter(budget, config.discord_rate, buckets=buckets, **discord_options)
    else:
        discord = Limiter(config.discord_rate, **discord_options)
    return {
        "discord": discord,
        "slack": Limiter(
            config.slack_rate, per_key_rate=config.slack_channel_rate, margin=config.window_margin
        ),
    }


def thread_apis(
    senders: Mapping[str, Sender],
    settings: Settings,
    limiters: Mapping[str, Limiter],
    hint: Callable[[str], ChannelShape | None] | None = None,
) -> dict[str, ThreadApi]:
    """Return the thread requests of each platform whose sender is the real one (a test's fake posts flat)."""
    apis: dict[str, ThreadApi] = {}
    discord, slack = senders.get("discord"), senders.get("slack")
    if discord is not None:
        from bot.adapters.discord.sender import DiscordSender
        from bot.adapters.discord.threads import DiscordThreads

        if isinstance(discord, DiscordSender):
            limiter = limiters.get("discord")
            apis["discord"] = DiscordThreads(
                discord,
                archive_minutes=settings.discord.thread_archive_minutes,
                pace=limiter.acquire if limiter is not None else None,
                hint=hint,
            )
    if slack is not None:
        from bot.adapters.slack.sender import SlackSender
        from bot.adapters.slack.threads import SlackThreads

        if isinstance(slack, SlackSender):
            apis["slack"] = SlackThreads(slack)
    return apis


def digest_renderers() -> dict[str, Render]:
    """Return the reply renderer of each platform newsbot posts to (digests and alerts are laid out in core)."""
    from bot.adapters.discord.render import render_reply as discord_render
    from bot.adapters.slack.render import render_reply as slack_render

    return {"discord": discord_render, "slack": slack_render}


def count_and_wake(metrics: DeliveryMetrics, wake: Callable[[], None]) -> Callable[[IngestResult], None]:
    """Return the ingest listener of `newsbot run`: count each outcome, and post owed alerts now."""

    def after_ingest(result: IngestResult) -> None:
        for outcome in result.outcomes:
            metrics.ingested.labels(outcome=outcome).inc()
        if result.changed:
            wake()

    return after_ingest


def build_delivery(
    application: App,
    *,
    clock: Clock | None = None,
    senders: Mapping[str, Sender] | None = None,
    limiters: Mapping[str, Limiter] | None = None,
    renderers: Mapping[str, Render] | None = None,
    backoff: Backoff | None = None,
    faults: FaultHook | None = None,
    owner: str | None = None,
    metrics: DeliveryMetrics | None = None,
    serve_http: bool | None = None,
    threads: Mapping[str, ThreadApi] | None = None,
    channel_hint: Callable[[str], ChannelShape | None] | None = None,
    workspaces: WorkspaceTokens | None = None,
) -> DeliveryEngine:
    """Wire the delivery engine from the app's settings; each keyword replaces one part (tests, bench/)."""
    from bot.api.server import ApiServer, IngestApi
    from bot.delivery.engine import DeliveryEngine, Served

    settings = application.settings
    config = settings.delivery
    clock = clock or application.service.clock
    metrics = metrics or DeliveryMetrics()
    outbox = SqlOutbox(application.engine)
    if senders is None and workspaces is None:
        workspaces = slack_workspaces(application)
    chosen = dict(senders) if senders is not None else build_senders(settings, workspaces)
    owner = owner or process_owner()
    chosen_limiters = (
        limiters
        if limiters is not None
        else build_limiters(config, engine=application.engine, discord_token=_secret(settings.discord.token))
    )
    apis = (
        dict(threads) if threads is not None else thread_apis(chosen, settings, chosen_limiters, channel_hint)
    )
    composer = Composer(
        application.archive,
        application.channels,
        application.taxonomy.labels(),
        renderers if renderers is not None else digest_renderers(),
        layouts=application.layouts,
        title=settings.digest.title,
        max_stories=settings.digest.max_stories,
        post_when_empty=settings.digest.post_when_empty,
    )
    worker = Worker(
        outbox,
        chosen,
        composer,
        clock=clock,
        owner=owner,
        lease_for=timedelta(seconds=config.lease_seconds),
        concurrency=config.concurrency,
        poll_seconds=config.poll_seconds,
        backoff=backoff
        or Backoff(config.backoff_base_seconds, config.backoff_cap_seconds, config.max_attempts),
        limiters=chosen_limiters,
        metrics=metrics,
        faults=faults,
        threads=Threads(
            apis,
            SqlThreadRows(application.engine),
            clock=clock,
            owner=owner,
            labels=composer.labels,
            default_name=settings.digest.title,
            faults=faults,
        ),
    )
    ticker = Ticker(
        application.channels,
        outbox,
        clock=clock,
        platforms=chosen,
        grace=timedelta(hours=config.grace_hours),
        metrics=metrics,
        on_queued=worker.wake,
    )
    ticker.checks.append(worker.trouble)
    application.service.listeners.append(count_and_wake(metrics, worker.wake))
    watch = WatchFolder(config.watch_folder, application.service) if config.watch_folder is not None else None
    served: list[Served] = []
    if config.serve_http if serve_http is None else serve_http:
        from bot.preview import preview_routes

        pages = preview_routes(app_preview_deps(application))  # /preview and /status beside the API
        api = IngestApi(
            application.service, settings.api, metrics=metrics, health=ticker.health, routes=pages
        )
        served.append(ApiServer(api, settings.api.host, settings.api.port))
    # Senders the engine built hold HTTP sessions it must close; ones handed in belong to the caller.
    closers: list[Callable[[], Awaitable[None]]] = []
    if senders is None:
        closers = [close for s in chosen.values() if (close := getattr(s, "close", None)) is not None]
    if threads is None:  # the thread requests' sessions are this engine's own, whoever made the senders
        closers += [close for a in apis.values() if (close := getattr(a, "close", None)) is not None]
    if limiters is None:
        closers += [limiter.close for limiter in chosen_limiters.values()]
    return DeliveryEngine(
        ticker, worker, tick_seconds=config.tick_seconds, watch=watch, served=served, on_close=closers
    )


def app_preview_deps(application: App) -> PreviewDeps:
    """Return the preview and status pages' dependencies over a built app."""
    from bot.preview.sources import AppPreview, SqlStatus
    from bot.preview.web import PreviewDeps

    clock = application.service.clock
    return PreviewDeps(
        preview=AppPreview(application.service, application.commands),
        status=SqlStatus(application.engine, application.taxonomy.labels(), clock),
        token=application.settings.api.token,
        clock=clock,
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
