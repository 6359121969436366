"""What an operator or a chat admin does with feeds: add (finding a page's feed), remove, list, import, export.

`feeds add` fetches the URL once before storing anything, so a typo, a dead host or a page without a
feed is refused on the spot with the reason, instead of becoming a feed that fails every 15 minutes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.summary import slugify
from bot.feeds.poller import Fetcher
from bot.sources.discover import find_feed_links
from bot.sources.feed import FeedError, ParsedFeed, parse_feed
from bot.sources.fetch import Fetched, FetchFailed, NotModified
from bot.sources.opml import OpmlFeed, parse_opml, render_opml
from bot.store.feeds import Feed, FeedExists, SqlFeedStore

Clock = Callable[[], datetime]
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
NAME_RULE = "1–64 lowercase letters, digits and hyphens, starting with a letter or digit"


class FeedProblem(ValueError):
    """A feed could not be added or found; the message says why, naming the feed or URL."""


@dataclass(frozen=True, slots=True)
class Added:
    """A feed now followed, and how it was found."""

    feed: Feed
    entries: int
    discovered_from: str | None = None  # the page URL whose <link rel=alternate> named the feed


@dataclass(slots=True)
class ImportResult:
    """What `feeds import` did with each outline of an OPML file."""

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "URL: reason"


def check_name(name: str) -> str:
    """Return `name` if it can name a feed, else raise FeedProblem saying what a name may hold."""
    if not NAME_PATTERN.match(name):
        raise FeedProblem(f"{name!r} cannot name a feed: use {NAME_RULE}")
    return name


def name_for(title: str | None, url: str) -> str:
    """Return a feed name made from its title, else from its host."""
    base = slugify(title or "", 64) or slugify(re.sub(r"^https?://(www\.)?", "", url).split("/")[0], 64)
    return base or "feed"


class FeedService:
    """Add, remove, list, import and export feeds; the poller does the polling."""

    def __init__(
        self, store: SqlFeedStore, fetcher: Fetcher, *, clock: Clock, topic_ids: Sequence[str] = ()
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        self.topic_ids = frozenset(topic_ids)  # the taxonomy's ids: what `--topics` may name

    async def _fetch_feed(self, url: str) -> tuple[str, ParsedFeed | None, bytes, str | None]:
        """Fetch `url`; return (final URL, the parsed feed or None when it is a page, body, content type)."""
        got = await self.fetcher.fetch(url)
        if isinstance(got, FetchFailed):
            raise FeedProblem(f"{url}: {got.reason}")
        if isinstance(got, NotModified):  # never for a request without validators, but be exact
            raise FeedProblem(f"{url}: the server answered 304 Not Modified to a plain request")
        final = got.permanent_url or got.url
        try:
            return final, await parse_feed(got.body, url=got.final_url, headers=got.headers), got.body, None
        except FeedError as error:
            if _looks_like_html(got):
                return final, None, got.body, got.final_url
            raise FeedProblem(f"{url}: {error.reason}") from None

    async def add(
        self,
        url: str,
        *,
        name: str | None = None,
        topics: Sequence[str] = (),
        full_text: bool = False,
        user: str | None = None,
    ) -> Added:
        """Follow the feed at `url` (or the feed a page at `url` announces); first fetch it to be sure."""
        url = url.strip()
        if not re.match(r"^https?://\S+$", url, flags=re.IGNORECASE):
            raise FeedProblem(f"{url!r} is not an http(s) URL")
        if name is not None:
            check_name(name)
        unknown = [t for t in topics if t not in self.topic_ids]
        if unknown:
            raise FeedProblem(
                f"unknown topic(s) {', '.join(unknown)}: `newsbot topics` lists the ids --topics takes"
            )
        final, parsed, body, page_url = await self._fetch_feed(url)
        discovered = None
        if parsed is None:
            links = find_feed_links(body, page_url or final)
            if not links:
                raise FeedProblem(
                    f'{url}: this is a web page that announces no feed (no <link rel="alternate">)'
                )
            discovered = url
            final, parsed, _, _ = await self._fetch_feed(links[0].url)
            if parsed is None:
                raise FeedProblem(f"{url}: the feed it announces, {links[0].url}, is not a feed either")
        chosen = name or name_for(parsed.title, final)
        check_name(chosen)
        try:
            feed = await self.store.add(
                chosen,
                final,
                added_url=url,
                now=self.clock(),
                title=parsed.title or None,
                site_url=parsed.link,
                topics=topics,
                full_text=full_text,
                user=user,
            )
        except FeedExists as error:
            hint = "" if name else " (give another with --name)"
            raise FeedProblem(f"{url}: {error}{hint}") from None
        return Added(feed, len(parsed.entries), discovered)

    async def remove(self, name: str) -> bool:
        """Stop following a feed; its stories stay. False when no feed has that name."""
        return await self.store.remove(name)

    async def list_feeds(self) -> list[Feed]:
        """Return every feed, by name."""
        return await self.store.list_feeds()

    async def import_opml(self, data: bytes, *, user: str | None = None) -> ImportResult:
        """Follow every feed of an OPML file without fetching them first (their first poll checks them)."""
        parsed = parse_opml(data)
        result = ImportResult(skipped=[f"{p.where}: {p.reason}" for p in parsed.problems])
        taken = {f.name for f in await self.store.list_feeds()}
        now = self.clock()
        for outline in parsed.feeds:
            base = name_for(outline.title, outline.url)
            chosen, n = base, 2
            while chosen in taken:
                chosen, n = f"{base[:60]}-{n}", n + 1
            try:
                await self.store.add(
                    chosen,
                    outline.url,
                    added_url=outline.url,
                    now=now,
                    title=outline.title,
                    site_url=outline.html_url,
                    # Folder names become topics only where the taxonomy knows them.
                    topics=[t for t in outline.topics if t in self.topic_ids],
                    user=user,
                )
            except FeedExists as error:
                result.skipped.append(f"{outline.url}: {error}")
                continue
            taken.add(chosen)
            result.added.append(chosen)
        return result

    async def export_opml(self) -> str:
        """Return every feed as an OPML 2.0 document."""
        feeds = await self.store.list_feeds()
        outlines = [OpmlFeed(url=f.url, title=f.title or f.name, html_url=f.site_url) for f in feeds]
        return render_opml(outlines, title="newsbot feeds")


def _looks_like_html(got: Fetched) -> bool:
    kind = (got.content_type or "").lower()
    return "html" in kind or got.body.lstrip()[:200].lower().startswith((b"<!doctype html", b"<html"))
