"""The watch folder, the SQLite process lock and `newsbot deliveries`."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DataError
from typer.testing import CliRunner

from bot.cli.deliveries import deliveries_app
from bot.core.ingest import ingest_paths
from bot.core.ports import ChannelKey, Failed, PutOutcome
from bot.delivery.lock import AlreadyRunning, hold_database
from bot.delivery.watch import WatchFolder
from bot.store.engine import StoreError
from tests.delivery.helpers import FakeClock, Stack, stack, summary

START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
GOOD = "id: w1\nheadline: Watched story\ntopics:\n  - title: Drones\n    text: Certification.\n    tags: [drones]\n"


def _settled(path: Path) -> None:
    old = time.time() - 60
    os.utime(path, (old, old))


async def test_watch_folder_ingests_files_and_moves_them_aside(database_url: str, tmp_path: Path) -> None:
    clock = FakeClock(START)
    folder = tmp_path / "inbox"
    folder.mkdir()
    async with stack(database_url, clock) as s:
        await s.channels.subscribe(ChannelKey("discord", "g", "c1"), "drones", user="u", now=clock())
        watch = WatchFolder(folder, s.service)
        (folder / "good.yaml").write_text(GOOD, encoding="utf-8")
        (folder / "bad.json").write_text('{"headline": ""}', encoding="utf-8")
        (folder / "fresh.yaml").write_text(GOOD.replace("w1", "w2"), encoding="utf-8")
        (folder / "notes.csv").write_text("x", encoding="utf-8")
        for name in ("good.yaml", "bad.json"):
            _settled(folder / name)
        assert await watch.scan() == []  # a file is taken only when a second scan finds it unchanged
        results = {r.name: r for r in await watch.scan()}
        assert set(results) == {"good.yaml", "bad.json"}  # fresh.yaml may still be being written
        assert results["good.yaml"].ok
        assert (folder / "done" / "good.yaml").is_file()
        assert not results["bad.json"].ok
        assert (folder / "failed" / "bad.json").is_file()
        errors = (folder / "failed" / "bad.json.errors.txt").read_text(encoding="utf-8")
        assert "bad.json: headline:" in errors
        assert (folder / "fresh.yaml").is_file()
        assert (folder / "notes.csv").is_file()
        await s.worker.drain()
        assert len(s.senders["discord"].posts) == 1
        # The same file dropped again is unchanged: stored once, alerted once.
        (folder / "good.yaml").write_text(GOOD, encoding="utf-8")
        _settled(folder / "good.yaml")
        again = await watch.scan() + await watch.scan()
        assert [r.ok for r in again] == [True]
        await s.worker.drain()
        assert len(s.senders["discord"].posts) == 1


class _Writer:
    """Writes a file in chunks at moments of a fake clock, setting its mtime as a real write would."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        self.path = path
        self.clock = clock

    def write(self, chunk: str) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(chunk)
        moment = self.clock().timestamp()
        os.utime(self.path, (moment, moment))


@asynccontextmanager
async def _watched(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Stack, WatchFolder, FakeClock]]:
    """A stack and a watch folder on `tmp_path/inbox` that reads time from the stack's fake clock."""
    clock = FakeClock(START)
    async with stack(database_url, clock) as s:
        watch = WatchFolder(tmp_path / "inbox", s.service, clock=lambda: clock().timestamp())
        await watch.scan()  # creates the folder
        yield s, watch, clock


