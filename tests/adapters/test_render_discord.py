"""Discord create-message bodies: exact payloads, escaping, splitting and every documented limit."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.adapters.discord.render import CUT_NOTICE_MAX, render_digest, render_reply
from bot.core.reply import Item, Part, Reply
from tests.adapters.discord_checks import (
    BLURPLE,
    DISCORD,
    NO_PINGS,
    RED,
    YELLOW,
    problems,
    reading_order,
    unescape,
)
from tests.adapters.payload_tools import ZWSP
from tests.adapters.render_cases import (
    MESSAGES_PER_REPLY_MAX,
    assert_all_words_kept,
    drone_card,
    drone_digest,
    drone_story,
)
from tests.fakes.discord import EMBED_FIELDS_MAX, EMBED_TITLE_MAX, EMBEDS_TOTAL_MAX, FIELD_VALUE_MAX

# -- exact bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            Reply(title="Topics", text="• Drones (drones) — 1 story", footer="Ask with /topic drones"),
            [
                {
                    "embeds": [
                        {
                            "color": BLURPLE,
                            "title": "Topics",
                            "description": "• Drones (drones) — 1 story",
                            "footer": {"text": "Ask with /topic drones"},
                        }
                    ],
                    "allowed_mentions": NO_PINGS,
                }
            ],
            id="text only",
        ),
        pytest.param(
            Reply(
                title="Topic: Drones",
                notice="Showing results for drones",
                items=[drone_story()],
                tone="warning",
                page=1,
                pages=2,
            ),
            [
                {
                    "embeds": [
                        {
                            "color": YELLOW,
                            "title": "Topic: Drones",
                            "description": "Showing results for drones",
                        },
                        {
                            "color": YELLOW,
                            "title": "Drone Technology",
                            "url": "https://example.com/story",
                            "description": "Example News · 2026-11-24\n\nCertification of drone components.",
                            "fields": [{"name": "Agreements", "value": "• Pax Silica Declaration"}],
                            "footer": {"text": "page 1 of 2"},
                        },
                    ],
                    "allowed_mentions": NO_PINGS,
                }
            ],
            id="item with link, meta, part and page",
        ),
        pytest.param(
            Reply(
                title="*Breaking*",
                text="@everyone see [x](http://evil) <@123> <#9> <@&7>\n> quoted\n# big\n- item\n1. first",
                tone="error",
            ),
            [
                {
                    "embeds": [
                        {
                            "color": RED,
                            "title": "\\*Breaking\\*",
                            "description": (
                                f"@{ZWSP}everyone see \\[x\\](http://evil) <{ZWSP}@123\\> <{ZWSP}\\#9\\> "
                                f"<{ZWSP}@&7\\>\n\\> quoted\n\\# big\n\\- item\n1\\. first"
                            ),
                        }
                    ],
                    "allowed_mentions": NO_PINGS,
                }
            ],
            id="markdown and mentions escaped",
        ),
        pytest.param(
            Reply(title=""),
            [{"embeds": [{"color": BLURPLE, "description": "\u200b"}], "allowed_mentions": NO_PINGS}],
            id="empty reply still makes a valid message",
        ),
    ],
)
def test_renders_exact_bodies(reply: Reply, expected: list[dict[str, Any]]) -> None:
    assert render_reply(reply) == expected


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("snake_case and 2*3*4", "snake\\_case and 2\\*3\\*4"),
        ("~~gone~~ ||spoiler|| `code`", "\\~\\~gone\\~\\~ \\|\\|spoiler\\|\\| \\`code\\`"),
        ("a \\ backslash \\*", "a \\\\ backslash \\\\\\*"),
        ("well-known U.S.-Taiwan ties", "well-known U.S.-Taiwan ties"),
        ("in 2020. The talks", "in 2020\\. The talks"),
        ("https://example.com/a_b*c?x=1&y=2.", "https://example.com/a_b*c?x=1&y=2."),
        ("(see https://example.com/x_y)", "(see https://example.com/x_y)"),
        ("emoji 🙂 and שלום and مرحبا", "emoji 🙂 and שלום and مرحبا"),
    ],
)
def test_content_renders_literally(text: str, shown: str) -> None:
    [body] = render_reply(Reply(title="t", text=text))
    assert body["embeds"][0]["description"] == shown
    assert unescape(shown) == text


@pytest.mark.parametrize(("tone", "colour"), [("info", BLURPLE), ("warning", YELLOW), ("error", RED)])
def test_every_embed_is_coloured_by_tone(tone: Any, colour: int) -> None:
    reply = Reply(title="t", tone=tone, items=[Item(title=f"i{n}", text="x " * 3000) for n in range(3)])
    assert {e["color"] for body in render_reply(reply) for e in body["embeds"]} == {colour}


# -- splitting ----------------------------------------------------------------------------------


def test_a_long_part_continues_in_fields_marked_continued() -> None:
    text = " ".join(f"Sentence {n} about drones at https://example.com/{n}." for n in range(400))
    reply = Reply(title="t", items=[Item(title="Story", parts=[Part(title="Drone Technology", text=text)])])
    bodies = render_reply(reply)
    fields = [f for body in bodies for e in body["embeds"] for f in e.get("fields", [])]
    assert len(fields) > 10
    assert fields[0]["name"] == "Drone Technology"
    assert {f["name"] for f in fields[1:]} == {"Drone Technology (cont.)"}
    for f in fields:
        assert len(f["value"]) <= FIELD_VALUE_MAX
        assert f["value"].endswith("."), "a field ends at a sentence end"
    assert all(f"https://example.com/{n}." in reading_order(bodies) for n in range(400))
    assert_all_words_kept(DISCORD, reply, bodies)
    assert all(problems(b) == [] for b in bodies)


def test_forty_parts_continue_in_a_second_embed() -> None:
    parts = [Part(title=f"Topic {n}", text=f"Text {n}.") for n in range(40)]
    [body] = render_reply(
        Reply(title="t", items=[Item(title="Story", url="https://example.com/s", parts=parts)])
    )
    story, more = body["embeds"][1:]
    assert len(story["fields"]) == EMBED_FIELDS_MAX
    assert more["title"] == "Story (cont.)"
    assert more["url"] == "https://example.com/s"
    assert [f["name"] for f in more["fields"]] == [f"Topic {n}" for n in range(25, 40)]


def test_text_beyond_one_message_continues_in_the_next_with_the_footer_last() -> None:
    items = [Item(title=f"Story {n}", text="Lede sentence. " * 150) for n in range(12)]
    bodies = render_reply(Reply(title="Digest", items=items, footer="newsbot", page=2, pages=3))
    assert len(bodies) > 1
    assert all(problems(b) == [] for b in bodies)
    footers = [e.get("footer") for body in bodies for e in body["embeds"]]
    assert footers[-1] == {"text": "newsbot · page 2 of 3"}
    assert footers[:-1] == [None] * (len(footers) - 1)


def test_a_long_title_is_clipped_and_given_in_full_below() -> None:
    title = "Taiwan and US deepen their partnership " * 10
    [body] = render_reply(Reply(title="t", items=[Item(title=title, text="Lede.")]))
    embed = body["embeds"][1]
    assert len(embed["title"]) <= EMBED_TITLE_MAX
    assert embed["title"].endswith("…")
    assert embed["description"] == title.strip() + "\n\nLede."


def test_an_unbreakable_token_is_cut_into_marked_pieces_and_nothing_is_lost() -> None:
    token = "https://example.com/" + "q" * 5000
    reply = Reply(
        title="t", items=[Item(title="Story", text="y" * 5000, parts=[Part(title="Link", text=token)])]
    )
    bodies = render_reply(reply)
    seen = reading_order(bodies)
    assert seen.replace("…", "").replace("\n", "").count("y") == 5000
    values = [f["value"] for body in bodies for e in body["embeds"] for f in e.get("fields", [])]
    assert all(v.endswith("…") for v in values[:-1])
    assert "".join(v.removesuffix("…") for v in values) == token
    assert all(problems(b) == [] for b in bodies)


def test_a_url_stays_a_link_unless_it_could_mention_someone() -> None:
    text = "see https://example.com/a_b and https://example.com/@everyone/x"
    [body] = render_reply(Reply(title="t", text=text))
    assert (
        body["embeds"][0]["description"]
        == f"see https://example.com/a_b and https://example.com/@{ZWSP}everyone/x"
    )


def test_titles_and_field_names_are_single_lines() -> None:
    reply = Reply(
        title="Daily\ndigest", items=[Item(title="Two\n\nlines", parts=[Part(title="A\nB", text="x")])]
    )
    [body] = render_reply(reply)
    intro, story = body["embeds"]
    assert (intro["title"], story["title"], story["fields"][0]["name"]) == (
        "Daily digest",
        "Two lines",
        "A B",
    )


def test_an_unusable_link_is_shown_as_text_not_linked() -> None:
    [body] = render_reply(Reply(title="t", items=[Item(title="Story", url="javascript:alert(1)")]))
    embed = body["embeds"][1]
    assert "url" not in embed
    assert embed["description"] == "Link: javascript:alert(1)"


def test_a_digest_lists_agreements_before_sections() -> None:
    bodies = render_digest(drone_digest())
    names = [f["name"] for f in bodies[0]["embeds"][1]["fields"]]
    assert names == ["Agreements", "Drone Technology"]


def _cut_notice(bodies: list[dict[str, Any]]) -> str:
    notice = bodies[-1]["embeds"][-1]["description"]
    assert notice.startswith("✂ Cut here")
    return str(notice)


def test_a_cut_notice_links_the_source_with_its_parentheses_encoded() -> None:
    # A ")" inside a masked link would end the link early and show the rest of the URL as text.
    story = Item(title="Drone", url="https://en.wikipedia.org/wiki/Drone_(aircraft)", text="word " * 60_000)
    notice = _cut_notice(render_reply(Reply(title="Alert", items=[story])))
    assert "[Read the rest at the source](https://en.wikipedia.org/wiki/Drone_%28aircraft%29)." in notice


def test_a_long_lede_continues_in_an_embed_titled_and_linked_like_its_story() -> None:
    story = Item(title="Drone rules", url="https://example.com/s", text="Lede sentence. " * 600)
    embeds = [e for body in render_reply(Reply(title="t", items=[story])) for e in body["embeds"]]
    first, more = embeds[1:3]
    assert (first["title"], first["url"]) == ("Drone rules", "https://example.com/s")
    assert (more["title"], more["url"]) == ("Drone rules (cont.)", "https://example.com/s")


ESCAPED_RUN = re.compile(r"(?:\\[*_]|\n|a)*")  # "\*" and "\_" pairs only: no escape split from its character


@pytest.mark.parametrize("lead", ["", "a"])  # cuts land at even and at odd offsets into the pairs
def test_a_run_of_markdown_characters_cut_to_fit_keeps_every_escape_whole(lead: str) -> None:
    # Cut between "\" and "*", a piece would end in a lone backslash and the next start with a bare "*":
    # the reader sees stray backslashes and italics where the text had asterisks.
    run = lead + "*_" * 1500
    bodies = render_reply(Reply(title="t", items=[Item(title=run, parts=[Part(title=run, text=run)])]))
    embeds = [e for body in bodies for e in body["embeds"]][1:]
    pieces = [e["title"] for e in embeds] + [e.get("description", "") for e in embeds]
    pieces += [v for e in embeds for f in e.get("fields", []) for v in (f["name"], f["value"])]
    assert len(pieces) > 10
    for piece in pieces:
        bare = piece.removesuffix(" (cont.)").removesuffix("…")
        assert ESCAPED_RUN.fullmatch(bare), f"an escape was split: {piece[-20:]!r}"


def test_a_reply_of_many_short_stories_keeps_a_place_for_the_cut_notice_in_every_message() -> None:
    # Nine embeds a message: the tenth place is kept for the cut notice, whichever message it ends.
    items = [Item(title=f"Story {n}", text="Short.") for n in range(60)]
    bodies = render_reply(Reply(title="Alert", items=items))
    assert all(problems(b) == [] for b in bodies)
    assert [len(b["embeds"]) for b in bodies] == [9] * (MESSAGES_PER_REPLY_MAX - 1) + [10]
    shown = MESSAGES_PER_REPLY_MAX * 9 - 1  # every embed but the reply's opening one is a story
    assert f" {60 - shown} more not shown." in _cut_notice(bodies)


def test_stories_with_long_titles_never_overfill_a_message() -> None:
    items = [Item(title=f"{n} " + "title " * 45, text="word " * 100) for n in range(30)]
    bodies = render_reply(Reply(title="Alert", items=items))
    assert len(bodies) > 1
    assert all(problems(b) == [] for b in bodies)


# -- the character budget, to the last character ---------------------------------------------------------
# A message may carry EMBEDS_TOTAL_MAX characters; the renderer keeps CUT_NOTICE_MAX of them (and the footer's)
# free, so the cut notice and the footer fit wherever the reply ends. What is left is filled to the last
# character: a message continued one character early is a message more, and a cut five messages sooner.
ROOM = EMBEDS_TOTAL_MAX - CUT_NOTICE_MAX


def _characters(body: dict[str, Any]) -> int:
    return sum(
        len(e.get("title", "")) + len(e.get("description", "")) + len(e.get("footer", {}).get("text", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in e.get("fields", []))
        for e in body["embeds"]
    )  # fmt: skip


@pytest.mark.parametrize(
    "items",
    [
        pytest.param(
            [Item(title="A", text="x" * (ROOM // 2 - 1)), Item(title="B", text="y" * (ROOM // 2 - 1))],
            id="two stories' descriptions",
        ),
        pytest.param(
            [Item(title="A", text="x" * (ROOM // 2 - 1)), Item(title="B", text="y" * (ROOM // 2 - 2)), Item(title="C")],
            id="a last story that is only a title",
        ),
        pytest.param(
            [
                Item(
                    title="S",
                    parts=[Part(title="P", text="z" * (FIELD_VALUE_MAX - 1))] * 5
                    + [Part(title="Q", text="z" * (ROOM - 1 - 5 * FIELD_VALUE_MAX - 1))],
                )
            ],
            id="one story's fields",
        ),
    ],
)  # fmt: skip
def test_stories_that_fill_a_message_to_its_last_character_are_sent_as_one_message(items: list[Item]) -> None:
    [body] = render_reply(Reply(title="", items=items))
    assert _characters(body) == ROOM
    assert problems(body) == []


def test_stories_one_character_over_a_message_continue_in_a_second() -> None:
    items = [Item(title="A", text="x" * (ROOM // 2 - 1)), Item(title="B", text="y" * (ROOM // 2))]
    first, second = render_reply(Reply(title="", items=items))
    assert [e["title"] for e in first["embeds"]] == ["A"]
    assert [e["title"] for e in second["embeds"]] == ["B"]


def test_the_footer_takes_its_characters_from_every_message() -> None:
    footer = "newsbot " * 50
    items = [
        Item(title="A", text="x" * (ROOM // 2 - 1)),
        Item(title="B", text="y" * (ROOM // 2 - 1 - len(footer.strip()))),
    ]
    [body] = render_reply(Reply(title="", items=items, footer=footer))
    assert _characters(body) == EMBEDS_TOTAL_MAX - CUT_NOTICE_MAX
    assert len(render_reply(Reply(title="", items=[*items, Item(title="C")], footer=footer))) == 2


def test_a_cut_reply_with_a_long_footer_and_title_keeps_its_last_message_within_the_total() -> None:
    # The longest description must leave room for a full-length title above it, as well as for the footer
    # and the cut notice, in whichever message is last.
    story = Item(title="A very long story title " * 12, url="https://example.com/s", text="word " * 60_000)
    bodies = render_reply(Reply(title="Alert", items=[story], footer="f " * 1_000))
    assert len(bodies) == MESSAGES_PER_REPLY_MAX
    assert all(problems(b) == [] for b in bodies)
    assert max(len(e.get("description", "")) for b in bodies for e in b["embeds"]) > 3_000


def test_a_compact_cards_lines_read_one_a_line_with_the_areas_title_in_bold_and_summary_text_escaped() -> (
    None
):
    card = drone_card("Certification @everyone of <@123> parts.")
    [body] = render_reply(Reply(title="", items=[card]))
    assert body["embeds"][0]["description"] == (
        "Lede.\n\n"
        f"**Drone \\*Technology\\*** Certification @{ZWSP}everyone of <{ZWSP}@123\\> parts.\n"
        "A line without an area: 2\\*3.\n"
        "**Agreements**\n"
        "**Chips** Export\\_rules tighten."
    )
    assert problems(body) == []


def test_a_story_of_fields_only_moves_whole_to_the_next_message_when_its_first_field_does_not_fit() -> None:
    # Its title alone would fit; left at the end of the first message it would read as a story with nothing in it.
    items = [
        Item(title="A", text="x" * (ROOM // 2 - 1)),
        Item(title="B", text="y" * 2_000),
        Item(title="C", parts=[Part(title="Area", text="z" * 1_000)]),
    ]
    first, second = render_reply(Reply(title="", items=items))
    assert [e["title"] for e in first["embeds"]] == ["A", "B"]
    assert second["embeds"][0]["title"] == "C"
    assert second["embeds"][0]["fields"] == [{"name": "Area", "value": "z" * 1_000}]
