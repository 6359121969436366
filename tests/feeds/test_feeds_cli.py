"""`newsbot feeds …` as an operator meets it: real processes against the loopback feed server, no tracebacks."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.feeds import FakeFeeds, sample_rss
from tests.feeds.test_full_text import ARTICLE

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Done:
    """A finished `newsbot` process."""

    returncode: int
    stdout: str
    stderr: str


Newsbot = Callable[..., Awaitable[Done]]


@pytest.fixture
def newsbot(tmp_path: Path) -> Newsbot:
    """Run `python -m bot ARGS` without blocking the loop, so the loopback feed server keeps answering."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env["NEWSBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'feeds.db'}"
    env["COLUMNS"] = "250"

    async def run(*args: str) -> Done:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        done = Done(proc.returncode or 0, out.decode(), err.decode())
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        return done

    return run


async def test_a_feed_added_from_the_cli_is_listed_polled_exported_and_removed(newsbot: Newsbot) -> None:
    async with FakeFeeds() as server:
        server.serve(
            "/wire.xml", sample_rss("Drone makers meet regulators", "Chip export rules"), etag='"v1"'
        )
        added = await newsbot("feeds", "add", server.url("/wire.xml"), "--name", "wire", "--topics", "drones")
        assert added.returncode == 0, added.stderr
        assert "following wire" in added.stdout
        assert "/subscribe feed:wire" in added.stdout

        listed = json.loads((await newsbot("feeds", "list", "--json")).stdout)
        assert [(f["name"], f["url"], f["status"], f["topics"]) for f in listed] == [
            ("wire", server.url("/wire.xml"), "new", ["drones"])
        ]

        polled = await newsbot("feeds", "poll")
        assert polled.returncode == 0, polled.stderr
        assert "wire: HTTP 200 2 new, 0 updated, 0 unchanged" in polled.stdout
        again = await newsbot("feeds", "poll", "wire", "--json")
        report = json.loads(again.stdout)[0]
        assert (report["feed"], report["status"], report["new"]) == ("wire", 304, 0)

        table = await newsbot("feeds", "list")
        assert "wire" in table.stdout
        assert "ok" in table.stdout
        [after] = json.loads((await newsbot("feeds", "list", "--json")).stdout)
        assert (after["status"], after["stories"], after["last_status"]) == ("ok", 2, 304)

        found = json.loads((await newsbot("topic", "drones", "--json")).stdout)
        assert any("Drone makers" in m["headline"] for m in found["matches"])

        retagged = await newsbot("retag")
        assert "0 of 2 stories re-tagged" in retagged.stdout  # the feed's topics are kept, not dropped
        from_feed = json.loads((await newsbot("stories", "--source", "wire", "--json")).stdout)
        assert sorted(s["headline"] for s in from_feed) == [
            "Chip export rules",
            "Drone makers meet regulators",
        ]
        assert all({"feed:wire", "drones"} <= set(s["topics"]) for s in from_feed)
        assert all(s["source"] == "feed wire" for s in from_feed)
        chat = await newsbot("cmd", "/feeds")
        assert "wire — ok · 2 stories" in chat.stdout

        exported = await newsbot("feeds", "export")
        assert exported.stdout.startswith("<?xml")
        assert server.url("/wire.xml") in exported.stdout

        removed = await newsbot("feeds", "remove", "wire")
        assert removed.returncode == 0
        assert "its stories stay" in removed.stdout
        assert json.loads((await newsbot("feeds", "list", "--json")).stdout) == []


async def test_every_feed_failure_is_one_line_naming_the_feed_and_exits_non_zero(newsbot: Newsbot) -> None:
    async with FakeFeeds() as server:
        server.fail("/gone.xml", 404)
        refused = await newsbot("feeds", "add", server.url("/gone.xml"))
        assert refused.returncode == 1
        assert server.url("/gone.xml") in refused.stderr
        assert "404" in refused.stderr

        server.serve("/ok.xml", sample_rss("One"))
        assert (await newsbot("feeds", "add", server.url("/ok.xml"), "--name", "ok")).returncode == 0
        server.fail("/ok.xml", 503)
        failed = await newsbot("feeds", "poll", "ok")
        assert failed.returncode == 1
        assert "ok: HTTP 503 failed" in failed.stderr
        [feed] = json.loads((await newsbot("feeds", "list", "--json")).stdout)
        assert feed["status"] == "failing"
        assert "503" in feed["last_error"]

        unknown = await newsbot("feeds", "poll", "nosuch")
        assert unknown.returncode == 1
        assert "nosuch: no feed has this name" in unknown.stderr
        assert (await newsbot("feeds", "remove", "nosuch")).returncode == 1


async def test_a_paused_feed_shows_its_reason_and_is_not_polled_until_resumed(newsbot: Newsbot) -> None:
    async with FakeFeeds() as server:
        server.serve("/a.xml", sample_rss("One"))
        await newsbot("feeds", "add", server.url("/a.xml"), "--name", "a")
        paused = await newsbot("feeds", "pause", "a", "--reason", "too noisy")
        assert paused.returncode == 0
        [feed] = json.loads((await newsbot("feeds", "list", "--json")).stdout)
        assert (feed["status"], feed["paused_reason"]) == ("paused", "too noisy")
        hits = len(server.hits("/a.xml"))
        assert "no feeds to poll" in (await newsbot("feeds", "poll")).stdout
        assert len(server.hits("/a.xml")) == hits
        await newsbot("feeds", "resume", "a")
        [resumed] = json.loads((await newsbot("feeds", "list", "--json")).stdout)
        assert resumed["status"] != "paused"
        assert resumed["paused_reason"] is None


async def test_an_opml_file_is_imported_and_a_bad_one_refused_with_its_name(
    newsbot: Newsbot, tmp_path: Path
) -> None:
    good = tmp_path / "reader.opml"
    good.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>Mine</title></head><body>'
        '<outline text="Wire" type="rss" xmlUrl="http://127.0.0.1:9/wire.xml"/>'
        '<outline text="No URL"/></body></opml>'
    )
    imported = await newsbot("feeds", "import", str(good))
    assert imported.returncode == 0, imported.stderr
    assert "following wire" in imported.stdout
    assert "1 added" in imported.stdout
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body>")
    refused = await newsbot("feeds", "import", str(bad))
    assert refused.returncode == 1
    assert str(bad) in refused.stderr
    assert "not well-formed" in refused.stderr
    missing = await newsbot("feeds", "import", str(tmp_path / "none.opml"))
    assert missing.returncode == 1
    assert "none.opml: cannot read it" in missing.stderr


async def test_ingest_stores_a_web_page_and_points_a_feed_url_at_feeds_add(newsbot: Newsbot) -> None:
    async with FakeFeeds() as server:
        server.serve("/story", ARTICLE.encode(), content_type="text/html; charset=utf-8")
        server.serve("/feed.xml", sample_rss("One"))
        server.fail("/missing", 404)
        done = await newsbot(
            "ingest", server.url("/story"), server.url("/feed.xml"), server.url("/missing"), "examples/"
        )
    assert done.returncode == 1
    assert f"{server.url('/story')}: stored" in done.stdout
    assert f"{server.url('/feed.xml')}: this is a feed; follow it with `newsbot feeds add" in done.stderr
    assert f"{server.url('/missing')}: " in done.stderr
    assert "404" in done.stderr
    assert "2 stored, 1 replaced, 0 unchanged, 2 failed (2 files, 3 pages)" in done.stdout
    found = json.loads((await newsbot("topic", "paperwork", "--json")).stdout)
    assert [m["headline"] for m in found["matches"]] == ["Drone rules agreed"], found