async def test_a_file_written_in_two_chunks_with_a_pause_is_ingested_whole(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    async with _watched(database_url, tmp_path) as (s, watch, clock):
        writer = _Writer(folder / "story.yaml", clock)
        writer.write(GOOD)  # a complete YAML document on its own: only the second topic is missing
        for _ in range(2):  # the engine scans every tick (5 s by default); scan more often than that
            clock.advance(seconds=1.5)
            assert await watch.scan() == []
        clock.advance(seconds=0.5)
        writer.write("  - title: Minerals\n    text: Export controls.\n")  # 3.5 s after the first chunk
        results = []
        while not results:
            clock.advance(seconds=1.5)
            results = await watch.scan()
        assert [r.ok for r in results] == [True]
        [stored] = await s.service.archive.recent_stories()
        assert [t.title for t in stored.summary.topics] == ["Drones", "Minerals"]


async def test_temporary_names_are_ignored_until_the_writer_renames_them(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    async with _watched(database_url, tmp_path) as (s, watch, clock):
        for name in (".story.yaml", "story.yaml.tmp", "story.json.part", "story.tmp.yaml"):
            _Writer(folder / name, clock).write(GOOD)
        for _ in range(5):
            clock.advance(seconds=30)
            assert await watch.scan() == []
        os.rename(folder / "story.yaml.tmp", folder / "story.yaml")
        assert await watch.scan() == []
        clock.advance(seconds=5)
        assert [r.name for r in await watch.scan()] == ["story.yaml"]
        assert (folder / ".story.yaml").is_file()
        assert await s.service.archive.count_stories() == 1


BAD_FILES = {
    "nul.json": '{"headline": "Zero", "lede": "a\\u0000b"}',
    "deep.json": "[" * 100_000,
    "deep.yaml": "[" * 5_000,
    "bomb.yaml": "headline: h\nlede: &big "
    + "x" * 100_000
    + "\ncontext: ["
    + ", ".join(["*big"] * 2_000)
    + "]\n",
}
BAD_REASONS = {
    "nul.json": "nul.json: lede: contains a NUL character",
    "deep.json": "deep.json: too deeply nested",
    "deep.yaml": "deep.yaml: too deeply nested",
    "bomb.yaml": "bomb.yaml: its aliases expand it",
}


async def test_bad_files_go_to_failed_with_the_reason_and_the_good_one_is_stored(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    async with _watched(database_url, tmp_path) as (s, watch, clock):
        for name, text in {**BAD_FILES, "good.yaml": GOOD}.items():
            _Writer(folder / name, clock).write(text)
        clock.advance(seconds=60)
        results = {r.name: r for r in await watch.scan() + await watch.scan()}
        assert results["good.yaml"].ok
        assert await s.service.archive.count_stories() == 1
        for name, reason in BAD_REASONS.items():
            assert not results[name].ok
            assert (folder / "failed" / name).is_file()
            assert (folder / "failed" / f"{name}.errors.txt").read_text(encoding="utf-8").startswith(reason)
        assert list((folder / ".claimed").iterdir()) == []
        assert await watch.scan() == []  # nothing is retried


async def test_a_file_the_database_refuses_goes_to_failed_instead_of_being_retried(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "inbox"
    async with _watched(database_url, tmp_path) as (s, watch, clock):

        async def refuse(*_args: object, **_kwargs: object) -> None:
            cause = DataError("INSERT", {}, Exception("invalid byte sequence for encoding UTF8"))
            raise StoreError("database error: invalid byte sequence for encoding UTF8") from cause

        monkeypatch.setattr(s.service, "ingest", refuse)
        _Writer(folder / "odd.yaml", clock).write(GOOD)
        clock.advance(seconds=60)
        [result] = await watch.scan() + await watch.scan()
        assert not result.ok
        assert "the database refused it" in result.problems[0]
        assert (folder / "failed" / "odd.yaml").is_file()


async def test_ingest_stores_the_good_files_beside_refused_ones(database_url: str, tmp_path: Path) -> None:
    clock = FakeClock(START)
    for name, text in {**BAD_FILES, "good.yaml": GOOD}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    async with stack(database_url, clock) as s:
        report = await ingest_paths(s.service, [tmp_path])
        assert [st.summary_id for st in report.stored] == ["w1"]
        errors = sorted(str(e).removeprefix(f"{tmp_path}/") for e in report.errors)
        for reason in BAD_REASONS.values():
            assert any(e.startswith(reason) for e in errors), reason
        assert await s.service.archive.count_stories() == 1


async def test_an_ingest_leaves_garbage_collection_as_it_found_it_even_when_the_database_fails(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    async with stack(database_url, FakeClock(START)) as s:
        try:
            for enabled in (True, False):
                gc.enable() if enabled else gc.disable()
                assert [st.summary_id for st in (await ingest_paths(s.service, [tmp_path])).stored] == ["w1"]
                assert gc.isenabled() is enabled
            gc.enable()

            async def refuse(*_args: object, **_kwargs: object) -> None:
                raise StoreError("database error: disk I/O error")

            monkeypatch.setattr(s.service.archive, "put_many", refuse)
            with pytest.raises(StoreError):
                await ingest_paths(s.service, [tmp_path])
            assert gc.isenabled()
        finally:
            gc.enable()


@pytest.fixture
def story_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stories s0…s7, one a file, then a file that gives s1 a new headline; ingested in small batches and
    flushes, so each batch is tagged while the one before it is being stored."""
    monkeypatch.setattr("bot.core.service.INGEST_BATCH", 3)
    monkeypatch.setattr("bot.core.ingest.FILES_PER_FLUSH", 5)
    for n in range(8):
        (tmp_path / f"{n:02d}.json").write_text(
            json.dumps({"id": f"s{n}", "headline": f"Story {n}", "published": f"2026-05-01T0{n}:00:00Z"})
        )
    (tmp_path / "08.json").write_text(
        json.dumps({"id": "s1", "headline": "Story 1, corrected", "published": "2026-05-01T01:00:00Z"})
    )
    return tmp_path


async def test_a_bulk_ingest_of_many_batches_reports_each_story_once_in_order_and_keeps_a_later_copy(
    database_url: str, story_files: Path
) -> None:
    async with stack(database_url, FakeClock(START)) as s:
        heard: list[int] = []
        s.service.listeners.append(lambda result: heard.append(len(result.outcomes)))
        report = await ingest_paths(s.service, [story_files])
        assert [(Path(st.where).name, st.summary_id, st.outcome) for st in report.stored] == [
            *[(f"{n:02d}.json", f"s{n}", "created") for n in range(8)],
            ("08.json", "s1", "updated"),
        ]
        assert heard == [3, 2, 3, 1], "each stored batch is told as it lands"
        assert await s.service.archive.count_stories() == 8
        stored = await s.service.archive.story("s1")
        assert stored is not None
        assert stored.summary.headline == "Story 1, corrected"


async def test_a_database_failure_midway_through_an_ingest_keeps_the_batches_stored_before_it(
    database_url: str, story_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with stack(database_url, FakeClock(START)) as s:
        real = s.service.archive.put_many
        calls = 0

        async def third_fails(*args: Any, **kwargs: Any) -> list[PutOutcome]:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise StoreError("database error: disk I/O error")
            return await real(*args, **kwargs)

        monkeypatch.setattr(s.service.archive, "put_many", third_fails)
        with pytest.raises(StoreError, match="disk I/O error"):
            await ingest_paths(s.service, [story_files])
        assert calls == 3, "nothing is stored after the batch that failed"
        assert await s.service.archive.count_stories() == 5  # s0–s4, the two batches before it
        monkeypatch.setattr(s.service.archive, "put_many", real)
        again = await ingest_paths(s.service, [story_files])
        assert [st.outcome for st in again.stored] == [*["unchanged"] * 5, *["created"] * 3, "updated"]


def test_a_second_holder_of_a_sqlite_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    first = hold_database(url)
    assert first is not None
    try:
        with pytest.raises(AlreadyRunning, match=r"already running on .*newsbot\.db"):
            # A second open file description conflicts with the first, as a second process would.
            hold_database(url)
    finally:
        first.release()
    again = hold_database(url)
    assert again is not None
    again.release()
    assert hold_database("postgresql://u@localhost/db") is None


def test_deleting_the_lock_note_does_not_let_a_second_bot_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    first = hold_database(url)
    assert first is not None
    try:
        (tmp_path / "newsbot.db.lock").unlink()  # a clean-up script, or a curious operator
        with pytest.raises(AlreadyRunning, match=r"already running on .*newsbot\.db"):
            hold_database(url)
    finally:
        first.release()


async def _one_dead_one_sent(url: str) -> int:
    clock = FakeClock(START)
    async with stack(url, clock) as s:
        s.senders["discord"].fail("c1", Failed("403 Missing Permissions (code 50013)"))
        await s.channels.subscribe(ChannelKey("discord", "g", "c1"), "drones", user="u", now=clock())
        await s.channels.subscribe(ChannelKey("discord", "g", "c2"), "drones", user="u", now=clock())
        await s.service.ingest([summary("s1", "Drone story", ["drones"])])
        await s.worker.drain()
        return (await s.outbox.find(status="dead"))[0].id


def test_deliveries_command_lists_the_outbox_and_retries_a_dead_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    dead_id = asyncio.run(_one_dead_one_sent(url))
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", url)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_CONFIG", str(empty))
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    listed = runner.invoke(deliveries_app, ["--status", "dead"], catch_exceptions=False)
    assert listed.exit_code == 0
    assert "403 Missing Permissions" in listed.output
    assert "c1" in listed.output
    assert "c2" not in listed.output
    everything = runner.invoke(deliveries_app, [], catch_exceptions=False)
    assert "1 dead" in everything.output
    assert "1 sent" in everything.output
    retried = runner.invoke(deliveries_app, ["retry", str(dead_id)], catch_exceptions=False)
    assert retried.exit_code == 0
    assert "queued again" in retried.output
    pending = runner.invoke(
        deliveries_app, ["--status", "pending", "--channel", "c1"], catch_exceptions=False
    )
    assert "pending" in pending.output
    assert "c1" in pending.output
    not_dead = runner.invoke(deliveries_app, ["retry", str(dead_id)], catch_exceptions=False)
    assert not_dead.exit_code == 1
    missing = runner.invoke(deliveries_app, ["retry", "9999"], catch_exceptions=False)
    assert missing.exit_code == 1
    as_json = runner.invoke(deliveries_app, ["--json"], catch_exceptions=False)
    document = json.loads(as_json.output)
    assert document["counts"] == {"pending": 1, "sent": 1}
    assert {d["channel"] for d in document["deliveries"]} == {"c1", "c2"}
    assert next(d for d in document["deliveries"] if d["id"] == dead_id)["last_error"]


@pytest.mark.parametrize("huge", ["99999999999999999999", str(2**63)])
def test_retrying_an_id_beyond_any_row_is_a_one_line_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, huge: str
) -> None:
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'newsbot.db'}")
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(deliveries_app, ["retry", huge])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # a usage error, not an overflow in the driver
    assert "Invalid value for 'ID'" in result.output
    assert "9223372036854775807" in result.output
