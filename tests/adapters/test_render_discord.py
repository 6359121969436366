"""Discord create-message bodies: exact payloads, escaping, splitting and every documented limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from bot.adapters.discord import render
from bot.adapters.discord.render import render_digest, render_reply
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

NO_PINGS: dict[str, list[str]] = {"parse": []}
BLURPLE, YELLOW, RED = 0x5865F2, 0xFEE75C, 0xED4245
_PING = re.compile(r"@(everyone|here)|<[@#]")


# -- checks a user of the bodies relies on ------------------------------------------------------


def problems(body: dict[str, Any]) -> list[str]:
    """Return every way `body` breaks Discord's limits or could ping (empty when it is fine)."""
    found: list[str] = []
    if set(body) != {"embeds", "allowed_mentions"}:
        found.append(f"unexpected keys {sorted(body)}")
    if body.get("allowed_mentions") != NO_PINGS:
        found.append(f"allowed_mentions {body.get('allowed_mentions')!r}")
    if len(body.get("content") or "") > render.CONTENT_MAX:
        found.append("content too long")
    embeds = body["embeds"]
    if not 1 <= len(embeds) <= render.EMBEDS_PER_MESSAGE_MAX:
        found.append(f"{len(embeds)} embeds")
    total = 0
    for i, e in enumerate(embeds):
        title, desc = e.get("title", ""), e.get("description", "")
        fields, footer = e.get("fields", []), e.get("footer", {}).get("text", "")
        author = e.get("author", {}).get("name", "")
        if len(title) > render.EMBED_TITLE_MAX or len(desc) > render.EMBED_DESCRIPTION_MAX:
            found.append(f"embed {i}: title {len(title)} or description {len(desc)} too long")
        if len(footer) > render.FOOTER_TEXT_MAX or len(author) > render.AUTHOR_NAME_MAX:
            found.append(f"embed {i}: footer or author too long")
        if len(fields) > render.EMBED_FIELDS_MAX:
            found.append(f"embed {i}: {len(fields)} fields")
        for f in fields:
            if (
                not 0 < len(f["name"]) <= render.FIELD_NAME_MAX
                or not 0 < len(f["value"]) <= render.FIELD_VALUE_MAX
            ):
                found.append(f"embed {i}: field {len(f['name'])}/{len(f['value'])} characters")
        if "url" in e and (
            not title or not e["url"].startswith(("http://", "https://")) or len(e["url"]) > 2048
        ):
            found.append(f"embed {i}: bad url {e['url'][:40]!r}")
        if not (title or desc or fields):
            found.append(f"embed {i}: empty")
        if e.get("color") not in (BLURPLE, YELLOW, RED):
            found.append(f"embed {i}: colour {e.get('color')!r}")
        total += len(title) + len(desc) + len(footer) + len(author)
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        for text in (title, desc, footer, *(f["name"] for f in fields), *(f["value"] for f in fields)):
            if _PING.search(text):
                found.append(f"embed {i}: mention sequence in {text[:60]!r}")
    if total > render.EMBEDS_TOTAL_MAX:
        found.append(f"{total} characters in all embeds")
    return found


def unescape(text: str) -> str:
    """Undo the renderer's escapes: what a reader sees, minus zero-width spaces."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL).replace(ZWSP, "")


def reading_order(bodies: list[dict[str, Any]]) -> str:
    """Return the descriptions and field values of all bodies, in order, as a reader sees them."""
    pieces = []
    for body in bodies:
        for embed in body["embeds"]:
            pieces.append(embed.get("description", ""))
            pieces.extend(f["value"] for f in embed.get("fields", []))
    return unescape("\n".join(pieces))


def everything_shown(bodies: list[dict[str, Any]]) -> str:
    """Return every string a reader sees in the bodies (titles, names and footers too), unescaped."""
    pieces = []
    for body in bodies:
        for embed in body["embeds"]:
            pieces += [embed.get("title", ""), embed.get("description", "")]
            pieces += [s for f in embed.get("fields", []) for s in (f["name"], f["value"])]
            pieces.append(embed.get("footer", {}).get("text", ""))
    return unescape("\n".join(pieces))


def assert_texts_kept(originals: list[str], *orders: str) -> None:
    """Assert each original text reads, word for word and in order, in one of `orders` (whitespace aside)."""
    seen = [" " + " ".join(order.split()) + " " for order in orders]
    unmarked = ["".join(order.replace("…", "").split()) for order in orders]
    for text in originals:
        words = text.replace(ZWSP, "").split()
        if not words:
            continue
        if max(map(len, words)) < render.FIELD_VALUE_MAX:
            run = " " + " ".join(words) + " "
            assert any(run in order for order in seen), f"lost words of {text[:80]!r}"
        else:  # a token longer than a field comes back in pieces marked with "…"
            joined = "".join(words).replace("…", "")
            assert any(joined in order for order in unmarked), f"lost text of {text[:80]!r}"


def assert_all_words_kept(reply: Reply, bodies: list[dict[str, Any]]) -> None:
    """Assert every text and title of the reply reads, word for word and in order, in the bodies."""
    texts = [reply.text, *(i.text for i in reply.items), *(p.text for i in reply.items for p in i.parts)]
    assert_texts_kept(texts, reading_order(bodies))
    titles = [reply.title, *(i.title for i in reply.items), *(p.title for i in reply.items for p in i.parts)]
    # A clipped title is given in full in the text below it, which may run over several embeds.
    assert_texts_kept(titles, everything_shown(bodies), reading_order(bodies))


def assert_continuations_marked(bodies: list[dict[str, Any]], titles: list[str]) -> None:
    """Assert that an embed or field that is not a title's first appearance says "(cont.)"."""
    firsts = {" ".join(t.replace(ZWSP, "").split()) for t in titles}
    for body in bodies:
        for embed in body["embeds"]:
            names = [embed.get("title")] + [f["name"] for f in embed.get("fields", [])]
            for name in filter(None, names):
                shown = " ".join(unescape(name).split())
                assert shown in firsts or shown.endswith(("(cont.)", "…")) or name == ZWSP, name


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
                items=[
                    Item(
                        title="Drone Technology",
                        url="https://example.com/story",
                        meta="Example News · 2026-11-24",
                        text="Certification of drone components.",
                        parts=[Part(title="Agreements", text="• Pax Silica Declaration")],
                    )
                ],
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
        assert len(f["value"]) <= render.FIELD_VALUE_MAX
        assert f["value"].endswith("."), "a field ends at a sentence end"
    assert all(f"https://example.com/{n}." in reading_order(bodies) for n in range(400))
    assert_all_words_kept(reply, bodies)
    assert all(problems(b) == [] for b in bodies)


