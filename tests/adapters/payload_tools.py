"""Helpers for the renderer tests: hostile replies, a Reply strategy, and the shared payload checkers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from bot.core.digest import Digest, build_digest
from bot.core.ports import StoredStory
from bot.core.reply import Item, Part, Reply
from bot.core.summary import HEADLINE_MAX, Section, Source, Summary

# The shared payload checkers live in ../shared/tools beside the repository. Looked up from this file upwards, so a
# git worktree one level deeper and mutmut's copy under var/mutate/ find the same folder.
_HERE = Path(__file__).resolve()
TOOLS = next(
    (p / "shared" / "tools" for p in _HERE.parents if (p / "shared" / "tools").is_dir()),
    _HERE.parents[2].parent / "shared" / "tools",
)
ZWSP = "\u200b"

MENTIONS = ["@everyone", "@here", "<@123>", "<@&123>", "<#123>", "<!channel>", "<!here>", "<@U123ABC>"]
HOSTILE_WORDS = [
    *MENTIONS,
    "<!everyone>",
    "<!subteam^S123>",
    "@channel",
    "*bold*",
    "**b**",
    "_it_",
    "__u__",
    "~~s~~",
    "~s~",
    "`code`",
    "```",
    "||spoiler||",
    ">",
    ">>>",
    "#",
    "##",
    "-#",
    "-",
    "1.",
    "[x](http://evil)",
    "[bold]",
    "[/]",
    "https://example.com/a_b*c~d",
    "http://example.com/?a=1&b=2",
    "&amp;",
    "&lt;",
    "\\",
    "\\*",
    ":smile:",
    "🙂",
    "👩\u200d👩\u200d👧",
    "🇺🇸",
    "שלום",
    "مرحبا",
    "\u200f",
    "e\u0301",
    "—",
    "…",
    "Mr.",
    "end.",
]
SEPARATORS = [" ", " ", " ", " ", "\n", "\n\n", ". ", "! "]


def hostile_text(repeat: int = 1) -> str:
    """Return a paragraph made of every hostile word, `repeat` times over."""
    return " ".join(HOSTILE_WORDS * repeat)


def words(*, max_size: int = 14) -> st.SearchStrategy[str]:
    """Words without whitespace: hostile sequences or arbitrary unicode."""
    arbitrary = st.text(
        alphabet=st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
        min_size=1,
        max_size=max_size,
    ).filter(lambda w: not any(c.isspace() for c in w))
    return st.one_of(st.sampled_from(HOSTILE_WORDS), arbitrary)


def texts(*, max_words: int = 40, min_words: int = 0) -> st.SearchStrategy[str]:
    """Text of words joined by spaces, line breaks, paragraph breaks and sentence ends."""
    pair = st.tuples(words(), st.sampled_from(SEPARATORS))
    return st.lists(pair, min_size=min_words, max_size=max_words).map(
        lambda ps: "".join(w + s for w, s in ps)
    )


def long_or_short_texts() -> st.SearchStrategy[str]:
    """Mostly short text, sometimes several thousand characters (a short text repeated, which is cheap)."""
    long = st.tuples(texts(max_words=30), st.integers(min_value=2, max_value=80)).map(
        lambda t: (t[0] + " ") * t[1]
    )
    return st.sampled_from(["short"] * 4 + ["long"]).flatmap(
        lambda kind: long if kind == "long" else texts(max_words=30)
    )


@st.composite
def replies(draw: st.DrawFn) -> Reply:
    """Any reply: hostile titles and texts, long sections, many items and parts."""
    parts = st.builds(Part, title=texts(max_words=6), text=long_or_short_texts())
    items = st.builds(
        Item,
        title=st.one_of(texts(max_words=8), texts(max_words=80)),
        url=st.one_of(
            st.none(),
            st.sampled_from(
                ["https://example.com/story?a=1&b=2", "http://x.test/a_b|c", "javascript:alert(1)"]
            ),
        ),
        meta=st.one_of(st.none(), texts(max_words=8)),
        text=long_or_short_texts(),
        parts=st.lists(parts, max_size=draw(st.sampled_from([3, 8, 30]))),
    )
    pages = draw(st.integers(min_value=1, max_value=3))
    return Reply(
        title=draw(st.one_of(texts(max_words=6), texts(max_words=60))),
        text=draw(long_or_short_texts()),
        notice=draw(st.one_of(st.none(), texts(max_words=10))),
        items=draw(st.lists(items, max_size=draw(st.sampled_from([2, 6, 12])))),
        footer=draw(st.one_of(st.none(), texts(max_words=10))),
        tone=draw(st.sampled_from(["info", "warning", "error"])),
        page=draw(st.integers(min_value=1, max_value=pages)),
        pages=pages,
    )


LONG_URL = "https://example.com/archive/" + "segment-" * 300 + "?a=1&b=2"
TOPIC_IDS = ["drones", "semiconductors", "critical-minerals", "taxation", "ai"]
SOURCE_URLS = ["https://example.com/story?a=1&b=2", "http://x.test/a_b|c", LONG_URL]
WHEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _non_empty(strategy: st.SearchStrategy[str], max_len: int = 100_000) -> st.SearchStrategy[str]:
    # Given text of at least one word, this filter rejects next to nothing.
    return strategy.map(lambda t: t.strip()[:max_len].strip()).filter(bool)


def section_texts() -> st.SearchStrategy[str]:
    """Section text: mostly ordinary, sometimes thousands of characters or holding a 2,000+ character URL."""
    with_url = st.tuples(texts(max_words=10), texts(max_words=10)).map(lambda t: f"{t[0]} {LONG_URL} {t[1]}")
    return st.one_of(long_or_short_texts(), with_url)


@st.composite
def summaries(draw: st.DrawFn) -> Summary:
    """Any valid summary: hostile text, up to 40 discussion areas, long sections, long source URLs."""
    section = st.builds(
        Section,
        title=_non_empty(texts(max_words=6, min_words=1)),
        text=section_texts(),
        tags=st.lists(st.sampled_from(TOPIC_IDS), max_size=2, unique=True),
    )
    count = draw(st.sampled_from([0, 1, 3, 8, 8, 40]))
    source = st.builds(
        Source,
        name=st.one_of(st.none(), _non_empty(texts(max_words=4, min_words=1))),
        url=st.sampled_from(SOURCE_URLS),
    )
    return Summary(
        headline=draw(
            _non_empty(
                st.one_of(texts(max_words=8, min_words=1), texts(max_words=80, min_words=1)), HEADLINE_MAX
            )
        ),
        lede=draw(st.one_of(st.none(), long_or_short_texts())),
        published=WHEN,
        source=draw(st.one_of(st.none(), source)),
        agreements=draw(st.lists(_non_empty(texts(max_words=20, min_words=1)), max_size=4)),
        topics=draw(st.lists(section, min_size=count, max_size=count)),
        sections=draw(st.lists(section, max_size=2)),
        tags=draw(st.lists(st.sampled_from(TOPIC_IDS), max_size=2, unique=True)),
    )


@st.composite
def digests(draw: st.DrawFn) -> Digest:
    """A digest built by core from generated summaries, as the store would hand them over."""
    stories = [
        StoredStory(summary=s, published=WHEN, ingested_at=WHEN, topics=tuple(s.tags))
        for s in draw(st.lists(summaries(), min_size=1, max_size=3))
    ]
    topics = draw(st.lists(st.sampled_from(TOPIC_IDS), max_size=2, unique=True))
    return build_digest(stories, title=draw(_non_empty(texts(max_words=8, min_words=1))), topics=topics)


def hostile_digest() -> Digest:
    """A digest from one hostile summary: mentions, markup, 10k-character and 40 sections, a 2,000+ URL."""
    summary = Summary(
        headline="@everyone <!channel> Drone | Technology [x](http://evil) 👩‍👩‍👧 שלום",
        lede=hostile_text(),
        published=WHEN,
        source=Source(name="<@U123ABC> News", url=LONG_URL),
        agreements=[hostile_text(), "<@123> agreed", "&amp; & < >"],
        topics=[
            Section(title=f"Topic {n} <@&123> مرحبا", text=hostile_text(40)[:10_000], tags=["drones"])
            for n in range(40)
        ],
        sections=[Section(title="Context", text=f"See {LONG_URL} and {hostile_text()}")],
    )
    story = StoredStory(summary=summary, published=WHEN, ingested_at=WHEN, topics=("drones",))
    return build_digest([story], title="@here digest <!here>", topics=["drones"])


def digest_texts(digest: Digest) -> list[str]:
    """Return every text of a digest a reader must find in the rendered bodies."""
    found: list[str] = []
    for entry in digest.entries:
        found += [entry.lede or "", *entry.agreements, *(section.text for section in entry.sections)]
    return found


def digest_titles(digest: Digest) -> list[str]:
    """Return every title of a digest a reader must find in the rendered bodies."""
    return [
        digest.title,
        *(e.headline for e in digest.entries),
        *(s.title for e in digest.entries for s in e.sections),
    ]


def hostile_replies() -> dict[str, Reply]:
    """Fixed hostile cases that the shared checkers must accept once rendered."""
    long_section = hostile_text(40)[:10_000]
    return {
        "mentions and markup": Reply(
            title="@everyone <@123> *news* [x](http://evil)",
            notice="<!channel> @here",
            text=hostile_text(),
            items=[
                Item(
                    title="<!here> Drone | Technology ||spoiler||",
                    url="https://example.com/story?a=1&b=2",
                    meta="<#123> · 2026-11-24",
                    text=hostile_text(),
                    parts=[Part(title="<@&123> **Agreements**", text=hostile_text())],
                )
            ],
            footer="<@U123ABC> @everyone",
            pages=3,
            page=2,
        ),
        "10k-character sections": Reply(
            title="Long",
            text=long_section,
            items=[
                Item(
                    title="Story",
                    text=long_section,
                    parts=[Part(title="Drone Technology", text=long_section)] * 3,
                )
            ],
        ),
        "40 items and 40 parts": Reply(
            title="Many",
            items=[
                Item(
                    title=f"Story {i} 🙂 שלום",
                    url=f"https://example.com/{i}",
                    meta="Outlet · 2026-11-24",
                    text="Lede. " * 40,
                    parts=[Part(title=f"Topic {j} مرحبا", text="Some text here. " * 20) for j in range(40)],
                )
                for i in range(40)
            ],
        ),
        "unbreakable tokens": Reply(
            title="x" * 400,
            text="y" * 5000,
            items=[
                Item(
                    title="t" * 5000,
                    url="https://example.com/" + "p" * 5000,
                    text="https://example.com/" + "q" * 5000,
                    parts=[Part(title="n" * 600, text="&<>" * 2000)],
                )
            ],
            footer="f " * 2000,
        ),
        "empty": Reply(title=""),
        "blank pieces": Reply(
            title="  ", text=" \n ", items=[Item(title="", parts=[Part(title="", text="")])]
        ),
    }


def run_checker(tool: str, bodies: list[dict[str, Any]], tmp_path: Path, *args: str) -> None:
    """Run ../shared/tools/`tool` on `bodies` and fail with its report unless every body passes."""
    path = TOOLS / tool
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing, and CI is set: the payload checkers must run in CI")
        pytest.skip(f"{path} not found (the shared folder is absent); set CI=1 to make this a failure")
    data = tmp_path / f"{tool}.json"
    # ASCII JSON: the checkers read the file in the locale's encoding, which may not be UTF-8.
    data.write_text(json.dumps(bodies), encoding="ascii")
    result = subprocess.run(  # noqa: S603 - our own interpreter running the shared checker on our own file
        [sys.executable, str(path), *args, str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, f"{tool} rejected the bodies:\n{result.stdout}\n{result.stderr}"
