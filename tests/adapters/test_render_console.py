"""Terminal rendering: literal text, every word on screen, lines within the width."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Group

from bot.adapters.console.render import render_digest, render_reply, reply_to_text
from bot.core.reply import Item, Part, Reply
from tests.adapters.payload_tools import hostile_replies
from tests.adapters.render_cases import drone_digest, drone_story

BORDERS = "│╭╮╰╯─"


def screen_words(text: str) -> list[str]:
    """Return the words on screen, without the panel borders."""
    return [w for w in text.split() if w.strip(BORDERS)]


def test_a_reply_reads_as_title_notice_text_items_and_footer() -> None:
    reply = Reply(
        title="Topic: Drones",
        notice="Showing results for drones",
        text="Two stories.",
        items=[drone_story()],
        footer="Ask with /topic drones",
        page=2,
        pages=3,
    )
    lines = [line.strip(" " + BORDERS) for line in reply_to_text(reply, width=80).splitlines()]
    assert [line for line in lines if line] == [
        "Topic: Drones",
        "Showing results for drones",
        "Two stories.",
        "Drone Technology",
        "Example News · 2026-11-24",
        "https://example.com/story",
        "Certification of drone components.",
        "Agreements",
        "• Pax Silica Declaration",
        "Ask with /topic drones · page 2 of 3",
    ]


def test_rich_markup_in_content_stays_literal() -> None:
    reply = Reply(
        title="[bold]Title[/bold]",
        text="[red]not red[/red] and [link=http://evil]x[/link] :smile:",
        items=[Item(title="[b]", parts=[Part(title="[/]", text="[bold]")])],
        footer="[dim]",
    )
    text = reply_to_text(reply)
    for literal in (
        "[bold]Title[/bold]",
        "[red]not red[/red]",
        "[link=http://evil]x[/link]",
        "[b]",
        "[/]",
        "[dim]",
    ):
        assert literal in text
    assert ":smile:" in text


def test_control_characters_in_content_cannot_drive_the_terminal() -> None:
    reply = Reply(
        title="a\x1b[2Jb",
        text="bell\x07 and \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ and \x9b31m",
        items=[Item(title="Windows\r\nlines", text="one\rtwo")],
    )
    screen = reply_to_text(reply)
    assert not any(c in screen for c in "\x1b\x07\x9b\r")
    assert "a␛[2Jb" in screen
    assert "bell␇ and ␛]8;;http://evil␛\\link␛]8;;␛\\ and \ufffd31m" in screen
    assert [w for w in screen_words(screen) if w in ("Windows", "lines", "one", "two")] == [
        "Windows",
        "lines",
        "one",
        "two",
    ]


def test_hostile_replies_print_literally_within_the_width() -> None:
    for name, reply in hostile_replies().items():
        screen = reply_to_text(reply, width=80)
        assert all(cell_len(line) <= 80 for line in screen.splitlines()), name
        if name == "mentions and markup":
            shown = " ".join(screen_words(screen))
            for literal in ("@everyone", "<@123>", "<!channel>", "[x](http://evil)", "page 2 of 3"):
                assert literal in shown


def test_long_titles_wrap_instead_of_being_cropped() -> None:
    title = "Taiwan and US deepen their strategic technology partnership " * 5
    assert (
        screen_words(reply_to_text(Reply(title="t", items=[Item(title=title)]), width=60))[1:]
        == title.split()
    )


def test_a_digest_renders_as_a_group_of_panels() -> None:
    assert isinstance(render_digest(drone_digest()), Group)
    assert isinstance(render_reply(Reply(title="t")), Group)


plain_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz[]/*_@<>#🙂שלום", min_size=1, max_size=12)
plain_texts = st.lists(plain_words, max_size=60).map(" ".join)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=plain_texts,
    text=plain_texts,
    parts=st.lists(st.tuples(plain_texts, plain_texts), max_size=5),
    width=st.integers(min_value=40, max_value=120),
)
def test_every_word_appears_within_the_width(
    title: str, text: str, parts: list[tuple[str, str]], width: int
) -> None:
    reply = Reply(
        title=title, text=text, items=[Item(title="Item", parts=[Part(title=a, text=b) for a, b in parts])]
    )
    screen = reply_to_text(reply, width=width)
    assert all(len(line) <= width for line in screen.splitlines())
    expected = [*title.split(), *text.split(), "Item"]
    for a, b in parts:
        expected += [*a.split(), *b.split()]
    assert screen_words(screen) == expected
