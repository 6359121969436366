"""A digest reads and shows at most MAX_DIGEST_STORIES stories, whatever period or count is asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, open_app
from bot.core.invocation import Invocation
from bot.core.ports import StoredStory
from bot.core.service import MAX_DIGEST_STORIES
from bot.core.summary import Summary
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
STORED = MAX_DIGEST_STORIES * 3


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[App]:
    settings = Settings(database_url=database_url, taxonomy_path=ROOT / "config" / "topics.yaml")
    async with open_app(settings, clock=lambda: NOW) as application:
        stories = [
            Summary.model_validate(
                {
                    "headline": f"Story {n}",
                    "published": (NOW - timedelta(hours=n)).isoformat(),
                    "topics": [{"title": "Drones", "text": "Drone news."}],
                }
            )
            for n in range(STORED)
        ]
        await application.service.ingest(stories)
        yield application


def _count_loaded(app: App, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    loaded: list[int] = []
    real = app.service.archive.recent_stories

    async def counting(**kwargs: Any) -> Sequence[StoredStory]:
        found = await real(**kwargs)
        loaded.append(len(found))
        return found

    monkeypatch.setattr(app.service.archive, "recent_stories", counting)
    return loaded


async def test_a_digest_since_long_ago_shows_the_latest_stories_and_says_how_many_it_left_out(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = _count_loaded(app, monkeypatch)
    reply = await app.commands.run(
        Invocation("slack", "digest", "2000-01-01", workspace="T1", channel="C1", user="U1")
    )
    assert len(reply.items) == MAX_DIGEST_STORIES
    assert reply.items[0].title == "Story 0"
    assert f"showing the latest {MAX_DIGEST_STORIES}" in reply.text
    assert max(loaded) <= MAX_DIGEST_STORIES + 1


async def test_asking_for_more_stories_than_the_cap_gets_the_cap(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = _count_loaded(app, monkeypatch)
    digest = await app.service.digest(last=10**9)
    assert len(digest.entries) == MAX_DIGEST_STORIES
    assert digest.more
    assert max(loaded) <= MAX_DIGEST_STORIES + 1
    small = await app.service.digest(last=3)
    assert len(small.entries) == 3
