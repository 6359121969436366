"""Parsing a feed body (RSS 0.9x/1.0/2.0, Atom 1.0, JSON Feed 1.0/1.1) into plain-text entries.

feedparser reads the XML formats as browsers and readers do: it copes with wrong encodings,
half-broken markup and twenty date formats; html-text then turns entry HTML into plain text. Both
are synchronous and cost tens of milliseconds on a large feed, so they run in a worker thread.
feedparser 6 cannot read JSON Feed (notes §1.1), hence the small mapper here. A body that is not a feed at all raises `FeedError`
with a reason a user can act on; a feed that is only malformed parses, with a problem note.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sources.identity import IdScheme, KeyKind, drop_duplicate_keys, identify

# Syndication module (http://web.resource.org/rss/1.0/modules/syndication/): period names, default
# "daily", and frequency, default 1 update per period.
SY_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}
_INVISIBLE_TAGS = frozenset({"script", "style"})  # html-text drops these with their text
LIST_BULLET = "- "  # the article format's list marker (bot/core/article.py)
JSON_FEED_VERSION_PREFIX = "https://jsonfeed.org/version/1"  # covers 1 and 1.1 (jsonfeed.org/version/1.1)
# feedparser bozo exceptions that say nothing is wrong with the entries (reader's
# `_parser/feedparser.py` lets exactly these two pass silently).
_HARMLESS_BOZO = ("CharacterEncodingOverride", "NonXMLContentType")
# `<!ENTITY` in ASCII-compatible encodings and in UTF-16 either way round.
_ENTITY_DECLARATIONS = (b"<!ENTITY", "<!ENTITY".encode("utf-16-le"), "<!ENTITY".encode("utf-16-be"))
_DOCTYPE = re.compile(r"<!DOCTYPE\s", re.IGNORECASE)
_INTERNAL_SUBSET = re.compile(r"<!DOCTYPE\s[^\[>]*\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
_UTF16_DECLARATION = re.compile(r"""(<\?xml[^>]*encoding=["'])utf-16(?:-?[lb]e)?(["'])""", re.IGNORECASE)
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_START_TAG = re.compile(r"<[A-Za-z_][^<>]*>")
_UNBOUND_PREFIX_TAG = re.compile(r"<(/?)([A-Za-z_][\w.-]*):")
_TAG_LIKE = re.compile(r"<[A-Za-z/!][^<>]*>")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_INLINE_SPACE = re.compile(r"[^\S\n]+")
_XML_DECLARATION_START = re.compile(r"^\s*<\?xml[^>]*?>\s*(?:<\?xml[^>]*?>\s*)*")


class FeedError(Exception):
    """The body is not a feed at all; `reason` says what it is instead, in words for a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry as plain text, with the identity the store dedupes on (from `raw_id`, link or words)."""

    title: str
    link: str | None
    published: datetime | None
    updated: datetime | None
    author: str | None
    text: str
    tags: tuple[str, ...]
    position: int
    # No default, so `dataclasses.replace` must be told the id again instead of silently re-keying.
    raw_id: InitVar[object]
    id_scheme: InitVar[IdScheme] = "id"
    key: str = field(init=False)
    key_kind: KeyKind = field(init=False)
    fingerprint: str = field(init=False)

    def __post_init__(self, raw_id: object, id_scheme: IdScheme) -> None:
        ident = identify(raw_id, link=self.link, title=self.title, text=self.text, scheme=id_scheme)
        # Frozen: the identity is derived once here, so it can never disagree with the fields.
        object.__setattr__(self, "key", ident.key)
        object.__setattr__(self, "key_kind", ident.key_kind)
        object.__setattr__(self, "fingerprint", ident.fingerprint)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed's metadata and its entries in feed order, each key once."""

    title: str
    link: str | None
    entries: tuple[FeedEntry, ...]
    ttl: timedelta | None
    problems: tuple[str, ...] = ()
    duplicates_dropped: int = 0
    format: str = ""
    parse_ms: float = field(default=0.0, compare=False)


async def parse_feed(
    body: bytes, *, url: str, headers: Mapping[str, str] | None = None, id_scheme: IdScheme = "id"
) -> ParsedFeed:
    """Parse a feed body fetched from `url`; raise FeedError when the body is not a feed.

    `url` should be the feed's stored canonical URL: feedparser resolves relative links and
    relative GUIDs against it, and keying on the per-request URL would make every GUID change after
    a redirect (notes §1.2). `id_scheme="id+link"` keys entries on id and link together, for a
    feed whose ids were found to repeat (`ParsedFeed.duplicates_dropped`).
    """
    return await asyncio.to_thread(parse_feed_sync, body, url=url, headers=headers, id_scheme=id_scheme)


def parse_feed_sync(
    body: bytes, *, url: str, headers: Mapping[str, str] | None = None, id_scheme: IdScheme = "id"
) -> ParsedFeed:
    """Parse like `parse_feed`, in the calling thread (for callers already off the event loop)."""
    started = time.perf_counter()
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = lowered.get("content-type", "").lower()
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise FeedError("the response body is empty: there is no feed to read")
    # The body's first character decides before the header does: servers label RSS as JSON and
    # JSON as text/plain, but a feed that opens with "{" is never XML.
    if stripped.startswith(b"{") or ("json" in content_type and not stripped.startswith(b"<")):
        parsed = _parse_json_feed(body, id_scheme)
    else:
        if stripped.startswith(b"<?xml"):
            # Blank lines before the XML declaration (a common CMS plugin slip) make expat refuse the
            # whole document, and feedparser's fallback parser is slower and looser; they carry nothing.
            body = stripped
        parsed = _parse_xml_feed(
            body, url=url, headers=lowered, content_type=content_type, id_scheme=id_scheme
        )
    elapsed = (time.perf_counter() - started) * 1000
    return replace(parsed, parse_ms=elapsed)


def html_to_text(markup: str) -> str:
    """Return the readable text of an HTML fragment: no tags, scripts, styles or images; paragraphs kept.

    html-text (lxml plus lxml_html_clean) does the extraction and drops scripts, styles and
    comments; the glue below only normalises its whitespace and handles double-escaped HTML.
    """
    text = _extract(markup)
    # Many feeds escape their HTML twice, so once decoded the "text" is still markup. A second pass
    # turns it into words; the check keeps a plain "a < b" from being parsed again.
    if _TAG_LIKE.search(text):
        text = _extract(text)
    return text


def _extract(markup: str) -> str:
    # Imported here, in the parsing thread: lxml, html-text and feedparser are ~10 MB that an idle
    # `newsbot run` with no feeds would otherwise carry (bench: discord_idle_rss_mb).
    import html_text
    import lxml.etree

    if not markup.strip():
        return ""
    try:
        tree = html_text.parse_html(markup)
    except (ValueError, lxml.etree.LxmlError):
        # lxml refuses a few inputs outright (nothing but a processing instruction); they carry no text.
        return ""
    for item in tree.iter("li"):
        _mark_list_item(item)
    return normalize_text(html_text.extract_text(tree, guess_layout=True))


def _mark_list_item(item: Any) -> None:
    # html-text writes list items without a marker; a bullet keeps each one visibly an item in chat
    # and lets the article parser see `- Label: text` discussion areas. The bullet goes before the
    # item's first words, which sit inside a <p> in Markdown-made "loose" lists, so it never dangles
    # on a line of its own.
    if item.text and item.text.strip():
        item.text = LIST_BULLET + item.text.lstrip()
        return
    for element in item.iterdescendants():
        if not isinstance(element.tag, str) or element.tag in _INVISIBLE_TAGS:
            continue
        if element.text and element.text.strip():
            element.text = LIST_BULLET + element.text.lstrip()
            return
    if item.text_content().strip():
        item.text = LIST_BULLET


def normalize_text(text: str) -> str:
    """Collapse runs of spaces inside lines and keep paragraph breaks as single blank lines."""
    paragraphs = []
    for para in _BLANK_LINES.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [_INLINE_SPACE.sub(" ", line).strip() for line in para.split("\n")]
        joined = "\n".join(line for line in lines if line)
        if joined:
            paragraphs.append(joined)
    return "\n\n".join(paragraphs)


def _build(
    title: str,
    link: str | None,
    entries: Sequence[FeedEntry],
    *,
    ttl: timedelta | None,
    problems: list[str],
    fmt: str,
) -> ParsedFeed:
    kept, dropped = drop_duplicate_keys(entries, key=lambda e: e.key)
    if dropped:
        problems.append(
            f"{dropped} of {len(entries)} entries repeat an id already used earlier in the feed; "
            "kept the first of each"
        )
    return ParsedFeed(
        title=title,
        link=link,
        entries=tuple(kept),
        ttl=ttl,
        problems=tuple(problems),
        duplicates_dropped=dropped,
        format=fmt,
    )


# ---- XML feeds through feedparser -------------------------------------------------------------


def _parse_xml_feed(
    body: bytes, *, url: str, headers: Mapping[str, str], content_type: str, id_scheme: IdScheme
) -> ParsedFeed:
    problems: list[str] = []
    if any(marker in body for marker in _ENTITY_DECLARATIONS):
        body, declared = _without_entity_declarations(body)
        if declared:
            problems.append("the feed declares its own XML entities; they were ignored, never expanded")
    d = _feedparser(body, url=url, headers=headers)
    if not d.entries and _broken(d):
        repaired = _bind_undeclared_prefixes(body)
        if repaired is not None:
            retry = _feedparser(repaired, url=url, headers=headers)
            if retry.entries:
                problems.append(
                    "the feed uses an undeclared namespace prefix on its RSS elements; read it without"
                )
                d = retry
    if not d.version and not d.entries:
        if "html" in content_type or _HTML_START.match(body):
            raise FeedError(
                "this URL serves an HTML web page, not a feed; give the page's URL to `feeds add` "
                "and newsbot will look for the feed the page links to"
            )
        if _broken(d):
            raise FeedError(f"not a feed: the body is not readable XML ({_describe(d.bozo_exception)})")
        raise FeedError("not a feed: the XML is not RSS, Atom or JSON Feed")
    if _broken(d):
        if not d.entries:
            raise FeedError(f"the feed is broken and no entry could be read ({_describe(d.bozo_exception)})")
        problems.append(f"malformed feed, read anyway: {_describe(d.bozo_exception)}")
    feed = d.feed
    raws = [_feedparser_entry(e, position, id_scheme) for position, e in enumerate(d.entries)]
    return _build(
        _detail_text(feed, "title"),
        _nonempty(feed.get("link")),
        raws,
        ttl=_ttl_hint(feed, problems),
        problems=problems,
        fmt=d.version or "unknown",
    )


def _feedparser(body: bytes, *, url: str, headers: Mapping[str, str]) -> Any:
    import feedparser  # on first use, in the parsing thread (see _extract)

    response_headers = dict(headers)
    # The canonical URL, never the per-request final one, so relative GUIDs keep their value (notes §1.2).
    response_headers["content-location"] = url
    # feedparser treats bytes and str as a filename or URL first (notes §8.1); a BytesIO is only data.
    # Sanitising and resolving URIs inside entry HTML are off: html_to_text drops all markup,
    # scripts and styles anyway, the corpus gives identical text either way, and parsing is 2-3x
    # faster without them (pypy.xml, 609 KB: ~720 ms to ~250 ms on this machine).
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _without_entity_declarations(body: bytes) -> tuple[bytes, bool]:
    # feedparser's expat backend expands internal entities (only expat's amplification limit stops
    # a billion-laughs body), and feedparser has no switch to turn DTDs off. Dropping the DOCTYPE's
    # internal subset leaves entity references undefined, which the loose parser reads as text; a
    # few real feeds declare `&nbsp;` this way and keep their entries. Returns the body and whether
    # it declared entities: "<!ENTITY" with no DOCTYPE before it is an article's code sample.
    utf16 = body.startswith((b"\xff\xfe", b"\xfe\xff")) or _ENTITY_DECLARATIONS[0] not in body
    text = body.decode("utf-16" if utf16 else "utf-8", errors="replace")
    doctype = _DOCTYPE.search(text)
    if doctype is None or doctype.start() > text.find("<!ENTITY"):
        return body, False
    stripped, count = _INTERNAL_SUBSET.subn("", text, count=1)
    if not count:
        raise FeedError(
            "the body declares XML entities in a DOCTYPE that never ends; newsbot refuses it because "
            "entities can expand to gigabytes or pull in local files"
        )
    if utf16:
        stripped = _UTF16_DECLARATION.sub(r"\1utf-8\2", stripped, count=1)
    return stripped.encode("utf-8"), True


def _broken(d: Any) -> bool:
    return bool(d.bozo) and type(d.get("bozo_exception")).__name__ not in _HARMLESS_BOZO


def _bind_undeclared_prefixes(body: bytes) -> bytes | None:
    # Some hand-made feeds write `<rss:item>` without ever declaring `xmlns:rss`, so no XML parser
    # knows what the elements are (shared/feeds/malformed_rss_namespaced.xml). feedparser has no
    # option for this; dropping prefixes that no xmlns declares, and stray doubled XML declarations,
    # makes them plain RSS again. Only tried when the first parse found no entries.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    prefixes = {m.group(2) for m in _UNBOUND_PREFIX_TAG.finditer(text)}
    unbound = {p for p in prefixes if f"xmlns:{p}=" not in text}
    if not unbound:
        return None
    fixed = _UNBOUND_PREFIX_TAG.sub(lambda m: f"<{m.group(1)}" if m.group(2) in unbound else m.group(0), text)
    alternatives = "|".join(map(re.escape, sorted(unbound)))
    attribute = re.compile(rf"(\s)(?:{alternatives}):")
    fixed = _START_TAG.sub(lambda m: attribute.sub(r"\1", m.group(0)), fixed)
    fixed = _XML_DECLARATION_START.sub("", re.sub(r"<!--.*?-->", "", fixed, flags=re.DOTALL), count=1)
    return fixed.encode("utf-8")


def _describe(exc: object) -> str:
    message = str(exc).replace("<unknown>:", "line ").strip()
    return message or type(exc).__name__


def _feedparser_entry(e: Any, position: int, id_scheme: IdScheme) -> FeedEntry:
    content = e.get("content") or []
    if content:
        # Atom may carry several alternatives (text, html, xhtml); the longest has the most words.
        best = max(content, key=lambda c: len(c.get("value") or ""))
        text = _to_text(best.get("value") or "", best.get("type"))
    else:
        detail = e.get("summary_detail") or {}
        text = _to_text(e.get("summary") or "", detail.get("type"))
    return FeedEntry(
        raw_id=e.get("id"),
        id_scheme=id_scheme,
        position=position,
        title=_detail_text(e, "title"),
        link=_nonempty(e.get("link")),
        # dict.get skips feedparser's deprecated fallback that answers `updated` with `published`.
        published=_from_struct(dict.get(e, "published_parsed")),
        updated=_from_struct(dict.get(e, "updated_parsed")),
        author=_nonempty(e.get("author")),
        text=text,
        tags=_tags(t.get("term") for t in e.get("tags") or []),
    )


def _detail_text(obj: Any, name: str) -> str:
    detail = obj.get(f"{name}_detail") or {}
    return _to_text(obj.get(name) or "", detail.get("type")).replace("\n\n", " ").replace("\n", " ")


def _to_text(value: str, kind: str | None) -> str:
    if kind == "text/plain":
        return normalize_text(value)
    return html_to_text(value)


def _from_struct(value: time.struct_time | None) -> datetime | None:
    # feedparser normalises every date it understands to UTC; unparseable dates arrive as None.
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _ttl_hint(feed: Any, problems: list[str]) -> timedelta | None:
    ttl = feed.get("ttl")
    if ttl:
        try:
            minutes = int(str(ttl).strip())
        except ValueError:
            problems.append(f"<ttl> is not a number of minutes: {str(ttl)[:40]!r}; ignored")
        else:
            if minutes > 0:
                return timedelta(minutes=minutes)
    period_name = feed.get("sy_updateperiod")
    frequency_text = feed.get("sy_updatefrequency")
    if not period_name and not frequency_text:
        return None
    period = SY_PERIODS.get(str(period_name or "daily").strip().lower())
    try:
        frequency = int(str(frequency_text or "1").strip())
    except ValueError:
        frequency = 0
    if period is None or frequency < 1:
        problems.append(
            f"sy:updatePeriod/updateFrequency not understood ({period_name!r}, {frequency_text!r}); ignored"
        )
        return None
    return period / frequency


def _nonempty(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _tags(terms: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for term in terms:
        text = _nonempty(term)
        if text:
            seen.setdefault(text, None)
    return tuple(seen)


# ---- JSON Feed --------------------------------------------------------------------------------


def _parse_json_feed(body: bytes, id_scheme: IdScheme) -> ParsedFeed:
    # Written by hand because feedparser 6 has no JSON Feed reader; the format is a flat mapping
    # (https://jsonfeed.org/version/1.1), so this is field renaming, not parsing.
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FeedError(f"not a feed: JSON must be UTF-8, found byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise FeedError(
            f"not a feed: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(doc, dict):
        raise FeedError("not a feed: the JSON is not a JSON Feed object")
    version = doc.get("version")
    if not isinstance(version, str) or not version.startswith(JSON_FEED_VERSION_PREFIX):
        raise FeedError(
            f"not a feed: the JSON has no JSON Feed version (expected {JSON_FEED_VERSION_PREFIX}…, "
            f"found {str(version)[:60]!r})"
        )
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedError("not a feed: the JSON Feed has no `items` list")
    problems: list[str] = []
    raws: list[FeedEntry] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"items[{index}] is not an object; skipped")
            continue
        raws.append(_json_item(item, len(raws), problems, where=f"items[{index}]", id_scheme=id_scheme))
    return _build(
        _str_field(doc.get("title")),
        _nonempty(doc.get("home_page_url")),
        raws,
        ttl=None,
        problems=problems,
        fmt="json" + version.rstrip("/").rsplit("/", 1)[-1],
    )


def _json_item(
    item: Mapping[str, Any], position: int, problems: list[str], *, where: str, id_scheme: IdScheme
) -> FeedEntry:
    if item.get("content_html"):
        text = html_to_text(str(item["content_html"]))
    elif item.get("content_text"):
        text = normalize_text(str(item["content_text"]))
    else:
        text = normalize_text(_str_field(item.get("summary")))
    authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
    names = [str(a["name"]).strip() for a in authors if isinstance(a, dict) and a.get("name")]
    raw_id = item.get("id")
    tags = item.get("tags") if isinstance(item.get("tags"), list) else []
    return FeedEntry(
        raw_id=None if isinstance(raw_id, dict | list) else raw_id,
        id_scheme=id_scheme,
        position=position,
        # JSON Feed titles are plain text (jsonfeed.org/version/1.1): "<div>" in one is the author's words.
        title=" ".join(_str_field(item.get("title")).split()),
        link=_nonempty(item.get("url")) or _nonempty(item.get("external_url")),
        published=_json_date(item.get("date_published"), f"{where}.date_published", problems),
        updated=_json_date(item.get("date_modified"), f"{where}.date_modified", problems),
        author=", ".join(names) or None,
        text=text,
        tags=_tags(tags),
    )


def _str_field(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _json_date(value: object, where: str, problems: list[str]) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        problems.append(f"{where}: not an RFC 3339 date: {str(value)[:40]!r}; ignored")
        return None
    if parsed.tzinfo is None:
        # RFC 3339 requires an offset; a feed that leaves it out almost always means UTC.
        problems.append(f"{where}: date has no UTC offset; read as UTC")
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
