"""Slack chat.postMessage arguments (without `channel`) from a neutral reply or digest.

Layout: a header block with the reply's title, the notice as a context line, the text as
sections; then per item a divider, its linked title, its meta line as context, its text with its
one-line parts (title in bold), and one section per part with the part's title in bold. Text longer than a section continues in the next
one under "Title (cont.)"; blocks continue in the next message when one would break a limit, and a
continuation message opens with a context line naming the entry it continues.

Blocks are built as plain dicts rather than slack_sdk block objects: rendering must reach
thousands of digests a second, and the objects' construction and `to_dict()` cost far more than
the dicts themselves. The tests check every block with `Block.parse(b).validate_json()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.adapters.links import one_line, web_link
from bot.adapters.textsplit import clip, split_text
from bot.core.digest import Digest, digest_reply
from bot.core.reply import Reply

# Limits from Slack's Block Kit reference (docs.slack.dev/reference/block-kit/blocks and
# .../composition-objects/text-object) and the chat.postMessage reference.
MESSAGE_BLOCKS_MAX = 50
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10  # newsbot sends no section fields: long text reads badly in two columns
SECTION_FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
TEXT_OBJECT_MAX = 3000
# Slack caps the text of one message's blocks near 12,000 characters and truncates beyond that.
MESSAGE_TEXT_MAX = 12_000

# newsbot's own choices, not Slack's limits.
TITLE_MAX = 300  # a bold title line longer than a headline is clipped; the full title leads the text
LINK_URL_MAX = 2000  # longer URLs are shown as text, so a title line always fits a section
FALLBACK_MAX = 300  # the notification text is a summary; the blocks carry everything
# Slack takes about one message per second per channel, and nobody reads a wall of continuations:
# a 1 MB story became 111 messages in every channel. A reply is cut after this many messages and
# ends with a line saying so, linking to the story's source where it has one.
MESSAGES_PER_REPLY_MAX = 5
CUT_NOTICE_MAX = 600  # text every message keeps free for that line (a link is at most LINK_URL_MAX)
CONTINUED = " (cont.)"
UNTITLED = "(untitled)"
BLANK = "\u200b"

_ZWSP = "\u200b"
_HTTP_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f<>|/?#]+[^\s\x00-\x1f\x7f<>|]*", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"(https?://[^\s<>|\\]*[^\s<>|\\.,:;\"')\]!?*_~`])", re.IGNORECASE)
# mrkdwn has no escape character for its inline markers, and a zero-width space next to a marker
# is read as a word boundary, which can *enable* bold or italics inside a word. So each inline
# marker in content becomes a look-alike that Slack does not parse (asterisk operator, modifier
# letters, tilde operator): the text reads the same and can never format.
_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
# A block quote needs "&gt;" first on its line; anything before it, even a zero-width space, stops
# it. Done at every word start because a split can start a section at any word.
_QUOTE = re.compile(r"(?<!\S)&gt;")
_BROADCAST = re.compile(r"@(?=everyone|here|channel)", re.IGNORECASE)
_ANGLE = re.compile(r"<(?=\S)")
# A code span in newsbot's own words: one line, between a pair of backticks.
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Sequences a forced cut must not separate: entities, and links (at most LINK_URL_MAX long).
_KEEP = re.compile(r"&(?:amp|lt|gt);|<[^<>\s]*>")


def render_digest(digest: Digest, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Return the chat.postMessage arguments for a digest."""
    return render_reply(digest_reply(digest, labels=labels))


def render_reply(reply: Reply) -> list[dict[str, Any]]:
    """Return chat.postMessage arguments (blocks and fallback text, no channel) within Block Kit's limits."""
    own = _own if reply.own_words else _mrkdwn  # how the reply's own fields read (items: always _mrkdwn)
    footer = _footer(reply, own)
    out = _Messages(footer)
    title = one_line(reply.title)
    body: list[str] = []
    if title:
        header, clipped = clip(_plain(title), HEADER_TEXT_MAX)
        out.add({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}}, header)
        if clipped:  # the full title leads the first section, so a long title loses nothing
            body.append(own(title))
    if reply.notice and reply.notice.strip():
        notice = own(reply.notice.strip())
        if len(notice) <= TEXT_OBJECT_MAX:
            out.add(_context(notice), notice)
        else:
            body.append(notice)
    if reply.text.strip():
        body.append(own(reply.text))
    # An introduction too long for one message continues under a line that names the reply.
    out.resume = _continued(own(title))
    out.add_sections("\n\n".join(body), "", "")
    for item in reply.items:
        lines = [(p.title, p.text) for p in item.lines]
        out.add_item(
            item.title, item.url, item.meta, item.text, [(p.title, p.text) for p in item.parts], lines
        )
    if not any(out.messages):
        out.add(_section(BLANK), BLANK)
    closing = [text for text in (out.cut_notice(), footer) if text]
    if closing:
        out.messages[-1].append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": t, "verbatim": True} for t in closing],
            }
        )
    if title:
        return _bodies(out.messages, title, reply.text, own)
    # Untitled: the notification names the first story, which is summary text.
    return _bodies(out.messages, reply.items[0].title if reply.items else "", reply.text, _mrkdwn)


