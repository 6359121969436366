"""A web page turned into a structured summary, through the same article parser as a `.txt` file.

Why this module exists: most of a news page is not the story — navigation, share bars, sidebars,
comments, "related stories", footers. A maintained extractor finds the article: trafilatura (best F1,
0.934, on a 400-page rerun of its evaluation set; notes §2.1), with readability-lxml as the fallback
when trafilatura finds (almost) nothing. The extracted blocks are then written out in the plain-text
article shape that `bot.core.article` reads — the title as the headline, headings as `##` lines,
paragraphs separated by blank lines, list items as `- ` lines — so a page and a `.txt` article become
the same kind of summary: headings become sections, `- Label: text` discussion areas become topics,
and every kept sentence is the page's own words. Title, date, site name and URL travel as front
matter, which the article parser already validates.

The walk over the extractor's tree is written here rather than taken from trafilatura's Markdown
output because the Markdown changes the words: with formatting on (needed for headings) it wraps
emphasis in `*`, escapes characters and drops the space before an emphasised word ("entitled
<i>Beautiful Code</i>" came out as "entitled*Beautiful Code*"); the tree keeps the text as written.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import yaml

from bot.core.article import ArticleError, parse_article
from bot.core.loader import Loaded, LoadError
from bot.core.summary import HEADLINE_MAX, Summary
from bot.sources.errors import SourceError

PAGE_SUFFIXES = (".html", ".htm")
# Below this many characters trafilatura has most likely missed the article (a teaser, a cookie
# wall); notes §2.1 recommends trying readability-lxml then.
FALLBACK_BELOW_CHARS = 200
# A page whose best extraction holds fewer words than this is a index, an error page or a shell
# filled in by JavaScript, not an article: refused rather than stored as a one-line "story".
MIN_ARTICLE_WORDS = 20
MAX_PAGE_BYTES = 10_000_000  # the decompressed body cap feeds use too (notes §1.7)

Extractor = Literal["trafilatura", "readability"]

# Element names of trafilatura's XML tree and of the HTML readability-lxml returns, by role.
_HEADINGS = {"head", "h1", "h2", "h3", "h4", "h5", "h6"}
_LISTS = {"list", "ul", "ol", "dl"}
_ITEMS = {"item", "li", "dt", "dd"}
_TABLES = {"table"}
_ROWS = {"row", "tr"}
_CONTAINERS = {
    "body", "div", "section", "article", "main", "quote", "blockquote", "figure", "header",
    "tbody", "thead", "tfoot", "html",
}  # fmt: skip
_PARAGRAPHS = {"p", "pre", "code", "figcaption", "caption", "address"}
_BREAKS = {"lb", "br"}
_SKIPPED = {"graphic", "img", "script", "style", "noscript", "template", "del", "svg", "button", "form"}
# Children that start a new line of text when they sit inside a paragraph-like element.
# `code` is not among them: inline code sits inside words and sentences ("the <code>foo</code>s").
_SPACED = _HEADINGS | _LISTS | _ITEMS | _ROWS | (_PARAGRAPHS - {"code"}) | _CONTAINERS | {"cell", "td", "th"}
_BLOCKS = _HEADINGS | _LISTS | _TABLES | _ROWS | _CONTAINERS | _PARAGRAPHS | _ITEMS
_SPACES = re.compile(r"\s+")
# trafilatura logs "parsed tree length: 0 …" at ERROR level for every page it cannot read, without
# naming the page; the refusal is reported by our caller with the file or URL instead.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
# Headings that open a list of other pages, not more of this story ("Look at other dictionaries:",
# "Related stories", "You may also like"). trafilatura keeps such a block when it sits inside the
# article's container (corpus page 06); the heading and everything under it up to the next heading
# of the same or a higher level are dropped.
_ELSEWHERE_HEADING = re.compile(
    r"^(?:related\b|see also\b|more (?:stories|articles|news|from|on|in)\b|read (?:more|next)\b|"
    r"you (?:may|might) also\b|recommended\b|look at other\b|up next\b|next stor|popular\b|"
    r"trending\b|most read\b)",
    flags=re.IGNORECASE,
)


class PageError(SourceError):
    """A page that cannot become a summary; `reason` says why in one line."""


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """The article found in a page: its text in article-parser shape, and what the page says about it."""

    title: str
    body: str  # blocks after the headline: "## heading", paragraphs, "- item" lines, blank-line separated
    published: datetime | None  # aware, UTC
    site_name: str | None
    url: str | None
    author: str | None
    extractor: Extractor

    def article_text(self) -> str:
        """Return the page as an article file: front matter with the metadata, headline, body."""
        front: dict[str, Any] = {}
        if self.published is not None:
            front["published"] = self.published.isoformat()
        source = {k: v for k, v in (("name", self.site_name), ("url", self.url)) if v}
        if source:
            front["source"] = source
        head = f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False)}---\n" if front else ""
        return f"{head}# {self.title}\n\n{self.body}\n"


def extract_page(html: bytes | str, *, url: str | None = None) -> ExtractedPage:
    """Find the article in `html`; raise PageError when the page is empty or holds no article."""
    if len(html) > MAX_PAGE_BYTES:
        raise PageError(f"the page is larger than {MAX_PAGE_BYTES // 1_000_000} MB")
    if not html.strip():
        raise PageError("the page is empty")
    url = url if url and _is_http(url) else None
    import trafilatura  # imported here: 0.2 s of start-up that commands not reading pages should not pay

    doc: Any  # a trafilatura Document; typed loosely because its fields are read with getattr
    try:
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            include_comments=False,
            with_metadata=True,
            include_formatting=False,
            include_tables=True,
            include_images=False,
            include_links=False,
        )
    except Exception as exc:
        # A third-party parser meeting hostile markup; the page is at fault, so it is a reason, not a crash.
        raise PageError(f"the page cannot be parsed as HTML ({type(exc).__name__})") from None
    blocks: list[str] = list(_blocks(doc.body)) if doc is not None and doc.body is not None else []
    extractor: Extractor = "trafilatura"
    if _chars(blocks) < FALLBACK_BELOW_CHARS:
        fallback = _readability_blocks(html, url)
        if _chars(fallback) > _chars(blocks):
            blocks, extractor = fallback, "readability"
    meta = doc if doc is not None else _metadata(html, url)
    title = _one_line(getattr(meta, "title", None) or "") or _first_heading(blocks)
    blocks = _drop_elsewhere_sections(_drop_repeated_title(blocks, title))
    words = sum(len(b.split()) for b in blocks if not b.startswith("#"))
    if words < MIN_ARTICLE_WORDS:
        found = f"only {words} word{'s' if words != 1 else ''}" if words else "no words"
        raise PageError(
            f"no article found: the main text holds {found}; an article needs at least {MIN_ARTICLE_WORDS}"
        )
    if not title:
        raise PageError("the page has no title and no heading to use as a headline")
    page_url = url or _http_or_none(getattr(meta, "url", None))
    site = _one_line(getattr(meta, "sitename", None) or getattr(meta, "hostname", None) or "") or None
    return ExtractedPage(
        title=_headline(title),
        body=_join(blocks),
        published=_date(getattr(meta, "date", None)),
        site_name=site,
        url=page_url,
        author=_one_line(getattr(meta, "author", None) or "") or None,
        extractor=extractor,
    )


def summarise_page(page: ExtractedPage) -> Summary:
    """Run the article parser over an extracted page; raise PageError when it cannot be a summary."""
    try:
        return parse_article(page.article_text(), name=page.url or "page")
    except ArticleError as exc:
        raise PageError("; ".join(exc.problems) or str(exc)) from None


def page_summary(html: bytes | str, *, url: str | None = None) -> Summary:
    """Extract and summarise in one synchronous call (for callers already off the event loop)."""
    return summarise_page(extract_page(html, url=url))


async def page_to_summary(html: bytes | str, *, url: str | None = None) -> Summary:
    """Turn a web page into a summary off the event loop (extraction costs tens of ms of CPU)."""
    return await asyncio.to_thread(page_summary, html, url=url)


def read_page_file(raw: bytes, where: str) -> list[Loaded | LoadError]:
    """Read a saved page for the loader: one summary, or one error saying why the page was refused."""
    try:
        return [Loaded(where, page_summary(raw))]
    except PageError as exc:
        return [LoadError(where, (exc.reason,))]


# -- the walk over the extracted tree ------------------------------------------------------------


def _blocks(element: Any) -> Iterator[str]:
    """Yield the blocks of a container: headings, paragraphs and list items as article-text lines."""
    loose: list[str] = []  # inline text and elements between blocks form one paragraph

    def flush() -> Iterator[str]:
        text = _one_line("".join(loose))
        loose.clear()
        if text:
            yield text

    if element.text:
        loose.append(element.text)
    for child in element:
        tag = _tag(child)
        if tag is None or tag in _SKIPPED:
            pass
        elif tag == "code" and ("".join(loose).strip() or (child.tail or "").strip()):
            loose.append(_inline(child))  # code inside running text (HTML), not a code block (trafilatura)
        elif tag in _BLOCKS or tag in _TABLES:
            yield from flush()
            yield from _block(child, tag)
        elif tag in _BREAKS:
            loose.append(" ")
        else:
            loose.append(_inline(child))
        if child.tail:
            loose.append(child.tail)
    yield from flush()


def _block(element: Any, tag: str) -> Iterator[str]:
    if tag in _HEADINGS:
        text = _inline(element, top=True)
        if text:
            yield f"{'#' * _level(element, tag)} {text}"
    elif tag in _LISTS:
        for child in element:
            child_tag = _tag(child)
            if child_tag in _ITEMS:
                yield from _item(child)
            elif child_tag is not None and child_tag not in _SKIPPED:
                yield from _block(child, child_tag) if child_tag in _BLOCKS else _paragraph(child)
    elif tag in _ITEMS:
        yield from _item(element)
    elif tag in _TABLES or tag in _ROWS:
        for row in element.iter("row", "tr"):
            cells = [_inline(cell, top=True) for cell in row if _tag(cell) in {"cell", "td", "th"}]
            line = " | ".join(c for c in cells if c)
            if line:
                yield line
    elif tag in _CONTAINERS and any(_tag(c) in _BLOCKS or _tag(c) in _TABLES for c in element):
        yield from _blocks(element)
    else:
        yield from _paragraph(element)


def _paragraph(element: Any) -> Iterator[str]:
    text = _inline(element, top=True)
    if text:
        yield text


def _item(element: Any) -> Iterator[str]:
    # An item's own words form one "- " line; lists nested inside it follow as their own items.
    own = [element.text or ""]
    nested: list[Any] = []
    for child in element:
        tag = _tag(child)
        if tag in _LISTS:
            nested.append(child)
        elif tag is not None and tag not in _SKIPPED:
            own.append(_inline(child, spaced=tag in _SPACED))
        if child.tail:
            own.append(child.tail)
    text = _one_line("".join(own))
    if text:
        yield f"- {text}"
    for child in nested:
        yield from _block(child, _tag(child) or "list")


def _inline(element: Any, *, top: bool = False, spaced: bool = False) -> str:
    """Return an element's words; breaks and block-level children become spaces, never glue."""
    tag = _tag(element)
    if tag is None or tag in _SKIPPED:
        return ""
    if tag in _BREAKS:
        return " "
    parts = [element.text or ""]
    for child in element:
        child_tag = _tag(child)
        parts.append(_inline(child, spaced=child_tag in _SPACED))
        if child.tail:
            parts.append(child.tail)
    text = "".join(parts)
    if top:
        return _one_line(text)
    return f" {text} " if spaced else text


