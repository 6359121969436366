"""Discord markdown and Slack mrkdwn as safe HTML, the way each client shows a message's text.

Every function here returns `Markup`: text from a payload is escaped on the way in, and the only
tags that come out are the ones written below. Links are kept only for http(s) and mailto URLs.
"""

from __future__ import annotations

import html
import re
from functools import cache
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

SAFE_SCHEMES = ("http://", "https://", "mailto:")


@cache
def _discord_parser() -> MarkdownIt:
    from markdown_it import MarkdownIt  # on first use: see bot/preview/web.py's _templates

    # Discord's dialect is close enough to CommonMark for what newsbot sends (backslash escapes,
    # bare links, emphasis, lists, quotes); raw HTML stays text because `html` is off.
    md = MarkdownIt("zero", {"breaks": True, "linkify": True, "html": False})
    inline = ["emphasis", "backticks", "escape", "link", "newline", "strikethrough", "linkify", "autolink"]
    md.enable([*inline, "list", "blockquote", "paragraph", "text"])
    if md.linkify is not None:  # Discord links only written-out URLs, never a bare "example.com"
        md.linkify.set({"fuzzy_link": False, "fuzzy_email": False})
    md.validateLink = _safe_link  # type: ignore[method-assign]  # markdown-it-py's documented hook
    return md


def _safe_link(url: str) -> bool:
    return url.strip().lower().startswith(SAFE_SCHEMES)


def discord_markdown(text: str) -> Markup:
    """Return Discord markdown (an embed description, field value or message content) as HTML."""
    rendered = _discord_parser().render(text)
    # Links open elsewhere and tell the target nothing about the page.
    rendered = rendered.replace("<a href=", '<a rel="noopener noreferrer" target="_blank" href=')
    return Markup(rendered)  # noqa: S704 - markdown-it escaped every character of the text itself


def discord_inline(text: str) -> Markup:
    """Return Discord markdown that Discord shows on one line (titles, field names) as HTML."""
    return Markup(_discord_parser().renderInline(text))  # noqa: S704 - escaped by markdown-it


# Slack publishes no renderer for mrkdwn and none is maintained for Python (see the notes in
# ../shared/notes, §6), so this is a small hand-written reader of the subset Slack documents:
# <url|label> links and mentions, *bold*, _italic_, ~strike~, `code`, "&gt;" quotes and the three
# entities. It scans left to right; anything it does not recognise is shown as text.
_SLACK_TOKEN = re.compile(
    r"(?P<code>`[^`\n]+`)"
    r"|(?P<link><[^<>\n]+>)"
    r"|(?P<bold>(?<![\w*])\*(?=\S)(?:<[^<>\n]*>|[^*\n])+?(?<=\S)\*(?![\w*]))"
    r"|(?P<italic>(?<![\w_])_(?=\S)(?:<[^<>\n]*>|[^_\n])+?(?<=\S)_(?![\w_]))"
    r"|(?P<strike>(?<![\w~])~(?=\S)(?:<[^<>\n]*>|[^~\n])+?(?<=\S)~(?![\w~]))"
)
_ENTITY = re.compile(r"&(amp|lt|gt);")
_TAGS = {
    "bold": Markup("<strong>{}</strong>"),
    "italic": Markup("<em>{}</em>"),
    "strike": Markup("<s>{}</s>"),
}


def _entities(text: str) -> str:
    # Slack decodes only these three; any other "&…;" is shown as typed.
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)


def _slack_link(inner: str) -> Markup:
    target, _, label = inner.partition("|")
    if target.startswith(("@", "#", "!")):
        # Mentions and special commands: a pill, as Slack draws them (the label when there is one).
        shown = label or target.lstrip("!")
        prefix = "@" if target[0] in "@!" else "#"
        return Markup('<span class="mention">{}{}</span>').format(prefix, _entities(shown.lstrip("@#")))
    url = _entities(target)
    if not _safe_link(url):
        return escape(_entities("<" + inner + ">"))
    return Markup('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>').format(
        url, _slack_inline(label) if label else url
    )


def _slack_inline(text: str) -> Markup:
    out: list[Markup] = []
    pos = 0
    for m in _SLACK_TOKEN.finditer(text):
        out.append(escape(_entities(text[pos : m.start()])))
        kind = m.lastgroup or ""
        token = m.group(0)
        if kind == "code":
            out.append(Markup("<code>{}</code>").format(_entities(token[1:-1])))
        elif kind == "link":
            out.append(_slack_link(token[1:-1]))
        else:
            out.append(_TAGS[kind].format(_slack_inline(token[1:-1])))
        pos = m.end()
    out.append(escape(_entities(text[pos:])))
    return Markup("").join(out)


def slack_mrkdwn(text: str) -> Markup:
    """Return Slack mrkdwn (a section, context or field text) as HTML."""
    parts: list[Markup] = []
    quote: list[Markup] = []
    for line in text.split("\n"):
        if line.startswith("&gt;"):
            quote.append(_slack_inline(line[4:].removeprefix(" ")))
            continue
        if quote:
            parts.append(Markup("<blockquote>{}</blockquote>").format(Markup("<br>").join(quote)))
            quote = []
        parts.append(_slack_inline(line) + Markup("<br>"))
    if quote:
        parts.append(Markup("<blockquote>{}</blockquote>").format(Markup("<br>").join(quote)))
    joined = Markup("").join(parts)
    return Markup(joined.removesuffix("<br>"))  # noqa: S704 - assembled from escaped pieces


def plain(text: str) -> Markup:
    """Return a plain_text object's text (never parsed by Slack) with its line breaks."""
    return Markup("<br>").join(escape(line) for line in text.split("\n"))
