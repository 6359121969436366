"""Slack chat.postMessage arguments as a user relies on them: valid Block Kit, unable to ping, readable."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.adapters.slack import render
from tests.adapters.payload_tools import ZWSP
from tests.adapters.render_cases import Platform
from tests.fakes.slack import (  # Slack's documented limits, kept apart from the code under test
    HEADER_TEXT_MAX,
    MESSAGE_BLOCKS_MAX,
    SECTION_FIELDS_MAX,
    SECTION_TEXT_MAX,
    TEXT_OBJECT_MAX,
    strings,
)

_MENTION = re.compile(r"<!(channel|here|everyone|subteam\^)|<@[UW][A-Z0-9]+")
_LINK = re.compile(r"<(https?://[^|>]*)>")
_LABELLED_LINK = re.compile(r"<https?://[^|>]*\|([^>]*)>")
_LOOKS_BACK = str.maketrans({"\u2217": "*", "\u02cd": "_", "\u223c": "~", "\u02cb": "`", "\u2223": "|"})
POST = {"unfurl_links": False, "unfurl_media": False}
# newsbot's own promises, not Slack limits: a message carries at most 12,000 characters of block text (so a
# digest reads as several messages, not one wall), and URLs longer than 2,000 characters are shown as text.
BLOCK_TEXT_BUDGET = 12_000
LINK_URL_CUT = 2000


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
    if not 1 <= len(blocks) <= MESSAGE_BLOCKS_MAX:
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
        if b["type"] == "header" and len(b["text"]["text"]) > HEADER_TEXT_MAX:
            found.append(f"block {i}: header too long")
        if b["type"] == "section" and not 0 < len(b["text"]["text"]) <= SECTION_TEXT_MAX:
            found.append(f"block {i}: section text {len(b['text']['text'])}")
        if len(b.get("fields", [])) > SECTION_FIELDS_MAX or len(b.get("elements", [])) > 10:
            found.append(f"block {i}: too many fields or elements")
        for t in texts:
            if len(t["text"]) > TEXT_OBJECT_MAX:
                found.append(f"block {i}: text object of {len(t['text'])}")
            if t["type"] == "mrkdwn" and t.get("verbatim") is not True:
                found.append(f"block {i}: mrkdwn without verbatim")
            total += len(t["text"])
    if total > BLOCK_TEXT_BUDGET:
        found.append(f"{total} characters of block text")
    for s in strings(body):
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
    # Content never holds a bare "*" outside a link's URL (it becomes a look-alike), so a line opening with
    # one is newsbot's bold: a whole title line, or a card's area title that ends at "* " (a URL has no
    # spaces, so its "*" never does).
    return "\n".join(_unbold_line(line) for line in text.split("\n"))


def _unbold_line(line: str) -> str:
    if not line.startswith("*"):
        return line
    end = line.find("* ")
    if end > 0:
        return line[1:end] + line[end + 1 :]
    return line[1:-1] if line.endswith("*") else line


def assert_continuations_marked(bodies: list[dict[str, Any]]) -> None:
    """Assert that a message after the first says what it continues, or opens a new story."""
    for body in bodies[1:]:
        first = body["blocks"][0]
        opens_story = first["type"] == "section" and first["text"]["text"].startswith("*")
        says_continued = first["type"] == "context" and first["elements"][0]["text"].endswith("(cont.)")
        assert opens_story or says_continued, first


SLACK = Platform(
    name="slack",
    render_reply=render.render_reply,
    render_digest=render.render_digest,
    problems=problems,
    reading_order=reading_order,
    everything_shown=everything_shown,
    # A continued message says what it continues whatever the titles were.
    assert_continuations_marked=lambda bodies, titles: assert_continuations_marked(bodies),
    normalise=normalise,
    cut_length=LINK_URL_CUT,
    untitled=render.UNTITLED,
    checker="check-slack-payloads",
    checker_runs=((),),
    reply_examples=60,
)