def _tag(element: Any) -> str | None:
    tag = element.tag
    # lxml gives comments and processing instructions a function as their tag.
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else None


def _level(element: Any, tag: str) -> int:
    rend = str(element.get("rend") or tag)
    level = int(rend[1]) if len(rend) == 2 and rend[0] == "h" and rend[1].isdigit() else 2
    return max(2, min(level, 6))  # "#" is the headline's alone


def _readability_blocks(html: bytes | str, url: str | None) -> list[str]:
    import lxml.html
    from readability import Document

    try:
        text = html if isinstance(html, str) else _decode(html)
        partial = Document(text, url=url).summary(html_partial=True)
        tree = lxml.html.fromstring(partial) if partial.strip() else None
    except Exception:
        # readability raises its own Unparseable, lxml's ParserError and others on hostile markup; the
        # trafilatura result (perhaps empty) then stands and decides whether the page is refused.
        return []
    return list(_blocks(tree)) if tree is not None else []


def _decode(raw: bytes) -> str:
    from trafilatura.utils import decode_file

    return decode_file(raw)


def _metadata(html: bytes | str, url: str | None) -> Any:
    from trafilatura.metadata import extract_metadata
    from trafilatura.utils import load_html

    try:
        tree = load_html(html)
        return extract_metadata(tree, default_url=url) if tree is not None else None
    except Exception:
        return None  # metadata is optional; a page that breaks its extraction is judged on its text


