"""Discord create-message bodies as a user relies on them: within every limit, unable to ping, readable."""

from __future__ import annotations

import re
from typing import Any

from bot.adapters.discord import render
from tests.adapters.payload_tools import ZWSP
from tests.adapters.render_cases import Platform
from tests.fakes.discord import (  # Discord's documented limits, kept apart from the code under test
    AUTHOR_NAME_MAX,
    CONTENT_MAX,
    EMBED_DESCRIPTION_MAX,
    EMBED_FIELDS_MAX,
    EMBED_TITLE_MAX,
    EMBEDS_MAX,
    EMBEDS_TOTAL_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FOOTER_TEXT_MAX,
)

NO_PINGS: dict[str, list[str]] = {"parse": []}
BLURPLE, YELLOW, RED = 0x5865F2, 0xFEE75C, 0xED4245
_PING = re.compile(r"@(everyone|here)|<[@#]")


def problems(body: dict[str, Any]) -> list[str]:
    """Return every way `body` breaks Discord's limits or could ping (empty when it is fine)."""
    found: list[str] = []
    if set(body) != {"embeds", "allowed_mentions"}:
        found.append(f"unexpected keys {sorted(body)}")
    if body.get("allowed_mentions") != NO_PINGS:
        found.append(f"allowed_mentions {body.get('allowed_mentions')!r}")
    if len(body.get("content") or "") > CONTENT_MAX:
        found.append("content too long")
    embeds = body["embeds"]
    if not 1 <= len(embeds) <= EMBEDS_MAX:
        found.append(f"{len(embeds)} embeds")
    total = 0
    for i, e in enumerate(embeds):
        title, desc = e.get("title", ""), e.get("description", "")
        fields, footer = e.get("fields", []), e.get("footer", {}).get("text", "")
        author = e.get("author", {}).get("name", "")
        if len(title) > EMBED_TITLE_MAX or len(desc) > EMBED_DESCRIPTION_MAX:
            found.append(f"embed {i}: title {len(title)} or description {len(desc)} too long")
        if len(footer) > FOOTER_TEXT_MAX or len(author) > AUTHOR_NAME_MAX:
            found.append(f"embed {i}: footer or author too long")
        if len(fields) > EMBED_FIELDS_MAX:
            found.append(f"embed {i}: {len(fields)} fields")
        for f in fields:
            if not 0 < len(f["name"]) <= FIELD_NAME_MAX or not 0 < len(f["value"]) <= FIELD_VALUE_MAX:
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
    if total > EMBEDS_TOTAL_MAX:
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


def assert_continuations_marked(bodies: list[dict[str, Any]], titles: list[str]) -> None:
    """Assert that an embed or field that is not a title's first appearance says "(cont.)"."""
    firsts = {" ".join(t.replace(ZWSP, "").split()) for t in titles}
    for body in bodies:
        for embed in body["embeds"]:
            names = [embed.get("title")] + [f["name"] for f in embed.get("fields", [])]
            for name in filter(None, names):
                shown = " ".join(unescape(name).split())
                assert shown in firsts or shown.endswith(("(cont.)", "…")) or name == ZWSP, name


DISCORD = Platform(
    name="discord",
    render_reply=render.render_reply,
    render_digest=render.render_digest,
    problems=problems,
    reading_order=reading_order,
    everything_shown=everything_shown,
    assert_continuations_marked=assert_continuations_marked,
    normalise=lambda text: text.replace(ZWSP, ""),
    cut_length=FIELD_VALUE_MAX,
    untitled=render.UNTITLED,
    checker="check-discord-payloads",
    # Interaction follow-ups send the same bodies through the webhook route.
    checker_runs=((), ("--schema", "IncomingWebhookRequestPartial")),
    reply_examples=80,
)
