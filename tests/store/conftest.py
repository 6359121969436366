"""Store fixtures: a migrated database on each backend, its engine, archive and channel store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.ports import TaggedSummary
from bot.core.summary import Summary
from bot.store.archive import SqlArchive
from bot.store.channels import SqlChannelStore
from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_database(database_url)
    eng = create_engine(database_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def archive(engine: AsyncEngine) -> SqlArchive:
    return SqlArchive(engine)


@pytest.fixture
def channels(engine: AsyncEngine) -> SqlChannelStore:
    return SqlChannelStore(engine)


def story(
    n: int,
    *,
    sections: Sequence[tuple[str, str, Sequence[str]]] = (),
    published: datetime | None = None,
    undated: bool = False,
    headline: str | None = None,
    story_topics: Sequence[str] = (),
    unknown: Sequence[str] = (),
    **extra: Any,
) -> TaggedSummary:
    """Build a tagged story; `sections` are (title, text, topics); published defaults to T0 + n hours."""
    when = None if undated else published or T0 + timedelta(hours=n)
    doc: dict[str, Any] = {
        "headline": headline or f"Story number {n}",
        "source": {"name": "Wire", "url": f"https://example.com/story/{n}"},
        "topics": [{"title": title, "text": text} for title, text, _ in sections],
        **extra,
    }
    if when is not None:
        doc["published"] = when.isoformat()
    summary = Summary.model_validate(doc)
    section_topics = tuple(tuple(topics) for _, _, topics in sections)
    union = tuple(dict.fromkeys([*(t for ts in section_topics for t in ts), *story_topics]))
    return TaggedSummary(summary, section_topics, union, tuple(unknown))
