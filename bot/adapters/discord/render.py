"""Discord create-message bodies (POST /channels/{id}/messages) from a neutral reply or digest.

Layout: the reply's title, notice and text open the first message as one embed; each item is an
embed (title linked to the item's URL, description = meta line, text and its one-line parts with
bold titles, then one field per part).
Text longer than a description or field value continues in the next field or embed, whose name
or title ends in "(cont.)"; embeds continue in the next message when one would break a limit.
Nothing is dropped: a single token longer than a field is cut into pieces marked with "…".
"""

from __future__ import annotations

import re
from typing import Any

from bot.adapters.links import one_line, web_link
from bot.adapters.textsplit import clip, split_text
from bot.core.digest import Digest, digest_reply
from bot.core.reply import Reply

# Limits from Discord's developer documentation, resources/message: "Create Message" (content)
# and "Embed Limits" (the rest). The total counts title, description, field names and values,
# footer text and author name across every embed of one message.
CONTENT_MAX = 2000
EMBEDS_PER_MESSAGE_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_TEXT_MAX = 2048
AUTHOR_NAME_MAX = 256
EMBEDS_TOTAL_MAX = 6000
# From Discord's OpenAPI description (RichEmbed.url, maxLength).
EMBED_URL_MAX = 2048

TONE_COLOURS = {"info": 0x5865F2, "warning": 0xFEE75C, "error": 0xED4245}
# Discord takes about five messages per five seconds per channel, and nobody reads a wall of
# continuations: a 1 MB story became 111 messages in every channel. A reply is cut after this many
# messages and ends with an embed saying so, linking to the story's source where it has one.
MESSAGES_PER_REPLY_MAX = 5
CUT_NOTICE_MAX = 600  # characters every message keeps free for that embed (its link is in `url`)
CONTINUED = " (cont.)"
UNTITLED = "(untitled)"
BLANK = "\u200b"  # Discord refuses an empty field name or value; a zero-width space shows nothing
PAGE_FORMAT = "page {page} of {pages}"

_ZWSP = "\u200b"
_HTTP_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f<>/?#]+[^\s\x00-\x1f\x7f<>]*", re.IGNORECASE)
# Bare URLs stay untouched so Discord still links them (a backslash inside would break the link);
# the last character excludes trailing punctuation and markdown so "(see http://x.com)." works.
_URL_IN_TEXT = re.compile(r"(https?://[^\s<>\\]*[^\s<>\\.,:;\"')\]!?*_~|])", re.IGNORECASE)
# Everything Discord's markdown reacts to. Escaped wherever it appears (not only at a line start)
# because splitting may start a field or embed at any word.
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]])")
_LIST_DASH = re.compile(r"(?<!\S)-")
_LIST_NUMBER = re.compile(r"(?<!\S)(\d+)\.(?=\s|$)")
_DIGIT_DOT = re.compile(r"\d\.")
_BROADCAST = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_ANGLE = re.compile(r"<(?=\S)")  # <@id>, <@&id>, <#id>, <t:…>, </cmd:id>: all start with "<"
# Sequences a forced cut must not separate: an escape and the character it escapes.
_KEEP = re.compile(r"\\.", re.DOTALL)


