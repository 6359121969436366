"""Every real-world feed in ../shared/feeds yields the entries its expectation file lists."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot.core.summary import Summary
from bot.sources.feed import ParsedFeed, parse_feed
from bot.sources.feed_summary import entry_to_summary
from bot.sources.identity import normalize_url, sha256_hex

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "feeds"
FEEDS = [
    "davidbau.xml",
    "foolcontrol.xml",
    "fwrarejazzvinylcollector.xml",
    "gamersnexus.xml",
    "kagi.xml",
    "malformed_rss_namespaced.xml",
    "osm-pl.xml",
    "osm.xml",
    "postgis.xml",
    "pypy.xml",
    "stackoverflow.xml",
    "utf16_encoded.xml",
    "vintagehomeplans.xml",
    "json_feed_sample.json",
]


def _corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing on CI")
        pytest.skip("../shared/feeds is not part of a user's clone")
    return path


def _expected(name: str) -> list[dict[str, Any]]:
    stem = name.removesuffix(".xml").removesuffix(".json")
    suffix = ".expected.json" if name.endswith(".json") else ".json"
    entries: list[dict[str, Any]] = json.loads(_corpus_file(stem + suffix).read_text("utf-8"))["entries"]
    return entries


def _as_text(value: str) -> str:
    # The expectations keep entities such as "&nbsp;" as the feed wrote them; newsbot decodes them.
    return " ".join(html.unescape(value).split())


_parsed: dict[str, ParsedFeed] = {}


async def _parse(name: str) -> ParsedFeed:
    # Parsed once per module: the large feeds take a fraction of a second each, and every test reads them.
    if name not in _parsed:
        body = _corpus_file(name).read_bytes()
        _parsed[name] = await parse_feed(body, url=f"https://feeds.example/{name}")
    return _parsed[name]


@pytest.mark.parametrize("name", FEEDS)
async def test_the_feed_yields_every_expected_entry_with_its_title_and_link(name: str) -> None:
    parsed = await _parse(name)
    expected = _expected(name)
    assert [e.title for e in parsed.entries] == [_as_text(x.get("title", "")) for x in expected]
    assert [e.link for e in parsed.entries] == [x.get("link") for x in expected]
    assert [e.position for e in parsed.entries] == list(range(len(expected)))


@pytest.mark.parametrize("name", FEEDS)
async def test_each_entry_is_keyed_on_the_id_the_feed_gives_it(name: str) -> None:
    parsed = await _parse(name)
    for entry, want in zip(parsed.entries, _expected(name), strict=True):
        raw = str(want["id"]).strip()
        assert entry.key in {sha256_hex(raw), sha256_hex(normalize_url(raw))}, entry.title


@pytest.mark.parametrize("name", FEEDS)
async def test_every_entry_date_is_an_aware_utc_datetime_when_the_feed_has_one(name: str) -> None:
    parsed = await _parse(name)
    for entry, want in zip(parsed.entries, _expected(name), strict=True):
        if want.get("published"):
            # RSS 1.0's dc:date is the entry's only date; feedparser calls it `updated`.
            assert (entry.published or entry.updated) is not None, entry.title
        for value in (entry.published, entry.updated):
            assert value is None or value.utcoffset() is not None


@pytest.mark.parametrize("name", FEEDS)
async def test_no_entry_text_carries_markup(name: str) -> None:
    parsed = await _parse(name)
    for entry in parsed.entries:
        assert "<script" not in entry.text.lower()
        assert "<p>" not in entry.text
        assert "&amp;" not in entry.text


@pytest.mark.parametrize("name", FEEDS)
async def test_every_entry_becomes_a_summary_whose_lede_is_the_entrys_own_words(name: str) -> None:
    parsed = await _parse(name)
    for entry in parsed.entries:
        summary = entry_to_summary(entry, feed_title=parsed.title, feed_url=f"https://feeds.example/{name}")
        assert isinstance(summary, Summary), summary
        assert summary.headline == entry.title
        if summary.lede:
            assert " ".join(summary.lede.split()) in " ".join(entry.text.split())


async def test_the_utf16_feed_reads_as_text_not_as_mojibake() -> None:
    parsed = await _parse("utf16_encoded.xml")
    assert parsed.entries[0].title == "UTF-16 Entry 1"
    assert parsed.problems == ()


async def test_the_malformed_namespaced_feed_is_read_with_a_problem_note() -> None:
    parsed = await _parse("malformed_rss_namespaced.xml")
    assert parsed.title == "Test Feed with Namespaced RSS"
    assert [e.title for e in parsed.entries] == ["Test Entry 1", "Test Entry 2"]
    assert any("namespace prefix" in p for p in parsed.problems)


@pytest.mark.parametrize("name", ["kagi.xml", "postgis.xml", "pypy.xml"])
async def test_blank_lines_before_the_xml_declaration_do_not_make_a_feed_malformed(name: str) -> None:
    assert (await _parse(name)).problems == ()


async def test_a_feed_with_a_ttl_reports_it_as_a_poll_hint() -> None:
    parsed = await _parse("foolcontrol.xml")
    assert parsed.ttl is not None
    assert parsed.ttl.total_seconds() == 3600
