"""The news service: ingest, topic answers and digests over an archive, with no platform in sight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.core.digest import Digest, build_digest
from bot.core.ports import FEED_TOPIC_PREFIX, Archive, Clock, PutOutcome, SectionHit, TaggedSummary
from bot.core.query import Resolution, TopicResolver
from bot.core.summary import Summary
from bot.core.tagging import Tagger
from bot.core.taxonomy import Taxonomy

INGEST_BATCH = (
    500  # summaries per store transaction: large enough to amortise, small enough to stay responsive
)
# Stories one digest reads and shows, whatever period or count is asked for: `/news digest 2000-01-01`
# over 30,000 stories once loaded them all (7.8 s stall, 490 MB). The same bound as the largest
# `digest.max_stories` a scheduled digest may have (bot/settings.py).
MAX_DIGEST_STORIES = 50
T = TypeVar("T")
# Stories tagged or loaded between two looks at the event loop while a batch is being stored.
_YIELD_EVERY = 4


class TopicMatch(BaseModel):
    """One section that answers a topic query."""

    model_config = ConfigDict(frozen=True)

    summary_id: str
    headline: str
    title: str
    text: str
    url: str | None
    published: AwareDatetime


class TopicAnswer(BaseModel):
    """The answer to `/topic QUERY`: which topic it resolved to and the matching sections."""

    model_config = ConfigDict(frozen=True)

    query: str
    topic: str | None
    note: str | None = None
    suggestions: list[str] = Field(default_factory=list)
    matches: list[TopicMatch] = Field(default_factory=list)
    page: int = 1
    has_more: bool = False


class TopicCount(BaseModel):
    """A topic of the taxonomy with how many stories carry it."""

    model_config = ConfigDict(frozen=True)

    id: str
    label: str
    stories: int


@dataclass(slots=True)
class IngestResult:
    """What storing a batch did, one outcome per summary in input order."""

    outcomes: list[PutOutcome] = field(default_factory=list)
    unknown_tags: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # summary id → tags kept but unknown

    @property
    def changed(self) -> bool:
        """Return whether any summary was new or changed (so alerts may be owed)."""
        return any(o != "unchanged" for o in self.outcomes)


IngestListener = Callable[[IngestResult], None]


class NewsService:
    """Ingest summaries, answer topic queries and build digests."""

    def __init__(
        self,
        archive: Archive,
        taxonomy: Taxonomy,
        *,
        clock: Clock,
        digest_title: str = "News digest",
        max_stories: int = 10,
    ) -> None:
        self.archive = archive
        self.taxonomy = taxonomy
        self.tagger = Tagger(taxonomy)
        self.resolver = TopicResolver(taxonomy)
        self.clock = clock
        self.digest_title = digest_title
        self.max_stories = max_stories
        # Told of every stored batch, whichever way it came in (CLI, watch folder, API); `newsbot run`
        # counts it in the metrics and wakes the sender loop here, in one place.
        self.listeners: list[IngestListener] = []

    async def ingest(self, summaries: Sequence[Summary]) -> IngestResult:
        """Tag and store summaries; unchanged ones are left alone, changed ones replace their earlier version."""
        pipeline = self.pipeline()
        try:
            await pipeline.add(summaries)
        finally:
            result = await pipeline.drain()
        return result

    def pipeline(self) -> IngestPipeline:
        """Return a pipeline for an ingest of many batches: each is tagged while the last is stored."""
        return IngestPipeline(self)

    def resolve(self, query: str) -> Resolution:
        """Resolve a query to a topic of the taxonomy (id, label, synonym, stem, typo)."""
        return self.resolver.resolve(query)

    async def topic(self, query: str, *, page: int = 1, per_page: int = 5) -> TopicAnswer:
        """Answer a topic query: sections tagged with the resolved topic, else a full-text search."""
        page = max(1, page)
        offset = (page - 1) * per_page
        resolution = self.resolver.resolve(query)
        name = query[len(FEED_TOPIC_PREFIX) :].strip().lower()
        if query.lower().startswith(FEED_TOPIC_PREFIX) and name:
            # A feed's own stories, newest first; the taxonomy does not know feeds, so no fuzzy match.
            resolution = Resolution(query, FEED_TOPIC_PREFIX + name, "id")
        if resolution.topic_id is not None:
            found = await self.archive.sections_for_topic(resolution.topic_id, limit=per_page, offset=offset)
        else:
            found = await self.archive.search_sections(query, limit=per_page, offset=offset)
        return TopicAnswer(
            query=query,
            topic=resolution.topic_id,
            note=resolution.note,
            suggestions=list(resolution.suggestions),
            matches=[_match(h) for h in found.hits],
            page=page,
            has_more=found.has_more,
        )

    async def topic_counts(self) -> list[TopicCount]:
        """Return every topic of the taxonomy with its story count, in taxonomy order."""
        counts = await self.archive.topic_counts()
        return [TopicCount(id=t.id, label=t.label, stories=counts.get(t.id, 0)) for t in self.taxonomy.topics]

    async def digest(
        self,
        *,
        since: datetime | None = None,
        last: int | None = None,
        topics: Sequence[str] = (),
        title: str | None = None,
    ) -> Digest:
        """Build a digest of the stories published since `since`, or the last `last` (default: the latest)."""
        wanted = last if last is not None else (MAX_DIGEST_STORIES if since is not None else self.max_stories)
        limit = max(1, min(wanted, MAX_DIGEST_STORIES))
        # One more than shown, only to learn whether the digest left stories out.
        stories = await self.archive.recent_stories(since=since, limit=limit + 1, topics=topics)
        built = build_digest(
            stories[:limit],
            title=title or self.digest_title,
            topics=topics,
            labels=self.taxonomy.labels(),
        )
        return built.model_copy(update={"more": len(stories) > limit}) if len(stories) > limit else built


class IngestPipeline:
    """Tag the next batch of stories while the batch before it is being stored.

    Storing works mostly outside this thread: in SQLite's own thread (aiosqlite), where the index and
    the commit hold no GIL, or in PostgreSQL. Loading and tagging work in this thread (`add`), unless
    worker processes did them (`add_tagged`, bot/core/bulk.py). One after the
    other, a bulk ingest left this thread idle for about a third of its time (main thread 300 µs of
    CPU per story against 500 µs of wall time). Batches are still stored one at a time and in order,
    so a later copy of a story still wins. While a batch is being stored, tagging yields every few
    stories so the store can send its next statement.
    """

    def __init__(self, service: NewsService) -> None:
        self._service = service
        self._now = service.clock()
        self._storing: asyncio.Task[list[PutOutcome]] | None = None
        self._tagged: list[TaggedSummary] = []
        self.result = IngestResult()  # what every stored batch did, in input order

    async def make_way(self, done: int) -> None:
        """Between stories read or tagged (`done` so far): every few, while a batch is being stored, let
        it send its next statement."""
        storing = self._storing is not None and not self._storing.done()
        if storing and done % _YIELD_EVERY == 0:
            await asyncio.sleep(0)

    async def add(self, summaries: Sequence[Summary]) -> None:
        """Tag `summaries`, then start storing them as soon as the batch before them is stored."""
        tagger = self._service.tagger
        for batch in _batches(summaries, key=lambda summary: summary.id):
            tagged: list[TaggedSummary] = []
            for summary in batch:
                tagged.append(tagger.tag_summary(summary))
                await self.make_way(len(tagged))
            await self._store(tagged)

    async def add_tagged(self, tagged: Sequence[TaggedSummary]) -> None:
        """Store stories tagged already (by worker processes, bot/core/bulk.py), a batch at a time, in order."""
        for batch in _batches(tagged, key=lambda item: item.summary.id):
            await self._store(batch)

    async def _store(self, batch: list[TaggedSummary]) -> None:
        await self.drain()
        self._tagged = batch
        self._storing = asyncio.create_task(self._service.archive.put_many(batch, self._now))

    async def drain(self) -> IngestResult:
        """Wait for the batch being stored; tell the listeners what it did and return `result`."""
        if self._storing is None:
            return self.result
        storing, self._storing = self._storing, None
        batch = IngestResult(outcomes=await storing)
        batch.unknown_tags = {t.summary.id: t.unknown_tags for t in self._tagged if t.unknown_tags}
        self.result.outcomes.extend(batch.outcomes)
        self.result.unknown_tags.update(batch.unknown_tags)
        for listener in self._service.listeners:
            listener(batch)
        return self.result


def _batches(items: Sequence[T], *, key: Callable[[T], str]) -> list[list[T]]:
    # A story that appears twice in one run (two files, one id) goes into a later batch, so each
    # store transaction sees an id once and the later copy wins, as it would across two runs.
    batches: list[list[T]] = []
    current: list[T] = []
    seen: set[str] = set()
    for item in items:
        story = key(item)
        if len(current) >= INGEST_BATCH or story in seen:
            batches.append(current)
            current, seen = [], set()
        current.append(item)
        seen.add(story)
    if current:
        batches.append(current)
    return batches


def _match(hit: SectionHit) -> TopicMatch:
    return TopicMatch(
        summary_id=hit.summary_id,
        headline=hit.headline,
        title=hit.title,
        text=hit.text,
        url=hit.url,
        published=hit.published,
    )
