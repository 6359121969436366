"""OPML import and export, so users can bring their feed list from another reader and take it away.

OPML is the one format every feed reader exports. Import has two jobs: read the real files readers
write — folders as nested `<outline>`s, the feed URL spelt `xmlUrl`, `xmlurl` or `XMLURL`, the
OPML 2.0 `category` attribute — and survive hostile ones: the file comes from a user, so it is parsed
with defusedxml, which refuses entity declarations (billion laughs) and external references (XXE)
instead of expanding them (notes §1.5). A bad outline is reported with its reason beside the good
feeds; only a file that is not OPML at all is refused as a whole.

The parser is stdlib ElementTree behind defusedxml rather than listparser: listparser would be one
more dependency, and export has to be written here anyway (reader dropped it for the same reasons).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # only to build documents and name ParseError; parsing is defusedxml
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from bot.core.summary import slugify
from bot.sources.errors import SourceError

MAX_OPML_BYTES = 1_000_000  # notes §1.5: a list of even 10,000 feeds is well under this
MAX_FEEDS = 10_000
MAX_DEPTH = 10  # folders nested deeper than this are not a reader's export (reader caps at 10 too)
_FEED_TYPES = {"rss", "atom", "feed", "json"}
# Characters XML 1.0 cannot carry at all, even escaped: control characters other than tab/LF/CR.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class OpmlError(SourceError):
    """A file that cannot be read as OPML at all; `reason` says why in one line."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """A feed in an OPML file: its URL, title, site, and the folders/categories it was filed under."""

    url: str
    title: str | None = None
    html_url: str | None = None
    categories: tuple[str, ...] = ()  # outermost folder first, then the outline's `category` entries

    @property
    def topics(self) -> tuple[str, ...]:
        """The categories as topic ids (`Tech News` → `tech-news`), for `feeds add --topics`."""
        return tuple(dict.fromkeys(t for t in (slugify(c) for c in self.categories) if t))


@dataclass(frozen=True, slots=True)
class OpmlProblem:
    """An outline that is not a usable feed: where it is in the file, and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class OpmlImport:
    """What an OPML file holds: its title, the feeds found, and a problem per outline refused."""

    title: str | None
    feeds: list[OpmlFeed] = field(default_factory=list)
    problems: list[OpmlProblem] = field(default_factory=list)


def parse_opml(data: bytes) -> OpmlImport:
    """Read the feeds of an OPML file; raise OpmlError when the file is not OPML or is hostile."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"the file is larger than {MAX_OPML_BYTES // 1_000_000} MB; an OPML list never is")
    if not data.strip():
        raise OpmlError("the file is empty")
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise OpmlError(
            f"the file declares XML entities or external references ({type(exc).__name__}); "
            "OPML needs neither, and they are how entity-expansion and XXE attacks work"
        ) from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise OpmlError(f"not well-formed XML at line {line}, column {column + 1}") from None
    if _local(root.tag) != "opml":
        raise OpmlError(f"the root element is <{_local(root.tag)}>, not <opml>: this is not an OPML file")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise OpmlError("the file has no <body>: there are no outlines to read")
    head = next((child for child in root if _local(child.tag) == "head"), None)
    title_el = next((c for c in head if _local(c.tag) == "title"), None) if head is not None else None
    title = _text(title_el.text if title_el is not None else None)
    result = OpmlImport(title)
    seen: set[str] = set()
    for item in _outlines(body, (), 0, [0]):
        if isinstance(item, OpmlProblem):
            result.problems.append(item)
        elif item.url in seen:
            result.problems.append(
                OpmlProblem(_where_feed(item), "the same feed URL appears again; kept once")
            )
        elif len(result.feeds) >= MAX_FEEDS:
            result.problems.append(
                OpmlProblem(_where_feed(item), f"more than {MAX_FEEDS} feeds; not imported")
            )
        else:
            seen.add(item.url)
            result.feeds.append(item)
    return result


def render_opml(feeds: Sequence[OpmlFeed], *, title: str) -> str:
    """Write `feeds` as an OPML 2.0 document, each inside folders named by its categories."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_safe(title)
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], ET.Element] = {(): body}
    for feed in feeds:
        parent = body
        for depth in range(1, len(feed.categories) + 1):
            path = feed.categories[:depth]
            if path not in folders:
                name = _xml_safe(path[-1])
                folders[path] = ET.SubElement(parent, "outline", text=name, title=name)
            parent = folders[path]
        attrs = {"type": "rss", "text": _xml_safe(feed.title or feed.url)}
        if feed.title:
            attrs["title"] = _xml_safe(feed.title)
        attrs["xmlUrl"] = _xml_safe(feed.url)
        if feed.html_url:
            attrs["htmlUrl"] = _xml_safe(feed.html_url)
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _outlines(
    parent: ET.Element, folders: tuple[str, ...], depth: int, counter: list[int]
) -> Iterator[OpmlFeed | OpmlProblem]:
    for outline in parent:
        if _local(outline.tag) != "outline":
            continue
        counter[0] += 1
        attrs = {key.lower(): value for key, value in outline.attrib.items()}
        name = _text(attrs.get("title")) or _text(attrs.get("text"))
        where = f"outline {counter[0]}" + (f" ({name!r})" if name else "")
        kind = (attrs.get("type") or "").strip().lower()
        url = _text(attrs.get("xmlurl")) or (_text(attrs.get("url")) if kind in _FEED_TYPES else None)
        children = [c for c in outline if _local(c.tag) == "outline"]
        if url is None:
            if children and depth >= MAX_DEPTH:
                yield OpmlProblem(
                    where, f"outlines nested more than {MAX_DEPTH} deep; the ones inside were skipped"
                )
            elif children:
                yield from _outlines(outline, (*folders, name) if name else folders, depth + 1, counter)
            elif kind in _FEED_TYPES or attrs.get("htmlurl"):
                yield OpmlProblem(where, "a feed outline without an xmlUrl: no feed address to follow")
            continue  # an empty folder or a note: nothing to import, nothing wrong
        if not re.match(r"^https?://[^\s/?#]+\S*$", url, flags=re.IGNORECASE):
            yield OpmlProblem(where, f"xmlUrl {url[:200]!r} is not an http(s) URL")
            continue
        if name == url:
            name = None  # exporters (this one too) fill the required `text` with the URL when untitled
        categories = [*folders, *_categories(attrs.get("category"))]
        html_url = _text(attrs.get("htmlurl"))
        yield OpmlFeed(url, name, html_url, tuple(dict.fromkeys(categories)))
        # A feed outline with outlines inside is unusual; its children are still feeds of the same folder.
        if children and depth >= MAX_DEPTH:
            yield OpmlProblem(
                where, f"outlines nested more than {MAX_DEPTH} deep; the ones inside were skipped"
            )
        elif children:
            yield from _outlines(outline, folders, depth + 1, counter)


def _categories(value: str | None) -> list[str]:
    # OPML 2.0: comma-separated, each a slash-delimited path ("/Boston/Weather"); every segment counts.
    if not value:
        return []
    return [seg.strip() for path in value.split(",") for seg in path.split("/") if seg.strip()]


def _where_feed(feed: OpmlFeed) -> str:
    return f"feed {feed.url[:200]!r}"


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _text(value: str | None) -> str | None:
    return " ".join(value.split()) or None if value else None


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)