class _Messages:
    """Blocks packed into messages so that no message breaks the block count or the text cap."""

    def __init__(self, footer: str) -> None:
        self.messages: list[list[dict[str, Any]]] = [[]]
        # Every message keeps room for the footer block and the cut notice's text, so they fit
        # wherever the reply ends.
        self.blocks_max = MESSAGE_BLOCKS_MAX - (1 if footer else 0)
        self.text_max = MESSAGE_TEXT_MAX - len(footer) - CUT_NOTICE_MAX
        self.used = 0
        self.resume: str | None = None  # what a continuation message says it continues
        self.cut = False  # MESSAGES_PER_REPLY_MAX was reached; nothing more is added
        self.link: str | None = None  # the link of the item being added
        self.cut_link: str | None = None
        self.items_not_shown = 0

    def cut_notice(self) -> str:
        """Return the line that ends a cut reply (empty when nothing was cut)."""
        if not self.cut:
            return ""
        notice = f"✂ Cut here: a reply is at most {MESSAGES_PER_REPLY_MAX} messages."
        if self.items_not_shown:
            notice += f" {self.items_not_shown} more not shown."
        if self.cut_link:
            linked = f"{notice} The rest: <{self.cut_link}|the source>."
            # A link too long for the room kept is still on the story's title above.
            notice = (
                linked if len(linked) <= CUT_NOTICE_MAX else f"{notice} The rest: the story's title links it."
            )
        return notice

    def add(self, block: dict[str, Any], text: str) -> bool:
        """Append a block carrying `text`, opening a new message when the last one is full; False once cut."""
        if self.cut:
            return False
        current = self.messages[-1]
        if current and (len(current) >= self.blocks_max or self.used + len(text) > self.text_max):
            if len(self.messages) >= MESSAGES_PER_REPLY_MAX:
                self.cut, self.cut_link = True, self.link
                if len(current) >= MESSAGE_BLOCKS_MAX:  # no footer reserved a block for the notice
                    current.pop()
                return False
            if current[-1]["type"] == "divider":  # a divider belongs with what follows it
                current.pop()
            current = []
            self.messages.append(current)
            self.used = 0
            if self.resume:
                current.append(_context(self.resume))
                self.used += len(self.resume)
            if block["type"] == "divider":  # nothing above it to divide from
                return True
        current.append(block)
        self.used += len(text)
        return True

    def add_sections(self, text: str, heading: str, again: str) -> None:
        """Add `text` as sections, the first under `heading`, later ones under `again`."""
        room = SECTION_TEXT_MAX - max(len(heading), len(again))
        for i, chunk in enumerate(split_text(text, room, keep=_KEEP)):
            section = (again if i else heading) + chunk
            self.add(_section(section), section)

    def add_item(
        self,
        title: str,
        url: str | None,
        meta: str | None,
        text: str,
        parts: list[tuple[str, str]],
        lines: list[tuple[str, str]],
    ) -> None:
        """Add one item: divider, linked title, meta line, text and one-liners, then a section run per part."""
        if self.cut:
            self.items_not_shown += 1
            return
        full = _mrkdwn(one_line(title)) or UNTITLED
        link = self.link = _link(url)
        # Inside a link's label a nested <url> would end the link early, so URLs there stay text.
        shown = (_escape_plain(one_line(title)) or UNTITLED) if link else full
        label, clipped = clip(shown, TITLE_MAX, keep=_KEEP)
        body = [full] if clipped else []
        if url and url.strip() and link is None:
            body.append("Link: " + _mrkdwn(url.strip()))
        self.resume = None
        if self.messages[-1]:
            self.add({"type": "divider"}, "")
        heading = f"*<{link}|{_label(label)}>*" if link else f"*{label}*"
        if not self.add(_section(heading), heading):  # cut before its title: one more not shown
            self.items_not_shown += 1
            return
        self.resume = _continued(full)
        if meta and meta.strip():
            line = _mrkdwn(meta.strip())
            if len(line) <= TEXT_OBJECT_MAX:
                self.add(_context(line), line)
            else:
                body.append(line)
        if text.strip():
            body.append(_mrkdwn(text))
        if lines:
            body.append("\n".join(_line(name, value) for name, value in lines))
        self.add_sections("\n\n".join(body), "", "")
        for part_title, part_text in parts:
            name = _mrkdwn(one_line(part_title))
            shown, cut = clip(name, TITLE_MAX, keep=_KEEP)
            value = _mrkdwn(part_text.strip())
            if cut:
                value = f"{name}\n\n{value}"
            again = _continued(name)
            self.add_sections(value or BLANK, f"*{shown}*\n" if shown else "", f"*{again}*\n")
        self.resume = None


