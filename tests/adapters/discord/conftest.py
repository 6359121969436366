"""Fixtures: the loopback Discord, a real App on a temp SQLite file with the worked example, and a running bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.discord.bot import DiscordBot
from bot.app import App, open_app
from bot.core.loader import Loaded, load_file
from bot.core.summary import Summary
from bot.settings import DiscordSettings, Settings
from tests.fakes.discord import GUILD_ID, TOKEN, FakeDiscord

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "us-taiwan-dialogue.yaml"
EXAMPLE_TEXT = ROOT.parent / "shared" / "examples" / "us-taiwan-dialogue.txt"


def example_summary() -> Summary:
    """Return the worked example (the YAML in the repository, else the shared article text)."""
    path = EXAMPLE if EXAMPLE.is_file() else EXAMPLE_TEXT
    if not path.is_file():
        pytest.skip(f"{path} not found")
    loaded = [i for i in load_file(path) if isinstance(i, Loaded)]
    assert loaded, f"{path} did not load"
    return loaded[0].summary


def discord_settings(fake: FakeDiscord, **overrides: Any) -> DiscordSettings:
    """Return Discord settings pointing at the fake."""
    values: dict[str, Any] = {
        "token": TOKEN,
        "api_base": fake.api_base,
        "gateway_url": fake.gateway_url,
        "guild_ids": [GUILD_ID],
    }
    values.update(overrides)
    return DiscordSettings(**values)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def app(tmp_path: Path, fake: FakeDiscord) -> AsyncIterator[App]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'newsbot.db'}",
        taxonomy_path=ROOT / "config" / "topics.yaml",
        discord=discord_settings(fake),
    )
    async with open_app(settings) as application:
        await application.service.ingest([example_summary()])
        yield application


async def ingest_copies(app: App, count: int) -> None:
    """Store `count` more copies of the example under other ids and dates, so topic answers span pages."""
    base = example_summary()
    published = base.published
    assert published is not None
    copies = [
        base.model_copy(update={"id": f"{base.id}-copy-{i}", "published": published - timedelta(days=i + 1)})
        for i in range(count)
    ]
    await app.service.ingest(copies)


@dataclass
class Running:
    """A DiscordBot connected to the fake, with its App."""

    bot: DiscordBot
    fake: FakeDiscord
    app: App
    stop: asyncio.Event
    task: asyncio.Task[None]


RunBot = Callable[..., AbstractAsyncContextManager[Running]]


@pytest.fixture
def run_bot(fake: FakeDiscord, app: App) -> RunBot:
    """Return a context manager that runs a DiscordBot against the fake until the block ends."""

    @asynccontextmanager
    async def runner(*, settings: DiscordSettings | None = None, **kwargs: Any) -> AsyncIterator[Running]:
        kwargs.setdefault("guild_ready_timeout", 0.05)
        bot = DiscordBot(settings or discord_settings(fake), app.commands, **kwargs)
        stop = asyncio.Event()
        task = asyncio.create_task(bot.run(stop))
        ready = asyncio.create_task(bot.ready.wait())
        await asyncio.wait({task, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()  # raises the bot's error
        assert bot.ready.is_set(), "the bot did not reach READY"
        try:
            yield Running(bot, fake, app, stop, task)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    return runner


@pytest.fixture
async def running(run_bot: RunBot) -> AsyncIterator[Running]:
    async with run_bot() as r:
        yield r