def _chars(blocks: list[str]) -> int:
    return sum(len(b) for b in blocks if not b.startswith("#"))


def _first_heading(blocks: list[str]) -> str:
    return next((b.lstrip("#").strip() for b in blocks if b.startswith("#")), "")


def _drop_repeated_title(blocks: list[str], title: str) -> list[str]:
    # Extractors keep the page's <h1>, which repeats the title already used as the headline.
    key = title.casefold()
    for index, block in enumerate(blocks[:3]):
        if block.startswith("#") and block.lstrip("#").strip().casefold() == key:
            return blocks[:index] + blocks[index + 1 :]
    return blocks


def _drop_elsewhere_sections(blocks: list[str]) -> list[str]:
    kept: list[str] = []
    skipping_below = 0  # the level of the heading being skipped under; 0 when keeping
    for block in blocks:
        level = len(block) - len(block.lstrip("#")) if block.startswith("#") else 0
        if skipping_below and (level == 0 or level > skipping_below):
            continue
        skipping_below = 0
        if level and _ELSEWHERE_HEADING.match(block.lstrip("#").strip()):
            skipping_below = level
            continue
        kept.append(block)
    return kept


def _join(blocks: list[str]) -> str:
    out: list[str] = []
    for block in blocks:
        if out and block.startswith("- ") and out[-1].startswith("- "):
            out.append("\n")  # consecutive items form one list
        elif out:
            out.append("\n\n")
        out.append(block)
    return "".join(out)


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _headline(title: str) -> str:
    if len(title) <= HEADLINE_MAX:
        return title
    return title[: HEADLINE_MAX - 1].rsplit(" ", 1)[0].rstrip() + "…"


def _date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # htmldate gives a calendar date; midnight UTC stands for "that day" without inventing a zone.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _http_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and _is_http(value) else None


def _is_http(value: str) -> bool:
    return re.match(r"^https?://[^\s/?#]+\S*$", value, flags=re.IGNORECASE) is not None
