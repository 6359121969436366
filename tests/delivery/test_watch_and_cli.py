"""The watch folder, the SQLite process lock and `newsbot deliveries`."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.deliveries import deliveries_app
from bot.core.ports import ChannelKey, Failed
from bot.delivery.lock import AlreadyRunning, hold_database
from bot.delivery.watch import WatchFolder
from tests.delivery.helpers import FakeClock, stack, summary

START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
GOOD = "id: w1\nheadline: Watched story\ntopics:\n  - title: Drones\n    text: Certification.\n    tags: [drones]\n"


def _settled(path: Path) -> None:
    old = time.time() - 10
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
        again = await watch.scan()
        assert [r.ok for r in again] == [True]
        await s.worker.drain()
        assert len(s.senders["discord"].posts) == 1


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
