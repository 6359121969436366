"""Opening databases: URL forms, folders, and one-line errors that never show a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.archive import SqlArchive
from bot.store.engine import StoreError, create_engine, normalize_url, redact_url
from bot.store.migrate import upgrade_database


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/newsbot.db", "sqlite+aiosqlite:///var/newsbot.db"),
        ("sqlite:////abs/path/n.db", "sqlite+aiosqlite:////abs/path/n.db"),
        ("sqlite+aiosqlite:///n.db", "sqlite+aiosqlite:///n.db"),
        ("postgresql://bot:pw@db.internal:5432/news", "postgresql+asyncpg://bot:pw@db.internal:5432/news"),
        ("postgres://bot@db/news", "postgresql+asyncpg://bot@db/news"),
        ("postgresql+asyncpg://bot@db/news", "postgresql+asyncpg://bot@db/news"),
        ("  POSTGRESQL://bot@db/news ", "postgresql+asyncpg://bot@db/news"),
    ],
)
def test_normalize_url_picks_the_async_driver(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:s3cr3t-pw@db/news",
        "postgresql+psycopg2://root:s3cr3t-pw@db/news",
        "s3cr3t-pw",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://root:s3cr3t-pw@db",
        "",
    ],
)
def test_unusable_urls_are_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        normalize_url(url)
    message = str(caught.value)
    assert "s3cr3t-pw" not in message
    assert "\n" not in message
    assert "sqlite:///" in message  # says what a good URL looks like


def test_redact_url_masks_only_the_password() -> None:
    assert redact_url("postgresql://bot:pw@h:5432/db") == "postgresql://bot:***@h:5432/db"
    assert redact_url("postgresql://bot@h/db") == "postgresql://bot@h/db"


async def test_sqlite_folder_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'news.db'}"
    await upgrade_database(url)
    engine = create_engine(url)
    try:
        assert await SqlArchive(engine).count_stories() == 0
    finally:
        await engine.dispose()
    assert (tmp_path / "deep" / "er" / "news.db").is_file()


async def test_unreachable_server_is_a_one_line_store_error() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(StoreError) as caught:
        await upgrade_database("postgresql://bot:hunter2-pw@127.0.0.1:1/news")
    message = str(caught.value)
    assert "cannot connect" in message
    assert "hunter2-pw" not in message
    assert "\n" not in message


async def test_missing_tables_say_how_to_fix_it(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    try:
        with pytest.raises(StoreError, match="newsbot db upgrade"):
            await SqlArchive(engine).count_stories()
    finally:
        await engine.dispose()
