"""Slack chat.postMessage arguments: exact payloads, escaping, splitting and Block Kit's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.adapters.slack import render
from bot.adapters.slack.render import render_digest, render_reply
from bot.core.digest import Digest, DigestEntry, DigestSection, digest_reply
from bot.core.reply import Item, Part, Reply
from tests.adapters.payload_tools import (
    LONG_URL,
    ZWSP,
    digest_texts,
    digest_titles,
    digests,
    hostile_digest,
    hostile_replies,
    hostile_text,
    replies,
    run_checker,
)

_MENTION = re.compile(r"<!(channel|here|everyone|subteam\^)|<@[UW][A-Z0-9]+")
_LINK = re.compile(r"<(https?://[^|>]*)>")
_LABELLED_LINK = re.compile(r"<https?://[^|>]*\|([^>]*)>")
_LOOKS_BACK = str.maketrans({"\u2217": "*", "\u02cd": "_", "\u223c": "~", "\u02cb": "`", "\u2223": "|"})
POST = {"unfurl_links": False, "unfurl_media": False}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": False}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


DIVIDER = {"type": "divider"}


# -- checks a user of the bodies relies on ------------------------------------------------------


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def problems(body: dict[str, Any]) -> list[str]:
    """Return every way `body` breaks Block Kit's limits or could ping (empty when it is fine)."""
    found: list[str] = []
    if set(body) != {"text", "blocks", *POST}:
        found.append(f"unexpected keys {sorted(body)}")
    if any(body.get(k) is not False for k in POST):
        found.append("links or media would unfurl")
    if not body.get("text", "").strip():
        found.append("empty fallback text")
    blocks = body["blocks"]
    if not 1 <= len(blocks) <= render.MESSAGE_BLOCKS_MAX:
        found.append(f"{len(blocks)} blocks")
    total = 0
    for i, b in enumerate(blocks):
        try:
            parsed = Block.parse(b)
            if parsed is None:
                found.append(f"block {i}: unknown type {b.get('type')!r}")
            else:
                parsed.validate_json()
        except SlackObjectFormationError as e:
            found.append(f"block {i}: {e}")
        texts = [b["text"]] if "text" in b else []
        texts += b.get("elements", []) + b.get("fields", [])
        if b["type"] == "header" and len(b["text"]["text"]) > render.HEADER_TEXT_MAX:
            found.append(f"block {i}: header too long")
        if b["type"] == "section" and not 0 < len(b["text"]["text"]) <= render.SECTION_TEXT_MAX:
            found.append(f"block {i}: section text {len(b['text']['text'])}")
        if len(b.get("fields", [])) > render.SECTION_FIELDS_MAX or len(b.get("elements", [])) > 10:
            found.append(f"block {i}: too many fields or elements")
        for t in texts:
            if len(t["text"]) > render.TEXT_OBJECT_MAX:
                found.append(f"block {i}: text object of {len(t['text'])}")
            if t["type"] == "mrkdwn" and t.get("verbatim") is not True:
                found.append(f"block {i}: mrkdwn without verbatim")
            total += len(t["text"])
    if total > render.MESSAGE_TEXT_MAX:
        found.append(f"{total} characters of block text")
    for s in _strings(body):
        if _MENTION.search(s):
            found.append(f"mention sequence in {s[:60]!r}")
    return found


def normalise(text: str) -> str:
    return text.translate(_LOOKS_BACK).replace(ZWSP, "")


