"""A large ingest read and tagged by worker processes stores and reports what a serial one does."""

from __future__ import annotations

import json
import logging
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app import install_file_readers
from bot.cli.main import app as cli
from bot.core import bulk
from bot.core.ingest import IngestReport, ingest_paths
from tests.delivery.helpers import FakeClock, stack

START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
_RULES = "Ministers agreed common certification rules for drones on Tuesday, after two years of talks between the delegations; the rules take effect next spring across both markets."
PAGE = f"<html><head><title>Drone rules</title></head><body><article><h1>Drone rules</h1><p>{_RULES}</p></article>"


def _line(n: int, headline: str | None = None, tags: list[str] | None = None) -> str:
    return json.dumps(
        {
            "id": f"s{n}",
            "headline": headline or f"Story {n} on drones",
            "published": f"2026-05-01T{n % 24:02d}:00:00Z",
            "topics": [{"title": "Supply chains", "text": "Chipmakers met.", "tags": tags or []}],
        }
    )


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """JSON Lines with a bad line and an invalid story, YAML, an article, a web page, an empty file, and a
    later file that gives s1 a new headline."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        "\n".join([_line(0), _line(1), "{not json", '{"headline": ""}', _line(2, tags=["my-desk"])]) + "\n"
    )
    (folder / "b.yaml").write_text("id: y1\nheadline: Rare earths talks\npublished: 2026-05-02\n")
    (folder / "c.md").write_text("# Tariff review opens\n\nOfficials opened the review of export controls.\n")
    (folder / "d.html").write_text(PAGE)
    (folder / "e.txt").write_text("")
    (folder / "f.jsonl").write_text(_line(1, headline="Story 1 on drones, corrected") + "\n")
    return folder


def _seen(report: IngestReport) -> tuple[list[tuple[str, str, str, tuple[str, ...]]], list[str]]:
    stored = [(Path(s.where).name, s.summary_id, s.outcome, s.unknown_tags) for s in report.stored]
    return stored, [str(e).replace(str(Path(e.where).parent), "") for e in report.errors]


@pytest.mark.parametrize("workers", [0, 1, 2])
async def test_an_ingest_reports_and_stores_the_same_stories_whether_or_not_workers_read_it(
    database_url: str, mixed_folder: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_file_readers()
    monkeypatch.setattr(bulk, "TASK_BYTES", 1)  # a task per file, so workers take turns
    async with stack(database_url, FakeClock(START)) as s:
        report = await ingest_paths(s.service, [mixed_folder], workers=workers)
        stored, errors = _seen(report)
        assert [(where.split(":")[0], sid, outcome, unknown) for where, sid, outcome, unknown in stored] == [
            ("a.jsonl", "s0", "created", ()),
            ("a.jsonl", "s1", "created", ()),
            ("a.jsonl", "s2", "created", ("my-desk",)),
            ("b.yaml", "y1", "created", ()),
            ("c.md", stored[4][1], "created", ()),
            ("d.html", stored[5][1], "created", ()),
            ("f.jsonl", "s1", "updated", ()),
        ]
        assert [where for where, *_ in stored[:3]] == ["a.jsonl:1", "a.jsonl:2", "a.jsonl:5"]
        assert len(errors) == 3
        assert errors[0].startswith("/a.jsonl:3: invalid JSON")
        assert errors[1].startswith("/a.jsonl:4: headline")
        assert errors[2].startswith("/e.txt: ")
        assert report.files == 6
        corrected = await s.service.archive.story("s1")
        assert corrected is not None
        assert corrected.summary.headline == "Story 1 on drones, corrected"
        # Tagged in the worker as here: the section's tags and the story's topics are stored.
        story = await s.service.archive.story("s2")
        assert story is not None
        assert story.summary.topics[0].tags == ["semiconductors", "supply-chains", "my-desk"]
        found = {m.summary_id for m in (await s.service.topic("drones", per_page=20)).matches}
        assert {"s0", "s1", "s2", stored[5][1]} <= found


async def test_a_worker_killed_midway_leaves_no_file_unread(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for f in range(6):
        (tmp_path / f"{f}.jsonl").write_text("".join(_line(10 * f + n) + "\n" for n in range(10)))
    monkeypatch.setattr(bulk, "TASK_BYTES", 1)
    killed: list[int] = []

    def kill_workers_after_the_first_file(_path: Path) -> None:
        if not killed:
            for child in multiprocessing.active_children():
                child.kill()
                killed.append(child.pid or 0)

    async with stack(database_url, FakeClock(START)) as s:
        with caplog.at_level(logging.WARNING, logger="bot.core.bulk"):
            report = await ingest_paths(
                s.service, [tmp_path], workers=1, on_file=kill_workers_after_the_first_file
            )
        assert killed, "a worker was running when the first file came back"
        assert report.errors == []
        assert [st.summary_id for st in report.stored] == [f"s{n}" for n in range(60)]
        assert await s.service.archive.count_stories() == 60
        assert "ingest worker failed" in caplog.text
        assert "reading the remaining files in this process" in caplog.text


def test_workers_are_started_only_for_an_ingest_large_enough_to_pay_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = tmp_path / "small.jsonl"
    small.write_text(_line(1) + "\n")
    large = tmp_path / "large.jsonl"
    large.write_bytes(b" " * bulk.POOL_MIN_BYTES)
    page = tmp_path / "big.html"
    page.write_bytes(b" " * bulk.POOL_MIN_BYTES)
    monkeypatch.setattr(bulk.os, "cpu_count", lambda: 2)
    assert bulk.worker_count([small], None) == 0
    assert bulk.worker_count([page], None) == 0, "web pages are read where their reader is registered"
    assert bulk.worker_count([large], None) == 1
    assert bulk.worker_count([small], 3) == 3, "asked for, given"
    assert bulk.worker_count([large], 0) == 0
    monkeypatch.setattr(bulk.os, "cpu_count", lambda: 8)
    assert bulk.worker_count([large], None) == bulk.MAX_WORKERS
    monkeypatch.setattr(bulk.os, "cpu_count", lambda: 1)
    assert bulk.worker_count([large], None) == 0, "no core to spare"


def test_newsbot_ingest_with_a_worker_stores_every_story(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.jsonl").write_text("".join(_line(n) + "\n" for n in range(20)))
    (tmp_path / "b.jsonl").write_text("{broken\n")
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'newsbot.db'}")
    result = CliRunner().invoke(cli, ["ingest", "--workers", "1", str(tmp_path)])
    assert result.exit_code == 1, result.output  # one bad file
    assert "20 stored, 0 replaced, 0 unchanged, 1 failed (2 files)" in result.stdout
    assert "b.jsonl:1: invalid JSON" in result.stderr


async def test_an_ingest_where_no_worker_can_start_is_read_in_one_process(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.jsonl").write_text("".join(_line(n) + "\n" for n in range(5)))

    def no_semaphores(*_args: object, **_kwargs: object) -> None:
        raise OSError("[Errno 2] No such file or directory: '/dev/shm'")

    monkeypatch.setattr(bulk, "ProcessPoolExecutor", no_semaphores)
    async with stack(database_url, FakeClock(START)) as s:
        with caplog.at_level(logging.WARNING, logger="bot.core.bulk"):
            report = await ingest_paths(s.service, [tmp_path], workers=1)
        assert [st.summary_id for st in report.stored] == [f"s{n}" for n in range(5)]
        assert "cannot start ingest workers" in caplog.text
