"""Terminal rendering of a neutral reply with Rich: one panel for the reply, one per item.

Every string from a reply becomes a `rich.text.Text`, never markup, so "[bold]" in a summary
prints as typed. Titles sit inside the panels rather than on their borders: Rich crops a border
title that is wider than the terminal, and the body wraps instead.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from bot.core.digest import Digest, digest_reply
from bot.core.reply import Item, Reply

TONE_STYLES = {"info": "cyan", "warning": "yellow", "error": "red"}
# Rich passes ESC and most other control characters straight to the terminal, so text from a
# summary could move the cursor, clear the screen or forge a hyperlink. Each one is shown as its
# visible symbol from the Control Pictures block instead ("\x1b" prints as "␛").
# A carriage return (from a Windows file) is a line break, not a symbol.
_CONTROL_PICTURES: dict[int, int | str] = {
    **{c: 0x2400 + c for c in range(0x20) if chr(c) not in "\n\t"},
    0x0D: "\n",
    0x7F: 0x2421,
    **dict.fromkeys(range(0x80, 0xA0), 0xFFFD),
}


def render_digest(digest: Digest, labels: dict[str, str] | None = None) -> Group:
    """Return a digest as a Rich renderable."""
    return render_reply(digest_reply(digest, labels=labels))


def render_reply(reply: Reply) -> Group:
    """Return a reply as a Rich renderable: a group of panels and a footer line."""
    border = TONE_STYLES[reply.tone]
    head = Text()
    _line(head, reply.title, "bold")
    if reply.notice and reply.notice.strip():
        _line(head, reply.notice, "italic")
    if reply.text.strip():
        _line(head, reply.text)
    # An untitled reply (a story in a digest's thread) is its items alone.
    renderables: list[Panel | Text] = [Panel(head, border_style=border)] if head.plain else []
    renderables.extend(_item_panel(item, border) for item in reply.items)
    footer = [reply.footer.strip()] if reply.footer and reply.footer.strip() else []
    if reply.pages > 1:
        footer.append(f"page {reply.page} of {reply.pages}")
    if footer:
        renderables.append(Text(" · ".join(footer), style="dim"))
    return Group(*renderables)


def reply_to_text(reply: Reply, width: int = 100) -> str:
    """Return a reply as plain text, laid out as the terminal shows it at `width` columns."""
    console = Console(record=True, width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(render_reply(reply))
    return console.export_text(styles=False)


def _item_panel(item: Item, border: str) -> Panel:
    body = Text()
    _line(body, item.title, "bold")
    if item.meta and item.meta.strip():
        _line(body, item.meta, "dim")
    if item.url and item.url.strip():
        _line(body, item.url.strip(), "underline")
    if item.text.strip():
        _line(body, item.text)
    if item.lines and body.plain:
        body.append("\n")  # a blank line between the lede and the areas
    for part in item.lines:  # a card's one-liners: the title in bold, its sentence beside it
        title, line = _printable(part.title.strip()), _printable(part.text.strip())
        if body.plain:
            body.append("\n")
        if title:
            body.append(title, style="bold")
            body.append(" " if line else "")
        body.append(line)
    for part in item.parts:
        body.append("\n")
        _line(body, part.title, "bold")
        _line(body, part.text)
    return Panel(body, border_style=border)


def _line(text: Text, content: str, style: str = "") -> None:
    """Append `content` as literal text on its own line(s)."""
    content = content.strip()
    if not content:
        return
    content = _printable(content)
    if text.plain:
        text.append("\n")
    text.append(content, style=style)


def _printable(content: str) -> str:
    if content.isprintable():
        return content
    return content.replace("\r\n", "\n").translate(_CONTROL_PICTURES)