def test_forty_parts_continue_in_a_second_embed() -> None:
    parts = [Part(title=f"Topic {n}", text=f"Text {n}.") for n in range(40)]
    [body] = render_reply(
        Reply(title="t", items=[Item(title="Story", url="https://example.com/s", parts=parts)])
    )
    story, more = body["embeds"][1:]
    assert len(story["fields"]) == render.EMBED_FIELDS_MAX
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
    assert len(embed["title"]) <= render.EMBED_TITLE_MAX
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
                url="https://example.com/story",
                agreements=["Pax Silica Declaration"],
                sections=[DigestSection(title="Drone Technology", text="Certification of drone components.")],
            )
        ],
    )
    bodies = render_digest(digest)
    assert bodies == render_reply(digest_reply(digest))
    names = [f["name"] for f in bodies[0]["embeds"][1]["fields"]]
    assert names == ["Agreements", "Drone Technology"]


# -- hostile input through Discord's own schema ---------------------------------------------------


def test_hostile_replies_pass_the_shared_checker(tmp_path: Path) -> None:
    bodies = []
    for name, reply in hostile_replies().items():
        rendered = render_reply(reply)
        for body in rendered:
            assert problems(body) == [], name
        assert_all_words_kept(reply, rendered)
        bodies.extend(rendered)
    run_checker("check-discord-payloads", bodies, tmp_path)
    # Interaction follow-ups send the same bodies through the webhook route.
    run_checker("check-discord-payloads", bodies, tmp_path, "--schema", "IncomingWebhookRequestPartial")


def test_hostile_text_cannot_mention_anyone() -> None:
    bodies = render_reply(Reply(title=hostile_text(), text=hostile_text(), footer=hostile_text()))
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
    titles = [*digest_titles(digest), "Agreements"]
    assert_continuations_marked(bodies, titles)
    if any(e.url == LONG_URL for e in digest.entries):  # too long to link: shown as text instead
        assert "Link:" + LONG_URL in "".join(reading_order(bodies).replace("…", "").split())


def test_a_hostile_digest_keeps_every_section_and_passes_the_shared_checker(tmp_path: Path) -> None:
    digest = hostile_digest()
    bodies = render_digest(digest)
    assert all(problems(b) == [] for b in bodies)
    assert len(bodies) > 1
    assert_texts_kept(digest_texts(digest), reading_order(bodies))
    assert_texts_kept(digest_titles(digest), everything_shown(bodies), reading_order(bodies))
    assert_continuations_marked(bodies, [*digest_titles(digest), "Agreements"])
    run_checker("check-discord-payloads", bodies, tmp_path)
    run_checker("check-discord-payloads", bodies, tmp_path, "--schema", "IncomingWebhookRequestPartial")


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
    run_checker("check-discord-payloads", bodies, tmp_path)


# -- any reply --------------------------------------------------------------------------------------


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(reply=replies())
def test_any_reply_fits_every_limit_and_keeps_every_word(reply: Reply) -> None:
    bodies = render_reply(reply)
    for body in bodies:
        assert problems(body) == []
    assert_all_words_kept(reply, bodies)
    titles = [reply.title, *(i.title for i in reply.items), *(p.title for i in reply.items for p in i.parts)]
    assert_continuations_marked(bodies, [*titles, render.UNTITLED])
