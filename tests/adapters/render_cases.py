"""What the chat renderer tests share: one record of a platform's checks, and sample replies and digests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.digest import Digest, DigestEntry, DigestSection
from bot.core.reply import Item, Part, Reply
from tests.adapters.payload_tools import digest_texts, digest_titles, run_checker

Body = dict[str, Any]


@dataclass(frozen=True)
class Platform:
    """A chat platform's renderer with the checks its tests apply to every body it makes."""

    name: str
    render_reply: Callable[[Reply], list[Body]]
    render_digest: Callable[..., list[Body]]  # (digest, topic labels=None)
    problems: Callable[[Body], list[str]]
    reading_order: Callable[[list[Body]], str]
    everything_shown: Callable[[list[Body]], str]
    # Given the bodies and every title a reader may see first, assert each continuation says so.
    assert_continuations_marked: Callable[[list[Body], list[str]], None]
    # Turn an original text into what a reader sees of it (look-alikes read back, zero-width spaces gone).
    normalise: Callable[[str], str]
    # A word at least this long may be cut into pieces marked with "…".
    cut_length: int
    untitled: str
    checker: str
    # The schema arguments the shared checker is run with on hostile bodies, once per entry.
    checker_runs: tuple[tuple[str, ...], ...]
    reply_examples: int

    def __str__(self) -> str:
        return self.name


def reply_texts(reply: Reply) -> list[str]:
    """Return the reply's text, item texts and part texts, in order."""
    return [reply.text, *(i.text for i in reply.items), *(p.text for i in reply.items for p in i.parts)]


def reply_titles(reply: Reply) -> list[str]:
    """Return the reply's title, item titles and part titles, in order."""
    return [reply.title, *(i.title for i in reply.items), *(p.title for i in reply.items for p in i.parts)]


def assert_texts_kept(platform: Platform, originals: list[str], *orders: str) -> None:
    """Assert each original text reads, word for word and in order, in one of `orders` (whitespace aside)."""
    seen = [" " + " ".join(order.split()) + " " for order in orders]
    unmarked = ["".join(order.replace("…", "").split()) for order in orders]
    for text in originals:
        words = platform.normalise(text).split()
        if not words:
            continue
        if max(map(len, words)) < platform.cut_length:
            run = " " + " ".join(words) + " "
            assert any(run in order for order in seen), f"lost words of {text[:80]!r}"
        else:  # a token longer than a field or section comes back in pieces marked with "…"
            joined = "".join(words).replace("…", "")
            assert any(joined in order for order in unmarked), f"lost text of {text[:80]!r}"


# How a renderer's cut notice starts: a reply longer than MESSAGES_PER_REPLY_MAX messages ends with it.
CUT_MARK = "✂ Cut here"
MESSAGES_PER_REPLY_MAX = 5
# Characters every message keeps free for the cut notice, its link included (at most this long).
CUT_NOTICE_MAX = 600


def was_cut(platform: Platform, bodies: list[Body]) -> bool:
    """Say whether the renderer cut the reply at MESSAGES_PER_REPLY_MAX messages."""
    return CUT_MARK in platform.everything_shown(bodies)


def assert_cut_properly(platform: Platform, bodies: list[Body], originals: list[str]) -> bool:
    """Return whether the reply was cut; if so, assert it used every allowed message and kept its start."""
    if not was_cut(platform, bodies):
        return False
    assert len(bodies) == MESSAGES_PER_REPLY_MAX, "cut before the message cap was reached"
    opening = next((t for t in originals if platform.normalise(t).split()), "")
    assert_texts_kept(platform, [opening], platform.reading_order(bodies), platform.everything_shown(bodies))
    return True


def assert_all_words_kept(platform: Platform, reply: Reply, bodies: list[Body]) -> None:
    """Assert every text and title of the reply reads, word for word and in order, in the bodies.

    A reply too long for MESSAGES_PER_REPLY_MAX messages is cut: then its opening must read whole.
    """
    if assert_cut_properly(platform, bodies, [reply.title, reply.text, *reply_texts(reply)]):
        return
    assert len(bodies) <= MESSAGES_PER_REPLY_MAX
    assert_texts_kept(platform, reply_texts(reply), platform.reading_order(bodies))
    # A clipped title is given in full in the text below it, which may run over several messages.
    shown = platform.everything_shown(bodies)
    assert_texts_kept(platform, reply_titles(reply), shown, platform.reading_order(bodies))


def assert_digest_kept(platform: Platform, digest: Digest, bodies: list[Body]) -> None:
    """Assert every text and title of the digest reads in order, and each continuation is marked."""
    platform.assert_continuations_marked(bodies, [*digest_titles(digest), "Agreements"])
    if assert_cut_properly(platform, bodies, digest_titles(digest)):
        return
    assert len(bodies) <= MESSAGES_PER_REPLY_MAX
    assert_texts_kept(platform, digest_texts(digest), platform.reading_order(bodies))
    shown = platform.everything_shown(bodies)
    assert_texts_kept(platform, digest_titles(digest), shown, platform.reading_order(bodies))


def run_checker_runs(platform: Platform, bodies: list[Body], tmp_path: Path) -> None:
    """Run the platform's shared checker on `bodies` with each of its schema arguments."""
    for args in platform.checker_runs:
        run_checker(platform.checker, bodies, tmp_path, *args)


def drone_story(url: str = "https://example.com/story") -> Item:
    """Return an item with every piece set: link, meta line, text and one part."""
    return Item(
        title="Drone Technology",
        url=url,
        meta="Example News · 2026-11-24",
        text="Certification of drone components.",
        parts=[Part(title="Agreements", text="• Pax Silica Declaration")],
    )


def drone_digest() -> Digest:
    """Return a one-story digest with a link, an agreement and one section."""
    when = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    return Digest(
        title="Daily digest",
        start=when,
        end=when,
        entries=[
            DigestEntry(
                summary_id="taiwan-us",
                headline="Taiwan and US Deepen Strategic Tech Partnership",
                published=when,
                url="https://example.com/story",
                agreements=["Pax Silica Declaration"],
                sections=[DigestSection(title="Drone Technology", text="Certification of drone components.")],
            )
        ],
    )


def drone_card(first_line: str) -> Item:
    """Return a compact card: a lede, then one-liners with and without an area's title (`first_line` first)."""
    return Item(
        title="Drone rules",
        text="Lede.",
        lines=[
            Part(title="Drone *Technology*", text=first_line),
            Part(title="", text="A line without an area: 2*3."),
            Part(title="Agreements", text=""),
            Part(title="Chips", text="Export_rules tighten."),
        ],
    )
