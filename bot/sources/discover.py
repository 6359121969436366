"""Finding the feeds a web page announces, so `feeds add` accepts the page URL a user copied.

Users paste the address of a site or an article, not of its feed. Pages name their feeds with
`<link rel="alternate" type="application/rss+xml" href="…">` in the head (the RSS autodiscovery
convention, and what lemon24/reader's `discover` reads first; notes §1.4). This module reads those
links with lxml's HTML parser — which copes with the broken markup real pages have, unlike regexes
— resolves them against the page URL or its `<base href>`, and orders them best first.

Order of preference: Atom, then RSS, then JSON Feed. Atom requires a permanent, unique `id` and an
`updated` date on every entry, which is what newsbot keys stories on; an RSS `guid` is optional, so
RSS items may have to fall back to the link (notes §1.6). JSON Feed comes last because feedparser
6.0.x cannot read it and it goes through the smaller JSON mapper (notes §1.1). Links of one kind keep
the page's order: a site lists its main feed before per-category or comment feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

FeedKind = Literal["atom", "rss", "json"]

# MIME types announced for feeds, by kind (reader's tier-1 list, notes §1.4).
_KINDS: dict[str, FeedKind] = {
    "application/atom+xml": "atom",
    "application/atom": "atom",
    "application/rss+xml": "rss",
    "application/rss": "rss",
    "application/feed+json": "json",
    "application/json": "json",
}
_PREFERENCE: dict[FeedKind, int] = {"atom": 0, "rss": 1, "json": 2}
# A plain `application/json` alternate is most often not a feed: WordPress announces its REST API
# (`/wp-json/wp/v2/posts/123`) and oEmbed that way. Like reader, only a path naming a feed counts.
_JSON_FEED_PATH_ENDS = ("feed.json", "/feed/json", "/feed/json/")


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    """A feed a page links to: absolute URL, the title the page gives it, its kind and declared type."""

    url: str
    title: str | None
    kind: FeedKind
    media_type: str


def find_feed_links(html: bytes | str, base_url: str) -> list[DiscoveredFeed]:
    """Return the feeds `html` announces with `<link rel="alternate">`, best first, each URL once."""
    root = _parse(html)
    if root is None:
        return []
    base = _base(root, base_url)
    found: list[DiscoveredFeed] = []
    for link in root.iter("link"):
        rel = {token.lower() for token in str(link.get("rel") or "").split()}
        media_type = str(link.get("type") or "").split(";")[0].strip().lower()
        href = str(link.get("href") or "").strip()
        kind = _KINDS.get(media_type)
        if "alternate" not in rel or kind is None or not href:
            continue
        url = _absolute(base, href)
        if url is None:
            continue
        if media_type == "application/json" and not urlsplit(url).path.endswith(_JSON_FEED_PATH_ENDS):
            continue
        title = " ".join(str(link.get("title") or "").split()) or None
        found.append(DiscoveredFeed(url, title, kind, media_type))
    found.sort(key=lambda feed: _PREFERENCE[feed.kind])  # stable: page order within a kind
    seen: set[str] = set()
    unique = []
    for feed in found:
        if feed.url not in seen:
            seen.add(feed.url)
            unique.append(feed)
    return unique


def _parse(html: bytes | str) -> Any:
    data = html.encode("utf-8") if isinstance(html, str) else html
    if not data.strip():
        return None
    # A str was decoded already: tell lxml so a stale <meta charset> inside it is not obeyed.
    parser = lxml.html.HTMLParser(encoding="utf-8") if isinstance(html, str) else None
    try:
        return lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError):
        return None  # nothing parseable as HTML: a page that announces no feeds


def _base(root: Any, page_url: str) -> str:
    base = next((str(b.get("href")).strip() for b in root.iter("base") if b.get("href")), "")
    return urljoin(page_url, base) if base else page_url


def _absolute(base: str, href: str) -> str | None:
    try:
        parts = urlsplit(urljoin(base, href))
    except ValueError:
        return None  # e.g. an unclosed IPv6 bracket in the host
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    # The fragment never reaches the server, so two links differing only there are one feed.
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, parts.query, ""))
