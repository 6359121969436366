"""The composition root: settings → store → service → command table → adapters, built in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.commands import CommandTable
from bot.core.service import NewsService
from bot.core.taxonomy import Taxonomy, load_taxonomy
from bot.delivery.cron import ApsCronRules
from bot.settings import Settings
from bot.sources.page import register_page_reader
from bot.store.archive import SqlArchive
from bot.store.channels import SqlChannelStore
from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database, upgrade_in_child
from bot.store.outbox import AlertEnqueuer

# Saved web pages are read through bot.sources, which bot.core must not import (bot/core/loader.py).
register_page_reader()

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


@asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = True,
    migrate_in_child: bool = False,
) -> AsyncIterator[App]:
    """Build the app from settings (applying migrations first) and dispose of it on exit."""
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
        commands = CommandTable(
            service,
            channels,
            ApsCronRules(),
            default_timezone=settings.digest.timezone,
            slack_command=settings.slack.command,
        )
        yield App(settings, engine, taxonomy, archive, channels, service, commands)
    finally:
        await engine.dispose()
