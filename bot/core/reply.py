"""The neutral reply: structure without markup, which every renderer turns into its platform's payloads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Neutral(BaseModel):
    model_config = ConfigDict(frozen=True)


class Part(_Neutral):
    """A titled block of plain text inside an item (a section, the agreements, a quote)."""

    title: str
    text: str


class Item(_Neutral):
    """One story or one matching section: a heading, an optional link and plain text."""

    title: str
    url: str | None = None
    meta: str | None = None  # one line under the title: outlet, date, topics
    text: str = ""
    # A compact card's one-liners (a discussion area's title and first sentence): each shown on one
    # line after the text, the title in bold; parts below them are shown as titled blocks.
    lines: list[Part] = Field(default_factory=list)
    parts: list[Part] = Field(default_factory=list)


class Reply(_Neutral):
    """What a command or a digest says, before any platform formats it.

    Every string is plain text from summaries or from newsbot itself; renderers escape it. With
    `own_words` the reply's own fields (title, text, notice, footer) are newsbot's words: help,
    confirmations and errors, which mark what is meant to be copied back (a command, a setting's
    name) as a `code` span, and which renderers keep copyable. Items are always summary text.
    """

    title: str
    text: str = ""  # an introduction under the title
    notice: str | None = None  # e.g. "Showing results for drones"
    items: list[Item] = Field(default_factory=list)
    footer: str | None = None
    tone: Literal["info", "warning", "error"] = "info"
    private: bool = False  # answer only the person who asked (Discord ephemeral, Slack ephemeral)
    page: int = 1
    pages: int = 1
    own_words: bool = False  # title/text/notice/footer written by newsbot, not taken from summaries