def _line(title: str, text: str) -> str:
    name = _mrkdwn(one_line(title))
    return f"*{name}* {_mrkdwn(text)}".rstrip() if name else _mrkdwn(text)


def _continued(title: str) -> str:
    if not title:
        return CONTINUED.strip()
    return clip(title, TITLE_MAX - len(CONTINUED), keep=_KEEP)[0] + CONTINUED


def _bodies(
    messages: list[list[dict[str, Any]]], title: str, text: str, markup: Callable[[str], str]
) -> list[dict[str, Any]]:
    summary = one_line(title) or "newsbot"
    intro = one_line(text)
    first = clip(f"{summary} — {intro}" if intro else summary, FALLBACK_MAX)[0]
    count = len(messages)
    return [
        {
            "text": markup(
                first if i == 1 else clip(summary, FALLBACK_MAX - 20)[0] + f" (cont. {i}/{count})"
            ),
            "blocks": blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        for i, blocks in enumerate(messages, start=1)
    ]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


def _footer(reply: Reply, own: Callable[[str], str]) -> str:
    bits = [own(reply.footer.strip())] if reply.footer and reply.footer.strip() else []
    if reply.pages > 1:
        bits.append(f"page {reply.page} of {reply.pages}")
    return clip(" · ".join(bits), TEXT_OBJECT_MAX, keep=_KEEP)[0]


def _link(url: str | None) -> str | None:
    return web_link(url, _HTTP_URL, LINK_URL_MAX, escape=_escape_url)


def _escape_url(url: str) -> str:
    # Inside <url|label> only "&" needs an entity: the URL pattern already refuses "<", ">" and "|".
    return url.replace("&", "&amp;")


def _label(text: str) -> str:
    # "|" ends a link's URL part; in the label a look-alike (divides, U+2223) keeps the link whole.
    return text.replace("|", "\u2223")


def _plain(text: str) -> str:
    """Return text for a plain_text object: never parsed, but "<" is still broken so no copy can ping."""
    return _ANGLE.sub("<" + _ZWSP, _BROADCAST.sub("@" + _ZWSP, text))


def _mrkdwn(text: str, escape: Callable[[str], str] | None = None) -> str:
    """Return plain text as mrkdwn that renders literally: escaped, unformattable and unable to ping.

    Bare URLs become explicit <url> links: with `verbatim` Slack no longer links them itself, and
    inside the brackets their underscores and asterisks cannot format anything.
    """
    escape = escape or _escape_plain
    if "://" not in text:
        return escape(text)
    pieces = _URL_IN_TEXT.split(text)
    out: list[str] = []
    for i, piece in enumerate(pieces):
        link = _escape_url(piece) if i % 2 else ""
        # A longer link would not fit a section whole; as text it can be split between entities.
        if link and len(link) <= LINK_URL_MAX:
            out.append("<" + link + ">")
        else:
            out.append(escape(piece))
    return "".join(out)


def _own(text: str) -> str:
    """Return newsbot's own words (Reply.own_words: title, text, notice, footer) as mrkdwn people can copy.

    Summary text gets look-alikes for every marker so it can never format; applied to the bot's
    help that turned NEWSBOT_SLACK__ADMINS and `cron "0 8 * * mon-fri"` into text that no longer
    works when pasted back. newsbot writes what is meant to be copied in `code` spans, which Slack
    shows literally; the rest keeps its characters. Both still lose "<", "&" and broadcasts, since
    the bot's words quote what people typed.
    """
    pieces = _CODE_SPAN.split(text)
    return "".join(
        f"`{_unpingable(piece)}`" if i % 2 else _mrkdwn(piece, _escape_own) for i, piece in enumerate(pieces)
    )


def _escape_own(text: str) -> str:
    # A backtick left unpaired would open a code span up to some later one: it gets its look-alike.
    return _unpingable(text).replace("`", "\u02cb")


def _unpingable(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "&gt;" in text:
        text = _QUOTE.sub(_ZWSP + "&gt;", text)
    if "@" in text:
        text = _BROADCAST.sub("@" + _ZWSP, text)
    return text


def _escape_plain(text: str) -> str:
    return _unpingable(text.translate(_LOOKALIKES))