def render_digest(digest: Digest, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Return the create-message bodies for a digest."""
    return render_reply(digest_reply(digest, labels=labels))


def render_reply(reply: Reply) -> list[dict[str, Any]]:
    """Return the create-message bodies for a reply, each within Discord's limits and unable to ping."""
    footer = _footer(reply)
    # Every message keeps room for the footer, so it fits on whichever embed ends up last.
    out = _Messages(EMBEDS_TOTAL_MAX - len(footer) - CUT_NOTICE_MAX, TONE_COLOURS[reply.tone])
    intro = [_escape(t) for t in (reply.notice, reply.text) if t and t.strip()]
    title = one_line(reply.title)
    if title or intro:
        out.add_entry(_escape(title), None, intro, [])
    for item in reply.items:
        if out.cut:
            out.items_not_shown += 1
            continue
        body: list[str] = []
        link = out.link = _link(item.url)
        if item.meta and item.meta.strip():
            body.append(_escape(item.meta))
        if item.url and item.url.strip() and link is None:
            body.append("Link: " + _escape(item.url.strip()))
        if item.text.strip():
            body.append(_escape(item.text))
        if item.lines:
            body.append("\n".join(_line(part.title, part.text) for part in item.lines))
        fields = [f for part in item.parts for f in _part_fields(part.title, part.text)]
        out.add_entry(_escape(one_line(item.title)) or UNTITLED, link, body, fields)
    if not out.messages:
        out.open(None, None, 1)["description"] = BLANK
    if out.cut:
        out.messages[-1].append(out.cut_notice())
    if footer:
        out.messages[-1][-1]["footer"] = {"text": footer}
    return [{"embeds": embeds, "allowed_mentions": {"parse": []}} for embeds in out.messages]


class _Messages:
    """Embeds packed into messages so that no message breaks a count or the character total."""

    def __init__(self, budget: int, colour: int) -> None:
        self.budget = budget
        self.colour = colour
        self.messages: list[list[dict[str, Any]]] = []
        self.used = 0  # characters of the last message that count towards the total
        self.description_max = min(EMBED_DESCRIPTION_MAX, budget - EMBED_TITLE_MAX)
        self.cut = False  # MESSAGES_PER_REPLY_MAX was reached; what is added now is not sent
        self.link: str | None = None  # the link of the item being added
        self.cut_link: str | None = None
        self.items_not_shown = 0

    def cut_notice(self) -> dict[str, Any]:
        """Return the embed that ends a cut reply."""
        text = f"✂ Cut here: a reply is at most {MESSAGES_PER_REPLY_MAX} messages."
        if self.items_not_shown:
            text += f" {self.items_not_shown} more not shown."
        if self.cut_link:
            # Parentheses would end a masked link early; percent-encoded they mean the same URL.
            target = self.cut_link.replace("(", "%28").replace(")", "%29")
            linked = f"{text} [Read the rest at the source]({target})."
            # A link too long for the room kept is still on the story's title above.
            text = (
                linked if len(linked) <= CUT_NOTICE_MAX else f"{text} The rest: the story's title links it."
            )
        return {"color": self.colour, "description": text}

    def open(self, title: str | None, url: str | None, need: int) -> dict[str, Any]:
        """Start an embed, in a new message when the last one cannot take it and `need` more characters."""
        if self.cut:
            return {}  # written to by the caller and never sent
        size = len(title or "") + need
        # One embed per message stays free for the cut notice, so it fits wherever the reply ends.
        if (
            not self.messages
            or len(self.messages[-1]) >= EMBEDS_PER_MESSAGE_MAX - 1
            or self.used + size > self.budget
        ):
            if len(self.messages) >= MESSAGES_PER_REPLY_MAX:
                self.cut, self.cut_link = True, self.link
                return {}
            self.messages.append([])
            self.used = 0
        embed: dict[str, Any] = {"color": self.colour}
        if title:
            embed["title"] = title
            if url:
                embed["url"] = url
        self.messages[-1].append(embed)
        self.used += len(title or "")
        return embed

    def add_entry(self, title: str, url: str | None, body: list[str], fields: list[tuple[str, str]]) -> None:
        """Add one titled entry: its body as description(s), then its fields, continuing as needed."""
        heading, clipped = clip(title, EMBED_TITLE_MAX, keep=_KEEP)
        if clipped:  # the full title leads the description, so a long title loses nothing
            body = [title, *body]
        again = _continued(title, EMBED_TITLE_MAX)
        descriptions = split_text("\n\n".join(body), self.description_max, keep=_KEEP)
        first = len(descriptions[0]) if descriptions else sum(map(len, fields[0])) if fields else 0
        embed = self.open(heading or None, url, first)
        if not embed:  # the cut came before any of this entry: it is one more not shown
            self.items_not_shown += 1
            return
        for i, chunk in enumerate(descriptions):
            if i:
                embed = self.open(again, url, len(chunk))
            embed["description"] = chunk
            self.used += len(chunk)
        for name, value in fields:
            if self.cut:  # nothing after the cut is added, even where it would fit
                return
            size = len(name) + len(value)
            if len(embed.get("fields", ())) >= EMBED_FIELDS_MAX or self.used + size > self.budget:
                embed = self.open(again, url, size)
            embed.setdefault("fields", []).append({"name": name, "value": value})
            self.used += size


def _part_fields(title: str, text: str) -> list[tuple[str, str]]:
    name = _escape(one_line(title))
    value = _escape(text)
    heading, clipped = clip(name, FIELD_NAME_MAX, keep=_KEEP)
    if clipped:
        value = f"{name}\n\n{value}"
    chunks = split_text(value, FIELD_VALUE_MAX, keep=_KEEP) or [BLANK]
    again = _continued(name, FIELD_NAME_MAX)
    return [((heading or BLANK) if i == 0 else again, chunk) for i, chunk in enumerate(chunks)]


def _line(title: str, text: str) -> str:
    name = _escape(one_line(title))
    return f"**{name}** {_escape(text)}".rstrip() if name else _escape(text)


def _continued(title: str, limit: int) -> str:
    if not title:
        return CONTINUED.strip()
    return clip(title, limit - len(CONTINUED), keep=_KEEP)[0] + CONTINUED


def _footer(reply: Reply) -> str:
    bits = [_neutralise(reply.footer.strip())] if reply.footer and reply.footer.strip() else []
    if reply.pages > 1:
        bits.append(PAGE_FORMAT.format(page=reply.page, pages=reply.pages))
    # Footers are newsbot's own short lines; a runaway one is clipped with a visible "…".
    return clip(" · ".join(bits), FOOTER_TEXT_MAX)[0]


def _link(url: str | None) -> str | None:
    return web_link(url, _HTTP_URL, EMBED_URL_MAX)


def _escape(text: str) -> str:
    """Return plain text as Discord markdown that renders literally and cannot mention anyone.

    Hand-written rather than discord.utils.escape_markdown, which escapes "#", "-" and ">" only at
    the start of a line (a split can start a field mid-line), leaves "[x](url)" links half-escaped
    in its default mode and does not touch channel mentions.
    """
    if "://" not in text:
        return _escape_plain(text)
    pieces = _URL_IN_TEXT.split(text)
    # re.split with one group alternates: text, url, text, url, ..., text
    # A URL is only neutralised (in the rare case it holds "@everyone" or similar), never escaped.
    return "".join(_neutralise(p) if i % 2 else _escape_plain(p) for i, p in enumerate(pieces))


def _escape_plain(text: str) -> str:
    text = _MARKDOWN.sub(r"\\\1", text)
    # The list patterns look behind at every position, which is slow; most text needs neither.
    if "-" in text:
        text = _LIST_DASH.sub(r"\\-", text)
    if _DIGIT_DOT.search(text):
        text = _LIST_NUMBER.sub(r"\1\\.", text)
    return _neutralise(text)


def _neutralise(text: str) -> str:
    """Break @everyone, @here and <@…>/<#…> sequences with a zero-width space, so a copy cannot ping."""
    if "@" in text:
        text = _BROADCAST.sub("@" + _ZWSP, text)
    if "<" in text:
        text = _ANGLE.sub("<" + _ZWSP, text)
    return text
