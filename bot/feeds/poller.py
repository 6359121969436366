"""Poll due feeds: fetch, parse, decide what is news, and store stories, seen keys and alerts in one transaction.

Every replica runs the same loop; a feed is leased to one of them at a time (bot.store.feeds), so each
due feed is fetched once. A feed's failures never reach another feed: each poll ends in a `PollReport`
with a one-line reason, and a feed that keeps failing backs off and is paused with that reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.ports import FEED_TOPIC_PREFIX, PutOutcome, TaggedSummary
from bot.core.summary import Summary
from bot.core.tagging import Tagger
from bot.sources.decide import FeedDecision, decide, entry_time
from bot.sources.errors import SourceError
from bot.sources.feed import FeedEntry, FeedError, ParsedFeed, parse_feed
from bot.sources.feed_summary import SkippedEntry, entry_to_summary
from bot.sources.fetch import (
    Fetched,
    FetchFailed,
    FetchOutcome,
    NotModified,
    failure_delay,
    next_fetch_at,
)
from bot.sources.identity import IdScheme, normalize_url
from bot.store.engine import StoreError
from bot.store.feeds import EntryRow, Feed, SeenEntries, SqlFeedStore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
BROKEN_IDS_SHARE = 0.2  # more of a fetch's entries than this sharing ids means the ids are not ids
_Releases = list[tuple[int, dict[str, Any]]]  # (feed id, its new state) of fetches that stored nothing
# Pages fetched at once for one `--full-text` feed: its entries usually link to one host, which the
# fetcher already limits to 2 connections, and a first poll of 50 entries must not crowd out other feeds.
FULL_TEXT_CONCURRENCY = 2


def feed_topic(name: str) -> str:
    """Return the topic id that stands for "every story of feed `name`"."""
    return FEED_TOPIC_PREFIX + name


class PollSettings(BaseModel):
    """How often feeds are polled and when a failing one is paused."""

    model_config = ConfigDict(frozen=True)

    interval: timedelta = timedelta(minutes=15)
    floor: timedelta = timedelta(minutes=5)
    ceiling: timedelta = timedelta(hours=24)
    pause_after: timedelta = timedelta(days=7)
    stale_after: timedelta = timedelta(days=7)
    lease: timedelta = timedelta(minutes=5)
    concurrency: int = Field(default=50, ge=1)


class Fetcher(Protocol):
    """Fetches a feed URL and says what happened (bot.sources.fetch.FeedFetcher)."""

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchOutcome:
        """Fetch `url` conditionally."""
        ...


class StoryWriter(Protocol):
    """Stores tagged stories and runs `then` inside the same transaction (bot.store.archive.SqlArchive)."""

    async def put_many(
        self,
        items: Sequence[TaggedSummary],
        ingested_at: datetime,
        *,
        quiet: frozenset[str] = frozenset(),
        then: Callable[[AsyncConnection, list[PutOutcome]], Any] | None = None,
    ) -> list[PutOutcome]:
        """Store `items`; those whose id is in `quiet` owe no alerts."""
        ...

    async def ids_by_url(self, urls: Iterable[str]) -> dict[str, str]:
        """Return the id of the story stored under each URL that has one."""
        ...


@dataclass(slots=True)
class PollReport:
    """What one poll of one feed did, as `newsbot feeds poll` prints it."""

    feed: str
    status: int | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    announced: int = 0
    note: str = ""
    error: str | None = None
    paused: str | None = None
    store_ms: float | None = None  # from the response arriving to its stories and alerts committed

    def line(self) -> str:
        """Return the report as one line."""
        head = f"{self.feed}: HTTP {self.status}" if self.status else f"{self.feed}:"
        if self.error:
            tail = f" — paused: {self.paused}" if self.paused else ""
            return f"{head} failed: {self.error}{tail}"
        if self.note == "not modified":
            return f"{head} not modified"
        text = f"{head} {self.new} new, {self.updated} updated, {self.unchanged} unchanged"
        if self.announced != self.new:
            text += f" ({self.announced} announced)"
        return text + (f"; {self.note}" if self.note else "")


@dataclass(slots=True)
class _Plan:
    items: list[TaggedSummary] = field(default_factory=list)
    quiet: set[str] = field(default_factory=set)
    rows: list[EntryRow] = field(default_factory=list)
    edited: list[EntryRow] = field(default_factory=list)


def content_hash(entry: FeedEntry) -> str:
    """Return a hash of what a reader sees of an entry, so an edited entry updates its story."""
    return hashlib.sha256("\x00".join((entry.title, entry.link or "", entry.text)).encode()).hexdigest()


class FeedPoller:
    """Poll feeds for one process: claim due ones, fetch them concurrently, record each outcome."""

    def __init__(
        self,
        feeds: SqlFeedStore,
        stories: StoryWriter,
        tagger: Tagger,
        fetcher: Fetcher,
        *,
        settings: PollSettings,
        clock: Clock,
        owner: str,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.feeds = feeds
        self.stories = stories
        self.tagger = tagger
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock
        self.owner = owner
        self.on_stored = on_stored
        # One write transaction at a time per process (claims, releases, stories), queued here in
        # order. Concurrent ones only wait for SQLite's single write lock in its busy handler, which
        # sleeps up to 100 ms between tries while the lock sits free, and on PostgreSQL story writes
        # pick the same new story keys (drawn from the published second) and retry. Fetching and
        # parsing stay concurrent.
        self._writing = asyncio.Lock()

    async def poll_due(self, stop: asyncio.Event | None = None) -> list[PollReport]:
        """Claim due feeds and poll them until none is due (or `stop` is set); one report per feed.

        Feeds are claimed a slot's worth at a time as fetches finish, not in rounds: a round waits for
        its slowest feed while the other slots idle, and a feed claimed here is fetched within about
        one batch's time, long before its lease runs out.
        """
        width = self.settings.concurrency
        queue: asyncio.Queue[Feed | None] = asyncio.Queue()
        room = asyncio.Event()
        reports: list[PollReport] = []
        releases: _Releases = []

        async def work() -> None:
            while (feed := await queue.get()) is not None:
                if queue.qsize() < width:
                    room.set()
                reports.append(await self._poll(feed, releases))  # never raises for a feed's faults

        async def flush() -> None:
            if releases:
                done = releases[:]
                releases.clear()
                async with self._writing:
                    await self.feeds.release_many(self.owner, done)

        workers = [asyncio.create_task(work()) for _ in range(width)]
        try:
            while stop is None or not stop.is_set():
                while queue.qsize() >= width:  # a batch ahead of the workers is enough
                    room.clear()
                    await room.wait()
                async with self._writing:
                    batch = await self.feeds.claim(
                        self.clock(), self.owner, lease_for=self.settings.lease, limit=width
                    )
                if not batch:
                    break
                for feed in batch:
                    queue.put_nowait(feed)
                # The 304s and failures since the last claim in one write, not one each: on SQLite
                # every commit is a hand-over of the single write lock.
                await flush()
        finally:
            for _ in workers:
                queue.put_nowait(None)
            await asyncio.gather(*workers)
            await flush()
        return reports

    async def poll_named(self, names: Sequence[str]) -> list[PollReport]:
        """Poll the named feeds now, due or not (those another process holds are left to it)."""
        claimed = await self.feeds.claim(
            self.clock(), self.owner, lease_for=self.settings.lease, limit=len(names), names=names
        )
        return await self._poll_all(claimed)

    async def _poll_all(self, claimed: Sequence[Feed]) -> list[PollReport]:
        gate = asyncio.Semaphore(self.settings.concurrency)
        releases: _Releases = []

        async def one(feed: Feed) -> PollReport:
            async with gate:
                return await self._poll(feed, releases)

        reports = list(await asyncio.gather(*(one(f) for f in claimed)))
        # The round's 304s and failures in one write; should it fail, their leases run out and the
        # feeds are fetched again, which a conditional GET makes cheap.
        await self.feeds.release_many(self.owner, releases)
        return reports

    async def poll(self, feed: Feed) -> PollReport:
        """Fetch one leased feed and record what happened; never raises for the feed's own faults."""
        releases: _Releases = []
        report = await self._poll(feed, releases)
        await self.feeds.release_many(self.owner, releases)
        return report

    async def _poll(self, feed: Feed, releases: _Releases) -> PollReport:
        """Poll one feed; a fetch that stores nothing leaves its feed's new state in `releases`."""
        try:
            outcome = await self.fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
            arrived = time.perf_counter()
            if isinstance(outcome, FetchFailed):
                return self._failed(
                    feed, releases, outcome.reason, outcome.status, outcome.retry_after, outcome.gone
                )
            now = self.clock()
            if isinstance(outcome, NotModified):
                return self._unchanged(feed, releases, now, 304, outcome)
            report = await self._fetched(feed, releases, outcome, now)
            report.store_ms = (time.perf_counter() - arrived) * 1000
            return report
        except StoreError as error:
            # The database is down or full: nothing of this poll was recorded, so the lease runs out and
            # the feed is polled again; the polling loop says so once per outage, not once per feed.
            return PollReport(feed.name, error=f"could not record the poll: {error}")
        except Exception as error:  # a bug must not stop the other feeds; the lease runs out and retries
            log.exception("feed %s: poll failed", feed.name)
            return PollReport(feed.name, error=f"internal error: {type(error).__name__}")

    def _next(self, feed: Feed, now: datetime, **hints: Any) -> datetime:
        s = self.settings
        return next_fetch_at(
            now, url=feed.url, interval=s.interval, floor=s.floor, ceiling=s.ceiling, **hints
        )

    def _unchanged(
        self, feed: Feed, releases: _Releases, now: datetime, status: int, got: NotModified | Fetched
    ) -> PollReport:
        fresh_for = got.fresh_for
        release = {
            "url": got.permanent_url or feed.url,
            "etag": got.etag or feed.etag,
            "last_modified": got.last_modified or feed.last_modified,
            "last_fetch_at": now,
            "last_status": status,
            "last_result": "not modified",
            "last_error": None,
            "fail_count": 0,
            "failing_since": None,
            "next_fetch_at": self._next(feed, now, fresh_for=fresh_for, ttl_hint=None, retry_after=None),
        }
        releases.append((feed.id, release))
        return PollReport(feed.name, status=status, note="not modified")

    def _failed(
        self,
        feed: Feed,
        releases: _Releases,
        reason: str,
        status: int | None,
        retry_after: timedelta | None,
        gone: bool,
    ) -> PollReport:
        now = self.clock()
        fails = feed.fail_count + 1
        since = feed.failing_since or now
        paused = None
        if gone:
            paused = reason
        elif now - since >= self.settings.pause_after:
            paused = f"failing since {since:%Y-%m-%d %H:%M} UTC: {reason}"
        wait = max(retry_after or timedelta(0), failure_delay(fails))
        release = {
            "last_fetch_at": now,
            "last_status": status,
            "last_error": reason,
            "fail_count": fails,
            "failing_since": since,
            "paused_reason": paused,
            "next_fetch_at": now + wait,
        }
        releases.append((feed.id, release))
        log.warning("feed %s: %s%s", feed.name, reason, f" — paused ({paused})" if paused else "")
        return PollReport(feed.name, status=status, error=reason, paused=paused)

    async def _fetched(self, feed: Feed, releases: _Releases, got: Fetched, now: datetime) -> PollReport:
        body_sha = hashlib.sha256(got.body).hexdigest()
        if body_sha == feed.body_sha256:
            # The same bytes again from a server without validators: as good as a 304, and not parsed.
            return self._unchanged(feed, releases, now, got.status, got)
        scheme: IdScheme = "id+link" if feed.id_scheme == "id+link" else "id"
        try:
            parsed = await parse_feed(got.body, url=got.final_url, headers=got.headers, id_scheme=scheme)
            if scheme == "id" and parsed.duplicates_dropped > BROKEN_IDS_SHARE * (
                len(parsed.entries) + parsed.duplicates_dropped
            ):
                # The feed's ids repeat across different entries: key on id and link from now on, so
                # the entries its ids hide are not lost. Fingerprints make the switch a rewrite, not news.
                scheme = "id+link"
                parsed = await parse_feed(got.body, url=got.final_url, headers=got.headers, id_scheme=scheme)
                log.warning("feed %s: entry ids repeat; keying its entries on id and link", feed.name)
        except FeedError as error:
            return self._failed(feed, releases, str(error), got.status, None, False)
        seen = await self.feeds.seen(feed.id)
        decision = decide(
            parsed.entries,
            known_keys=seen.keys,
            known_fingerprints=seen.fingerprints,
            first_poll=feed.first_poll,
            now=now,
            last_announced=feed.last_announced,
            stale_after=self.settings.stale_after,
        )
        links = {e.link for v in decision.verdicts if v.action != "seen" and (e := v.entry).link}
        stored = await self.stories.ids_by_url({*links, *(normalize_url(u) for u in links)})
        by_url = {normalize_url(url): sid for url, sid in stored.items()}
        pages: dict[str, Summary] = {}
        if feed.full_text:
            wanted = [
                v.entry
                for v in decision.verdicts
                if v.action != "seen" or seen.keys.get(v.entry.key) != content_hash(v.entry)
            ]
            pages = await self._full_texts(feed, wanted)
        plan = self._plan(feed, parsed, decision, seen, by_url, pages)
        announced = [entry_time(e) for e in decision.announced]
        newest = max(
            [t for t in announced if t is not None] + ([feed.last_announced] if feed.last_announced else []),
            default=None,
        )
        state: dict[str, Any] = {
            "url": got.permanent_url or feed.url,
            "title": feed.title or parsed.title or None,
            "site_url": feed.site_url or parsed.link or None,
            "etag": got.etag,
            "last_modified": got.last_modified,
            "body_sha256": body_sha,
            "last_fetch_at": now,
            "last_parsed_at": now,
            "last_status": got.status,
            "last_error": None,
            "fail_count": 0,
            "failing_since": None,
            "last_announced": newest,
            "id_scheme": scheme,
            "next_fetch_at": self._next(
                feed, now, fresh_for=got.fresh_for, ttl_hint=parsed.ttl, retry_after=None
            ),
        }
        report = PollReport(feed.name, status=got.status, note=decision.note)

        async def record(conn: AsyncConnection, outcomes: list[PutOutcome]) -> None:
            await self.feeds.record_entries(conn, feed.id, plan.rows, now, edited=plan.edited)
            report.new = outcomes.count("created")
            report.updated = outcomes.count("updated")
            report.unchanged = len(parsed.entries) - report.new - report.updated
            report.announced = sum(
                1
                for item, outcome in zip(plan.items, outcomes, strict=True)
                if outcome == "created" and item.summary.id not in plan.quiet
            )
            state["last_result"] = report.line().split(": ", 1)[-1]
            await self.feeds.release_in(conn, feed.id, self.owner, **state)

        async with self._writing:
            await self.stories.put_many(plan.items, now, quiet=frozenset(plan.quiet), then=record)
        if report.announced and self.on_stored is not None:
            self.on_stored()
        return report

    async def _full_texts(self, feed: Feed, entries: Sequence[FeedEntry]) -> dict[str, Summary]:
        """Return the article of each entry's page, by entry key; a page that fails is left out (logged)."""
        gate = asyncio.Semaphore(FULL_TEXT_CONCURRENCY)

        async def one(entry: FeedEntry, link: str) -> tuple[str, Summary | None]:
            async with gate:
                return entry.key, await self._page(feed, link)

        found = await asyncio.gather(*(one(e, e.link) for e in entries if e.link))
        return {key: summary for key, summary in found if summary is not None}

    async def _page(self, feed: Feed, link: str) -> Summary | None:
        from bot.sources.page import page_to_summary  # trafilatura loads only for full-text feeds

        got = await self.fetcher.fetch(link)
        reason: str
        if isinstance(got, FetchFailed):
            reason = got.reason
        elif isinstance(got, NotModified):
            reason = "the server answered 304 to a plain request"
        else:
            try:
                return await page_to_summary(got.body, url=got.final_url)
            except SourceError as error:
                reason = error.reason
        log.warning(
            "feed %s: full text of %s not used (%s); the entry's own text is stored", feed.name, link, reason
        )
        return None

    def _plan(
        self,
        feed: Feed,
        parsed: ParsedFeed,
        decision: FeedDecision[FeedEntry],
        seen: SeenEntries,
        by_url: dict[str, str],
        pages: dict[str, Summary] | None = None,
    ) -> _Plan:
        plan = _Plan()
        extra = (*feed.topics, feed_topic(feed.name))
        title = feed.title or parsed.title or feed.name
        for verdict in decision.verdicts:
            entry = verdict.entry
            digest = content_hash(entry)
            edited = verdict.action == "seen" and seen.keys.get(entry.key) != digest
            summary: Summary | None = None
            if verdict.action != "seen" or edited:
                made = entry_to_summary(entry, feed_title=title, feed_url=feed.url)
                if isinstance(made, SkippedEntry):
                    log.info("feed %s: entry %d skipped: %s", feed.name, made.position, made.reason)
                else:
                    page = (pages or {}).get(entry.key)
                    if page is not None:
                        # The entry's headline, date, link and id stay; its teaser gives way to the article.
                        made = made.model_copy(
                            update={
                                "lede": page.lede or made.lede,
                                "topics": page.topics,
                                "sections": page.sections,
                            }
                        )
                    # An edited or re-keyed entry keeps the story it was first stored as, even when its
                    # new title would derive another id.
                    known = seen.stories.get(verdict.rewrite_of or entry.key)
                    if known is None and made.source is not None and made.source.url:
                        # The same story (same canonical URL) from another feed: one story, not two.
                        known = by_url.get(normalize_url(made.source.url))
                    summary = made.model_copy(update={"id": known}) if known else made
            if summary is not None:
                tagged = self.tagger.tag_summary(summary)
                topics = tuple(dict.fromkeys((*tagged.topics, *extra)))
                plan.items.append(
                    TaggedSummary(tagged.summary, tagged.section_topics, topics, tagged.unknown_tags)
                )
                if verdict.action != "announce":
                    plan.quiet.add(summary.id)
            row = EntryRow(
                key=entry.key,
                key_kind=entry.key_kind,
                fingerprint=entry.fingerprint,
                content_sha256=digest,
                summary_id=summary.id if summary is not None else None,
                published=entry_time(entry),
                quiet=verdict.action == "quiet",
            )
            plan.rows.append(row)
            if edited:
                plan.edited.append(row)
        return plan
