"""A real app over a SQLite archive holding the worked example and a dead delivery, serving the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.app import App, app_preview_deps, open_app
from bot.core.loader import Loaded, load_file
from bot.core.ports import ChannelKey
from bot.core.summary import Summary
from bot.preview.serve import preview_application
from bot.settings import ApiSettings, Settings
from bot.store.outbox import SqlOutbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "us-taiwan-dialogue.yaml"
TOKEN = "preview-test-token"
NOW = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
DEAD_REASON = "403 Forbidden: Missing Access (50001) — the bot cannot post in this channel"
ALERTED = ChannelKey("discord", "guild-1", "news-alerts")
SCHEDULED = ChannelKey("slack", "T0001", "C0MORNING")


@dataclass
class Served:
    """The pages on a loopback port, and the app and delivery behind them."""

    base: str
    app: App
    dead_id: int


def example_summary() -> Summary:
    loaded = [i for i in load_file(EXAMPLE) if isinstance(i, Loaded)]
    return loaded[0].summary


async def seed(application: App, extra: list[Summary] | None = None) -> int:
    """Store a subscription, a schedule, the example (and `extra`) and make its alert a dead delivery."""
    await application.channels.subscribe(ALERTED, "drones", user="u1", now=NOW)
    await application.channels.set_schedule(
        SCHEDULED,
        cron="0 8 * * *",
        timezone="Europe/Berlin",
        user="u2",
        now=NOW,
        next_fire_at=datetime(2026, 12, 2, 7, 0, tzinfo=UTC),
    )
    await application.service.ingest([example_summary(), *(extra or [])])
    outbox = SqlOutbox(application.engine)
    leased = await outbox.lease(NOW, "seed", platforms=["discord"], limit=1, lease_for=timedelta(minutes=1))
    assert [d.summary_id for d in leased] == [example_summary().id], "the example's alert comes first"
    await outbox.mark_dead(leased[0], "seed", DEAD_REASON, NOW)
    return leased[0].id


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """Serve the pages of a real app whose archive holds the worked example and one dead delivery."""
    async for s in serve(tmp_path):
        yield s


async def serve(
    tmp_path: Path, extra: list[Summary] | None = None, *, token: str | None = TOKEN
) -> AsyncIterator[Served]:
    """Serve the pages over a fresh archive seeded by `seed`, with `token` as the API token."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'newsbot.db'}",
        taxonomy_path=ROOT / "config" / "topics.yaml",
        api=ApiSettings(token=SecretStr(token) if token else None),
    )
    async with open_app(settings, clock=lambda: NOW) as application:
        dead = await seed(application, extra)
        runner = web.AppRunner(preview_application(app_preview_deps(application)), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield Served(f"http://127.0.0.1:{port}", application, dead)
        finally:
            await runner.cleanup()
