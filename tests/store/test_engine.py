"""Opening databases: URL forms, folders, and one-line errors that never show a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.archive import SqlArchive
from bot.store.engine import (
    SQLITE_WAL_CHECKPOINT_PAGES,
    StoreError,
    create_engine,
    normalize_url,
    redact_text,
    redact_url,
)
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


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bot:s3cr/et@h:5432/db", "postgresql://bot:***@h:5432/db"),
        (
            "postgresql://bot@h/db?password=s3cr3t&sslmode=require",
            "postgresql://bot@h/db?password=***&sslmode=require",
        ),
        ("postgresql://bot@h/db?sslpassword=s3cr3t", "postgresql://bot@h/db?sslpassword=***"),
        ("postgresql://bot:s3cr%40t@h/db", "postgresql://bot:***@h/db"),
        ("postgresql://bot:s3@cr3t@h/db", "postgresql://bot:***@h/db"),
        ("s3cr3t", "<unreadable database URL>"),
    ],
)
def test_every_form_of_database_password_is_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_url_quoted_inside_a_driver_error_loses_its_password() -> None:
    text = redact_text("connect failed for postgresql://bot@h/db?password=s3cr3t (refused)")
    assert "s3cr3t" not in text
    assert "postgresql://bot@h/db?password=***" in text


def test_libpq_sslmode_is_refused_with_asyncpgs_spelling() -> None:
    with pytest.raises(StoreError, match=r"\?ssl=require"):
        normalize_url("postgresql://bot@h/db?sslmode=require")


def test_an_unencoded_at_sign_in_the_password_is_refused_without_showing_it() -> None:
    with pytest.raises(StoreError, match="%40") as caught:
        normalize_url("postgresql://bot:s3@cr3t@h/db")
    assert "cr3t" not in str(caught.value)


async def test_sqlite_folder_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'news.db'}"
    await upgrade_database(url)
    engine = create_engine(url)
    try:
        assert await SqlArchive(engine).count_stories() == 0
    finally:
        await engine.dispose()
    assert (tmp_path / "deep" / "er" / "news.db").is_file()


async def test_sqlite_commits_go_to_the_write_ahead_log_and_are_checkpointed_in_large_steps(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'news.db'}")
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "synchronous", "wal_autocheckpoint")
            }
    finally:
        await engine.dispose()
    # synchronous 1 is NORMAL: see the note in bot/store/engine.py on what the outbox needs.
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "wal_autocheckpoint": SQLITE_WAL_CHECKPOINT_PAGES,
    }
    assert SQLITE_WAL_CHECKPOINT_PAGES > 1_000  # SQLite's default, which fsynced every ~1,500 bench stories


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
