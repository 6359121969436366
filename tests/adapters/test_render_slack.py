"""Slack chat.postMessage arguments: exact payloads, escaping, splitting and Block Kit's limits."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from bot.adapters.slack.render import CUT_NOTICE_MAX, render_digest, render_reply
from bot.core.reply import Item, Part, Reply
from tests.adapters.payload_tools import ZWSP
from tests.adapters.render_cases import assert_all_words_kept, drone_card, drone_digest, drone_story
from tests.adapters.slack_checks import BLOCK_TEXT_BUDGET, POST, SLACK, problems, unescape
from tests.fakes.slack import HEADER_TEXT_MAX, MESSAGE_BLOCKS_MAX, SECTION_TEXT_MAX, TEXT_OBJECT_MAX


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": False}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


DIVIDER = {"type": "divider"}


# -- exact bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            Reply(title="Topics", text="• Drones (drones) — 1 story", footer="Ask with /news topic drones"),
            [
                {
                    "text": "Topics — • Drones (drones) — 1 story",
                    "blocks": [
                        header("Topics"),
                        section("• Drones (drones) — 1 story"),
                        context("Ask with /news topic drones"),
                    ],
                    **POST,
                }
            ],
            id="text only",
        ),
        pytest.param(
            Reply(
                title="Topic: Drones",
                notice="Showing results for drones",
                items=[drone_story("https://example.com/story?a=1&b=2")],
                page=1,
                pages=2,
            ),
            [
                {
                    "text": "Topic: Drones",
                    "blocks": [
                        header("Topic: Drones"),
                        context("Showing results for drones"),
                        DIVIDER,
                        section("*<https://example.com/story?a=1&amp;b=2|Drone Technology>*"),
                        context("Example News · 2026-11-24"),
                        section("Certification of drone components."),
                        section("*Agreements*\n• Pax Silica Declaration"),
                        context("page 1 of 2"),
                    ],
                    **POST,
                }
            ],
            id="item with link, meta, part and page",
        ),
        pytest.param(
            Reply(
                title="<!channel> *Breaking*",
                text="<!here> @everyone <@U123ABC> *bold* _it_ ~s~ `c` & co\n> quoted [x](http://evil)",
            ),
            [
                {
                    "text": (
                        "&lt;!channel&gt; ∗Breaking∗ — &lt;!here&gt; @\u200beveryone &lt;@U123ABC&gt; ∗bold∗ "
                        "ˍitˍ ∼s∼ ˋcˋ &amp; co \u200b&gt; quoted [x](<http://evil>)"
                    ),
                    "blocks": [
                        header("<\u200b!channel> *Breaking*"),
                        section(
                            "&lt;!here&gt; @\u200beveryone &lt;@U123ABC&gt; ∗bold∗ ˍitˍ ∼s∼ ˋcˋ &amp; co\n"
                            "\u200b&gt; quoted [x](<http://evil>)"
                        ),
                    ],
                    **POST,
                }
            ],
            id="mrkdwn and mentions neutralised",
        ),
        pytest.param(
            Reply(title=""),
            [{"text": "newsbot", "blocks": [section("\u200b")], **POST}],
            id="empty reply still makes a valid message",
        ),
    ],
)
def test_renders_exact_bodies(reply: Reply, expected: list[dict[str, Any]]) -> None:
    assert render_reply(reply) == expected


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("snake_case and 2*3*4", "snakeˍcase and 2∗3∗4"),
        # a ">" that starts a word gets a zero-width space: a split may put it first on a line (a quote)
        ("a < b && c > d", "a &lt; b &amp;&amp; c \u200b&gt; d"),
        ("a<b>c", "a&lt;b&gt;c"),
        ("&amp; stays literal", "&amp;amp; stays literal"),
        ("see https://example.com/a_b*c?x=1&y=2.", "see <https://example.com/a_b*c?x=1&amp;y=2>."),
        ("<!date^1392734382^{date}|Feb 18>", "&lt;!date^1392734382^{date}|Feb 18&gt;"),
        ("emoji 🙂 and שלום and مرحبا", "emoji 🙂 and שלום and مرحبا"),
    ],
)
def test_content_renders_literally(text: str, shown: str) -> None:
    [body] = render_reply(Reply(title="t", text=text))
    assert body["blocks"][1]["text"]["text"] == shown
    assert unescape(shown) == text


def test_a_long_title_is_clipped_in_the_header_and_given_in_full_below() -> None:
    title = "Taiwan and US deepen their strategic technology partnership " * 4
    [body] = render_reply(Reply(title=title, text="Intro."))
    head, first = body["blocks"][:2]
    assert len(head["text"]["text"]) <= HEADER_TEXT_MAX
    assert head["text"]["text"].endswith("…")
    assert first["text"]["text"] == title.strip() + "\n\nIntro."


def test_a_pipe_in_a_link_label_does_not_break_the_link() -> None:
    [body] = render_reply(Reply(title="t", items=[Item(title="A | B", url="https://example.com/s")]))
    assert body["blocks"][2]["text"]["text"] == "*<https://example.com/s|A ∣ B>*"


def test_a_url_in_a_linked_title_stays_text_so_the_link_stays_whole() -> None:
    item = Item(title="See https://example.com/x_y now", url="https://example.com/s")
    [body] = render_reply(Reply(title="t", items=[item]))
    assert body["blocks"][2] == section("*<https://example.com/s|See https://example.com/xˍy now>*")


def test_a_part_without_text_keeps_its_title() -> None:
    [body] = render_reply(
        Reply(title="t", items=[Item(title="Story", parts=[Part(title="Agreements", text=" ")])])
    )
    assert body["blocks"][2:] == [section("*Story*"), section(f"*Agreements*\n{ZWSP}")]


def test_a_link_too_long_once_escaped_is_shown_as_text_and_split_between_entities() -> None:
    url = "https://example.com/?" + "&" * 1900  # under 2,000 characters, but 9,500 once "&" is "&amp;"
    reply = Reply(title="t", items=[Item(title="Story", url=url, text=f"Also {url} here.")])
    bodies = render_reply(reply)
    assert all(problems(b) == [] for b in bodies)
    texts = [b["text"]["text"] for body in bodies for b in body["blocks"] if b["type"] == "section"]
    assert texts[0] == "*Story*"
    assert not any("<https://example.com/?" in t for t in texts)
    for t in texts:
        assert not re.search(r"&(?!amp;|lt;|gt;)", t), "a cut never splits an entity"
    shown = "".join(unescape("".join(texts[1:])).replace("…", "").split())
    assert shown == f"Link:{url}Also{url}here."


def test_an_unusable_link_is_shown_as_text_not_linked() -> None:
    [body] = render_reply(Reply(title="t", items=[Item(title="Story", url="javascript:alert(1)")]))
    assert body["blocks"][2:] == [section("*Story*"), section("Link: javascript:alert(1)")]


# -- splitting ----------------------------------------------------------------------------------


def test_a_long_part_continues_in_sections_marked_continued() -> None:
    text = " ".join(f"Sentence {n} about drones at https://example.com/{n}." for n in range(400))
    reply = Reply(title="t", items=[Item(title="Story", parts=[Part(title="Drone Technology", text=text)])])
    bodies = render_reply(reply)
    texts = [b["text"]["text"] for body in bodies for b in body["blocks"] if b["type"] == "section"][1:]
    assert len(texts) > 3
    assert texts[0].startswith("*Drone Technology*\n")
    assert all(t.startswith("*Drone Technology (cont.)*\n") for t in texts[1:])
    assert all(t.endswith(">.") for t in texts), "a section ends at a sentence end, never inside a link"
    assert_all_words_kept(SLACK, reply, bodies)
    assert all(problems(b) == [] for b in bodies)


def test_more_than_fifty_blocks_continue_in_a_message_that_says_what_it_continues() -> None:
    parts = [Part(title=f"Topic {n}", text=f"Text {n}.") for n in range(60)]
    reply = Reply(title="Digest", items=[Item(title="Story", parts=parts)], footer="newsbot")
    first, second = render_reply(reply)
    assert len(first["blocks"]) == MESSAGE_BLOCKS_MAX - 1  # room kept for the footer
    assert second["blocks"][0] == context("Story (cont.)")
    assert second["blocks"][-1] == context("newsbot")
    assert context("newsbot") not in first["blocks"]
    assert second["text"] == "Digest (cont. 2/2)"
    assert all(problems(b) == [] for b in (first, second))


def test_a_message_that_opens_with_a_new_story_has_no_divider_on_top() -> None:
    # header, divider, title and 47 parts fill the first message exactly
    full = Item(title="A", parts=[Part(title=f"Topic {n}", text="x") for n in range(47)])
    first, second = render_reply(Reply(title="t", items=[full, Item(title="B", text="y")]))
    assert len(first["blocks"]) == MESSAGE_BLOCKS_MAX
    assert second["blocks"] == [section("*B*"), section("y")]


def test_a_long_introduction_continues_under_the_reply_title() -> None:
    bodies = render_reply(Reply(title="Topics", text="Drones and chips. " * 1500))
    assert len(bodies) == 3
    assert [b["blocks"][0] for b in bodies[1:]] == [context("Topics (cont.)")] * 2
    assert all(problems(b) == [] for b in bodies)


def test_text_beyond_the_message_cap_continues_in_the_next_message() -> None:
    items = [Item(title=f"Story {n}", text="Lede sentence. " * 180) for n in range(10)]
    bodies = render_reply(Reply(title="Digest", items=items))
    assert len(bodies) > 1
    assert all(problems(b) == [] for b in bodies)
    assert all(b["blocks"][-1]["type"] != "divider" for b in bodies)


def test_an_unbreakable_token_is_cut_into_marked_pieces_and_nothing_is_lost() -> None:
    token = "&<>" * 2000
    reply = Reply(
        title="t", items=[Item(title="Story", text="y" * 5000, parts=[Part(title="Odd", text=token)])]
    )
    bodies = render_reply(reply)
    assert all(problems(b) == [] for b in bodies)
    texts = [b["text"]["text"] for body in bodies for b in body["blocks"] if b["type"] == "section"]
    for t in texts:
        assert not re.search(r"&(?!amp;|lt;|gt;)", t), "a cut never splits an entity"
    assert_all_words_kept(SLACK, reply, bodies)


def test_a_digest_reads_as_one_message_with_a_summary_fallback() -> None:
    [body] = render_digest(drone_digest())
    assert body["text"] == "Daily digest — 1 story · 2026-11-24"
    assert section("*Drone Technology*\nCertification of drone components.") in body["blocks"]


@pytest.mark.parametrize("lead", ["", "1", "12", "123", "1234"])  # the cut lands at every offset into "&amp;"
def test_a_linked_title_of_ampersands_is_cut_between_entities_and_given_in_full_below(lead: str) -> None:
    title = lead + "&" * 400
    story = Item(title=title, url="https://example.com/a", text="word " * 9000)
    first, second, *_ = render_reply(Reply(title="t", items=[story]))
    heading, below = [b["text"]["text"] for b in first["blocks"] if b["type"] == "section"][:2]
    label = heading.removeprefix("*<https://example.com/a|").removesuffix(">*")
    resumed = second["blocks"][0]["elements"][0]["text"].removesuffix(" (cont.)")  # atop the next message
    for shown in (label, resumed):
        assert re.fullmatch(re.escape(lead) + "&*…", html.unescape(shown)), (
            f"an entity was cut: {shown[-12:]!r}"
        )
    assert html.unescape(below).startswith(title)  # the reader still gets the whole title


# -- the text cap, to the last character -----------------------------------------------------------------
# A message's blocks carry at most 12,000 characters; the renderer keeps CUT_NOTICE_MAX of them (and the
# footer's) free, so the cut notice and the footer fit wherever the reply ends. What is left is filled to the
# last character: a message continued one character early is a message more, and a cut five messages sooner.
ROOM = BLOCK_TEXT_BUDGET - CUT_NOTICE_MAX


def _characters(body: dict[str, Any]) -> int:
    return sum(
        len(t["text"])
        for b in body["blocks"]
        for t in ([b["text"]] if "text" in b else b.get("elements", []))
    )


def _filling(room: int) -> list[Item]:
    """Stories whose title lines ("*A*") and texts add up to exactly `room` characters."""
    stories = [Item(title=name, text="x" * (SECTION_TEXT_MAX - 3)) for name in "ABC"]
    return [*stories, Item(title="D", text="y" * (room - 3 * SECTION_TEXT_MAX - 3))]


def test_stories_that_fill_a_message_to_its_last_character_are_sent_as_one_message() -> None:
    [body] = render_reply(Reply(title="", items=_filling(ROOM)))
    assert _characters(body) == ROOM
    assert problems(body) == []


def test_stories_one_character_over_a_message_continue_in_a_second() -> None:
    first, second = render_reply(Reply(title="", items=_filling(ROOM + 1)))
    assert first["blocks"][-1] == section("*D*")
    assert second["blocks"] == [context("D (cont.)"), section("y" * (ROOM + 1 - 3 * SECTION_TEXT_MAX - 3))]


def test_the_footer_takes_its_characters_from_every_message() -> None:
    footer = "newsbot " * 50
    [body] = render_reply(Reply(title="", items=_filling(ROOM - len(footer.strip())), footer=footer))
    assert _characters(body) == ROOM
    assert body["blocks"][-1] == context(footer.strip())
    assert (
        len(render_reply(Reply(title="", items=_filling(ROOM - len(footer.strip()) + 1), footer=footer))) == 2
    )


def test_a_message_that_ends_before_a_new_story_does_not_end_with_its_divider() -> None:
    # header, divider, title and 46 parts: 49 blocks, so the next story's divider would be the 50th and its
    # title the first of the next message.
    full = Item(title="A", parts=[Part(title=f"Topic {n}", text="x") for n in range(46)])
    first, second = render_reply(Reply(title="t", items=[full, Item(title="B", text="y")]))
    assert len(first["blocks"]) == MESSAGE_BLOCKS_MAX - 1
    assert first["blocks"][-1] == section("*Topic 45*\nx")
    assert second["blocks"] == [section("*B*"), section("y")]


def test_a_compact_cards_lines_read_one_a_line_with_the_areas_title_in_bold_and_summary_text_escaped() -> (
    None
):
    card = drone_card("Certification <!here> of <@U123ABC> parts.")
    [body] = render_reply(Reply(title="", items=[card]))
    assert body["blocks"] == [
        section("*Drone rules*"),
        section(
            "Lede.\n\n"
            "*Drone ∗Technology∗* Certification &lt;!here&gt; of &lt;@U123ABC&gt; parts.\n"
            "A line without an area: 2∗3.\n"
            "*Agreements*\n"
            "*Chips* Exportˍrules tighten."
        ),
    ]
    assert problems(body) == []


def test_a_story_that_continues_a_message_later_fills_that_message_to_its_last_character() -> None:
    # D's text moves to the second message under "D (cont.)"; E, F and G then fill what is left exactly.
    second_room = ROOM - len("D (cont.)") - (ROOM + 1 - 3 * SECTION_TEXT_MAX - 3)
    more = [Item(title=name, text="x" * (SECTION_TEXT_MAX - 3)) for name in "EF"]
    last = second_room - 2 * SECTION_TEXT_MAX - 3
    exact = render_reply(
        Reply(title="", items=[*_filling(ROOM + 1), *more, Item(title="G", text="z" * last)])
    )
    assert len(exact) == 2
    assert _characters(exact[1]) == ROOM
    over = render_reply(
        Reply(title="", items=[*_filling(ROOM + 1), *more, Item(title="G", text="z" * (last + 1))])
    )
    assert len(over) == 3
    assert over[2]["blocks"][0] == context("G (cont.)")


# -- what a reader sees at the edges ---------------------------------------------------------------
# newsbot's own promises, stated here rather than read from bot/: a notification is a summary of at most
# NOTIFICATION_MAX characters, a title line at most TITLE_LINE_MAX, and a URL up to LINK_MAX is a link.
NOTIFICATION_MAX = 300
TITLE_LINE_MAX = 300
LINK_MAX = 2000


def test_each_continuation_notification_is_a_short_summary_that_says_which_message_it_is() -> None:
    title = "Taiwan and US deepen their strategic technology partnership " * 8
    bodies = render_reply(Reply(title=title, text="Drones and chips. " * 1500))
    assert len(bodies) == 3
    assert all(len(b["text"]) <= NOTIFICATION_MAX for b in bodies)
    assert bodies[1]["text"].startswith("Taiwan and US deepen")
    assert [b["text"][-12:] for b in bodies[1:]] == [" (cont. 2/3)", " (cont. 3/3)"]


def test_the_line_atop_a_continued_story_stays_one_title_line_long() -> None:
    title = "Taiwan and US deepen their strategic technology partnership " * 8
    _, second, *_ = render_reply(Reply(title="t", items=[Item(title=title, text="word " * 3000)]))
    resumed = second["blocks"][0]["elements"][0]["text"]
    assert resumed.startswith("Taiwan and US deepen")
    assert resumed.endswith("… (cont.)")
    assert len(resumed) <= TITLE_LINE_MAX


@pytest.mark.parametrize("lead", ["", "1", "12", "123", "1234"])  # the cut lands at every offset into "&amp;"
def test_a_footer_too_long_for_its_line_is_cut_between_entities(lead: str) -> None:
    [body] = render_reply(Reply(title="t", text="x", footer=lead + "&" * 4000))
    shown = body["blocks"][-1]["elements"][0]["text"]
    assert len(shown) <= TEXT_OBJECT_MAX
    assert re.fullmatch(re.escape(lead) + "(&amp;)*…", shown), f"an entity was cut: {shown[-12:]!r}"
    assert problems(body) == []


def test_a_footer_and_the_page_read_together_on_the_last_line() -> None:
    [body] = render_reply(Reply(title="t", text="x", footer="Ask with /news topic drones", page=2, pages=3))
    assert body["blocks"][-1] == context("Ask with /news topic drones · page 2 of 3")


def test_a_url_of_the_longest_linked_length_is_a_link_and_one_character_longer_is_text() -> None:
    url = "https://example.com/" + "a" * (LINK_MAX - len("https://example.com/"))
    [linked] = render_reply(Reply(title="t", text=f"See {url} now."))
    assert linked["blocks"][1] == section(f"See <{url}> now.")
    [longer] = render_reply(Reply(title="t", text=f"See {url}b now."))
    assert f"<{url}" not in longer["blocks"][1]["text"]["text"]


def test_an_untitled_replys_notification_names_its_first_story() -> None:
    [body] = render_reply(Reply(title="", items=[Item(title="Drones *rise*", text="x"), Item(title="Chips")]))
    assert body["text"] == "Drones ∗rise∗"


@pytest.mark.parametrize("where", ["notice", "meta"])
def test_a_line_of_the_longest_length_is_a_context_line_and_a_longer_one_is_read_in_full_as_text(
    where: str,
) -> None:
    def reply(line: str) -> Reply:
        if where == "notice":
            return Reply(title="t", notice=line)
        return Reply(title="t", items=[Item(title="Story", meta=line)])

    longest = "n" * TEXT_OBJECT_MAX
    [body] = render_reply(reply(longest))
    assert context(longest) in body["blocks"]
    longer = "word " * (TEXT_OBJECT_MAX // 5) + "end"
    bodies = render_reply(reply(longer))
    assert not any(b["type"] == "context" for body in bodies for b in body["blocks"])
    shown = " ".join(b["text"]["text"] for body in bodies for b in body["blocks"] if b["type"] == "section")
    assert " ".join(shown.split()).endswith(" ".join(longer.split()))
    assert all(problems(b) == [] for b in bodies)


def test_a_long_introduction_continues_in_sections_of_its_own_text_only() -> None:
    text = "Drones and chips. " * 400
    [body] = render_reply(Reply(title="Topics", text=text))
    sections = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    assert len(sections) == 3
    assert " ".join(sections) == text.strip()


def test_a_reply_cut_after_five_full_messages_keeps_each_within_the_block_limit_and_counts_the_rest() -> None:
    stories = [Item(title=f"S{n}") for n in range(200)]
    bodies = render_reply(Reply(title="t", items=stories))
    assert len(bodies) == 5
    assert all(len(b["blocks"]) <= MESSAGE_BLOCKS_MAX for b in bodies)
    shown = sum(
        1 for b in bodies for block in b["blocks"] if block in [section(f"*S{n}*") for n in range(200)]
    )
    notice = bodies[-1]["blocks"][-1]["elements"][0]["text"]
    assert f" {200 - shown} more not shown." in notice
    assert all(problems(b) == [] for b in bodies)


@pytest.mark.parametrize("lead", ["", "1", "12", "123", "1234"])  # the cut lands at every offset into "&amp;"
def test_a_part_title_too_long_for_its_line_is_cut_between_entities_and_given_in_full_below(
    lead: str,
) -> None:
    title = lead + "&" * 400
    [body] = render_reply(
        Reply(title="t", items=[Item(title="Story", parts=[Part(title=title, text="Body.")])])
    )
    heading, below = body["blocks"][3]["text"]["text"].split("\n", 1)
    assert re.fullmatch(r"\*" + re.escape(lead) + r"(&amp;)*…\*", heading), (
        f"an entity was cut: {heading[-12:]!r}"
    )
    assert html.unescape(below) == f"{title}\n\nBody."


def test_a_part_without_a_title_shows_its_text_without_an_empty_heading() -> None:
    [body] = render_reply(Reply(title="t", items=[Item(title="Story", parts=[Part(title="", text="Body.")])]))
    assert body["blocks"][2:] == [section("*Story*"), section("Body.")]


def test_a_url_in_an_unlinked_title_is_a_link_of_its_own() -> None:
    [body] = render_reply(Reply(title="t", items=[Item(title="See https://example.com/x_y now")]))
    assert body["blocks"][2] == section("*See <https://example.com/x_y> now*")