def unescape(text: str) -> str:
    """Undo the renderer's escapes: what a reader sees."""
    text = _LINK.sub(r"\1", text)
    return normalise(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def reading_order(bodies: list[dict[str, Any]]) -> str:
    """Return the section texts of all bodies in order, minus newsbot's own bold title lines."""
    pieces = []
    for body in bodies:
        for b in body["blocks"]:
            if b["type"] != "section":
                continue
            text = b["text"]["text"]
            if text.startswith("*"):  # content never holds a bare "*": this is a title line
                text = text.partition("\n")[2]
            pieces.append(text)
    return unescape("\n".join(pieces))


def everything_shown(bodies: list[dict[str, Any]]) -> str:
    """Return every block text a reader sees (headers, titles, context lines too), unescaped, unbolded."""
    pieces = []
    for body in bodies:
        for b in body["blocks"]:
            for t in [b["text"]] if "text" in b else b.get("elements", []):
                if t["type"] == "plain_text":  # shown as sent, never parsed
                    pieces.append(normalise(t["text"]))
                else:
                    pieces.append(unescape(_LABELLED_LINK.sub(r"\1", _unbold(t["text"]))))
    return "\n".join(pieces)


def _unbold(text: str) -> str:
    # Content never starts with a bare "*" (it becomes a look-alike): a leading one is a bold title line.
    if not text.startswith("*"):
        return text
    title, newline, rest = text.partition("\n")
    return title[1:-1] + newline + rest


def assert_texts_kept(originals: list[str], *orders: str) -> None:
    """Assert each original text reads, word for word and in order, in one of `orders` (whitespace aside)."""
    seen = [" " + " ".join(order.split()) + " " for order in orders]
    unmarked = ["".join(order.replace("…", "").split()) for order in orders]
    for text in originals:
        words = normalise(text).split()
        if not words:
            continue
        if max(map(len, words)) < render.LINK_URL_MAX:
            run = " " + " ".join(words) + " "
            assert any(run in order for order in seen), f"lost words of {text[:80]!r}"
        else:  # a token longer than a section comes back in pieces marked with "…"
            joined = "".join(words).replace("…", "")
            assert any(joined in order for order in unmarked), f"lost text of {text[:80]!r}"


def assert_all_words_kept(reply: Reply, bodies: list[dict[str, Any]]) -> None:
    """Assert every text and title of the reply reads, word for word and in order, in the bodies."""
    texts = [reply.text, *(i.text for i in reply.items), *(p.text for i in reply.items for p in i.parts)]
    assert_texts_kept(texts, reading_order(bodies))
    titles = [reply.title, *(i.title for i in reply.items), *(p.title for i in reply.items for p in i.parts)]
    # A clipped title is given in full in the text below it, which may run over several sections.
    assert_texts_kept(titles, everything_shown(bodies), reading_order(bodies))


def assert_continuations_marked(bodies: list[dict[str, Any]]) -> None:
    """Assert that a message after the first says what it continues, or opens a new story."""
    for body in bodies[1:]:
        first = body["blocks"][0]
        opens_story = first["type"] == "section" and first["text"]["text"].startswith("*")
        says_continued = first["type"] == "context" and first["elements"][0]["text"].endswith("(cont.)")
        assert opens_story or says_continued, first


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
                items=[
                    Item(
                        title="Drone Technology",
                        url="https://example.com/story?a=1&b=2",
                        meta="Example News · 2026-11-24",
                        text="Certification of drone components.",
                        parts=[Part(title="Agreements", text="• Pax Silica Declaration")],
                    )
                ],
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
    assert len(head["text"]["text"]) <= render.HEADER_TEXT_MAX
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
    assert_all_words_kept(reply, bodies)
    assert all(problems(b) == [] for b in bodies)


def test_more_than_fifty_blocks_continue_in_a_message_that_says_what_it_continues() -> None:
    parts = [Part(title=f"Topic {n}", text=f"Text {n}.") for n in range(60)]
    reply = Reply(title="Digest", items=[Item(title="Story", parts=parts)], footer="newsbot")
    first, second = render_reply(reply)
    assert len(first["blocks"]) == render.MESSAGE_BLOCKS_MAX - 1  # room kept for the footer
    assert second["blocks"][0] == context("Story (cont.)")
    assert second["blocks"][-1] == context("newsbot")
    assert context("newsbot") not in first["blocks"]
    assert second["text"] == "Digest (cont. 2/2)"
    assert all(problems(b) == [] for b in (first, second))


def test_a_message_that_opens_with_a_new_story_has_no_divider_on_top() -> None:
    # header, divider, title and 47 parts fill the first message exactly
    full = Item(title="A", parts=[Part(title=f"Topic {n}", text="x") for n in range(47)])
    first, second = render_reply(Reply(title="t", items=[full, Item(title="B", text="y")]))
    assert len(first["blocks"]) == render.MESSAGE_BLOCKS_MAX
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
    assert_all_words_kept(reply, bodies)


def test_rendering_is_deterministic() -> None:
    reply = hostile_replies()["mentions and markup"]
    assert render_reply(reply) == render_reply(reply)


def test_a_digest_renders_as_its_neutral_reply() -> None:
    when = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    digest = Digest(
        title="Daily digest",
        start=when,
        end=when,
        entries=[
            DigestEntry(
                summary_id="taiwan-us",
                headline="Taiwan and US Deepen Strategic Tech Partnership",
                published=when,
                agreements=["Pax Silica Declaration"],
                sections=[DigestSection(title="Drone Technology", text="Certification of drone components.")],
            )
        ],
    )
    [body] = render_digest(digest)
    assert [body] == render_reply(digest_reply(digest))
    assert body["text"] == "Daily digest — 1 story · 2026-11-24"
    assert section("*Drone Technology*\nCertification of drone components.") in body["blocks"]


# -- hostile input through the shared checker ------------------------------------------------------


def test_hostile_replies_pass_the_shared_checker(tmp_path: Path) -> None:
    bodies = []
    for name, reply in hostile_replies().items():
        rendered = render_reply(reply)
        for body in rendered:
            assert problems(body) == [], name
        assert_all_words_kept(reply, rendered)
        bodies.extend(rendered)
    run_checker("check-slack-payloads", bodies, tmp_path)


def test_hostile_text_cannot_mention_anyone() -> None:
    bodies = render_reply(
        Reply(title=hostile_text(), text=hostile_text(), notice=hostile_text(), footer=hostile_text())
    )
    assert all(problems(b) == [] for b in bodies)


# -- any summary, through core's digest ------------------------------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(digest=digests())
def test_any_digest_fits_every_limit_and_keeps_every_section(digest: Digest) -> None:
    bodies = render_digest(digest)
    for body in bodies:
        assert problems(body) == []
    assert_texts_kept(digest_texts(digest), reading_order(bodies))
    assert_texts_kept(digest_titles(digest), everything_shown(bodies), reading_order(bodies))
    assert_continuations_marked(bodies)
    if any(e.url == LONG_URL for e in digest.entries):  # too long to link: shown as text instead
        assert "Link:" + LONG_URL in "".join(reading_order(bodies).replace("…", "").split())


def test_a_hostile_digest_keeps_every_section_and_passes_the_shared_checker(tmp_path: Path) -> None:
    digest = hostile_digest()
    bodies = render_digest(digest)
    assert all(problems(b) == [] for b in bodies)
    assert len(bodies) > 1
    assert_texts_kept(digest_texts(digest), reading_order(bodies))
    assert_texts_kept(digest_titles(digest), everything_shown(bodies), reading_order(bodies))
    assert_continuations_marked(bodies)
    run_checker("check-slack-payloads", bodies, tmp_path)


def test_generated_digests_pass_the_shared_checker(tmp_path: Path) -> None:
    bodies: list[dict[str, Any]] = []

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(digest=digests())
    def collect(digest: Digest) -> None:
        bodies.extend(render_digest(digest))

    collect()
    run_checker("check-slack-payloads", bodies, tmp_path)


# -- any reply --------------------------------------------------------------------------------------


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(reply=replies())
def test_any_reply_fits_every_limit_and_keeps_every_word(reply: Reply) -> None:
    bodies = render_reply(reply)
    for body in bodies:
        assert problems(body) == []
    assert_all_words_kept(reply, bodies)
    assert_continuations_marked(bodies)
