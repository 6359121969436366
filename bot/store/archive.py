"""The summary archive on SQLite or PostgreSQL: bulk ingest, topic and full-text section queries, digests."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import random
import re
import sqlite3
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import Dialect, Row, Select, Table, bindparam, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.ports import HitPage, PutOutcome, SectionHit, StoredStory, TaggedSummary
from bot.core.summary import Summary
from bot.store.engine import READ, WRITE, StoreError, translated_errors
from bot.store.feeds import quiet_story
from bot.store.tables import (
    MAX_INDEXED_SECTIONS,
    POSITION_BITS,
    SECONDS_LIMIT,
    SLOTS_PER_SECOND,
    UTCDateTime,
    sections,
    story_topics,
    summaries,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
# Bound parameters one SQLite statement may take: SQLITE_MAX_VARIABLE_NUMBER's default, 999 before
# SQLite 3.32.0 and 32,766 since (sqlite.org/limits.html, item 9).
_SQLITE_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_CHUNK = 900  # values per IN (...) list: below every SQLite build's bound-parameter limit
_MAX_SEARCH_WORDS = 16  # more words only narrow an AND search further and cost time
_WORD = re.compile(r"\w+")
# A put that lost a race (another writer stored the same story id first, or PostgreSQL broke a
# deadlock between two batches) looks again; story keys themselves cannot clash on PostgreSQL, as
# their allocation is serialised per published second (see _lock_seconds). Enough attempts that
# hundreds of writers of one story all get through, with a jittered pause so they spread out.
_PUT_ATTEMPTS = 12
_RETRY_PAUSE_S = 0.05
_RETRYABLE_SQLSTATES = frozenset({"23505", "40001", "40P01"})  # unique violation, serialization, deadlock
# First key of PostgreSQL's two-integer advisory locks: the namespace of "story keys of one second".
_KEY_LOCK_CLASS = 0x6E6B  # "nk"
_INT4_MAX = 2**31 - 1
# Take the per-second locks in ascending order in one round trip, so two batches never deadlock on them.
_PG_LOCK_SECONDS = text(
    "SELECT count(pg_advisory_xact_lock(:cls, s)) "
    "FROM (SELECT DISTINCT unnest(CAST(:seconds AS integer[])) AS s ORDER BY s) AS wanted"
)

# Newest story first is "highest section id first" (see bot/store/tables.py for how ids are built),
# so both indexes stop after one page. Relevance is scored in Python on the page's rows only: FTS5's
# bm25() counts every match of every word first, which costs milliseconds for common words.
_SQLITE_SEARCH = (
    "SELECT sections.id, sections.summary_id, sections.title, sections.text, sections.topics, "
    "summaries.headline, summaries.url, summaries.published FROM sections_fts "
    "JOIN sections ON sections.id = sections_fts.rowid JOIN summaries ON summaries.id = sections.summary_id "
    "WHERE sections_fts MATCH :q"
)
_PG_SEARCH = (
    "SELECT sections.id, sections.summary_id, sections.title, sections.text, sections.topics, "
    "summaries.headline, summaries.url, summaries.published FROM sections "
    "JOIN summaries ON summaries.id = sections.summary_id "
    "WHERE sections.search @@ plainto_tsquery('english', :q)"
)
_SEARCH_PAGE = {
    "sqlite": text(_SQLITE_SEARCH + " ORDER BY sections_fts.rowid DESC LIMIT :n"),
    "postgresql": text(_PG_SEARCH + " ORDER BY sections.id DESC LIMIT :n"),
}
_SEARCH_STORY = {
    "sqlite": text(_SQLITE_SEARCH + " AND sections_fts.rowid BETWEEN :lo AND :hi"),
    "postgresql": text(_PG_SEARCH + " AND sections.id BETWEEN :lo AND :hi"),
}
_SEARCH_COLUMNS = {"published": UTCDateTime()}
# One statement per batch; see the note in migrations/versions/0001_initial.py.
_SQLITE_INDEX_SECTIONS = text(
    "INSERT INTO sections_fts(rowid, title, text) SELECT id, title, text FROM sections WHERE summary_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


@dataclass(slots=True)
class _Existing:
    content_hash: str
    story_key: int
    ingested_at: datetime
    topics: str


@dataclass(slots=True)
class _Pending:
    item: TaggedSummary
    doc: str
    content_hash: str
    published: datetime


# A put asks for each story's fingerprint three times (matching, then storing it); remembering the
# latest ones makes that once. Big enough for the largest batch, service.INGEST_BATCH (500).
@functools.lru_cache(maxsize=1024)
def headline_fingerprint(headline: str) -> str:
    """Return the sha256 of a headline's words, case-folded: punctuation, spacing and case do not count."""
    words = _WORD.findall(unicodedata.normalize("NFKC", headline).casefold())
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


def _same_story(a: _Known, b: _Known) -> bool:
    """Whether two stories with one headline fingerprint are one story told twice.

    Different source URLs, or dates on different days, make two stories (a recurring "Daily briefing"
    stays many stories); a story missing the URL or the date matches on what it has.
    """
    if a.url and b.url and a.url.rstrip("/").lower() != b.url.rstrip("/").lower():
        return False
    return not (a.day and b.day and a.day != b.day)


@dataclass(frozen=True, slots=True)
class _Known:
    id: str
    url: str | None
    day: str | None  # the summary's own published date (UTC), None when it had none


def _known(summary: Summary) -> _Known:
    day = summary.published.astimezone(UTC).date().isoformat() if summary.published else None
    return _Known(summary.id, summary.source.url if summary.source else None, day)


def story_second(published: datetime) -> int:
    """Return the whole seconds since 1970 of `published`, clamped to what a section id can hold."""
    seconds = (published - _EPOCH) // _ONE_SECOND
    return max(-SECONDS_LIMIT, min(SECONDS_LIMIT, seconds))


def preferred_story_key(published: datetime) -> int:
    """Return the story key a story published at `published` gets unless another story holds it."""
    slot = published.microsecond * SLOTS_PER_SECOND // 1_000_000
    return story_second(published) * SLOTS_PER_SECOND + slot


def section_id(story_key: int, position: int) -> int:
    """Return a section's id: descending ids give newest story first, then position in the story."""
    return (story_key << POSITION_BITS) + (MAX_INDEXED_SECTIONS - 1 - position)


def fts5_query(user_text: str) -> str:
    """Return an FTS5 MATCH expression that finds sections containing every word of `user_text`.

    Each word is a double-quoted string, so operators and syntax in user text (", *, NEAR(, -, :,
    AND, column filters) are searched as plain words or dropped, never interpreted.
    """
    return " ".join(f'"{word}"' for word in search_words(user_text))


def search_words(user_text: str) -> list[str]:
    """Return the distinct words of `user_text`, lowercased, as the full-text search uses them."""
    words: list[str] = []
    for word in _WORD.findall(user_text.lower()):
        if word not in words:
            words.append(word)
    return words[:_MAX_SEARCH_WORDS]


def relevance(words: Sequence[str], title: str, body: str) -> float:
    """Score how well a section matches the search words: title words count four times, long text less."""
    # A crude stem (drop the last few letters of longer words) so "drones" also counts "drone".
    stems = [w if len(w) <= 4 else w[: max(4, len(w) - 3)] for w in words]
    title_words, body_words = _WORD.findall(title.lower()), _WORD.findall(body.lower())
    title_hits = sum(1 for t in title_words for s in stems if t.startswith(s))
    body_hits = sum(1 for t in body_words for s in stems if t.startswith(s))
    return (4 * title_hits + body_hits) / math.sqrt(1 + len(body_words))


def _prepare(item: TaggedSummary, ingested_at: datetime) -> _Pending:
    doc = item.summary.model_dump_json()
    # The digest of the stored document itself: as stable as Summary.content_hash() within one
    # newsbot version, and cheaper, since the document is serialised for storage anyway.
    content_hash = hashlib.sha256(doc.encode()).hexdigest()
    return _Pending(item, doc, content_hash, item.summary.published or ingested_at)


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


StoredHook = Callable[
    [AsyncConnection, Sequence[TaggedSummary], Sequence[PutOutcome], datetime], Awaitable[None]
]
# Work that must commit with the stories (a feed's seen keys and state), given the put's outcomes.
AlsoInTransaction = Callable[[AsyncConnection, list[PutOutcome]], Awaitable[None]]


class SqlArchive:
    """The Archive port on SQLAlchemy: one transaction per put_many, queries that stop after one page."""

    def __init__(self, engine: AsyncEngine, *, on_stored: StoredHook | None = None) -> None:
        self._engine = engine
        self._on_stored = on_stored
        self._writer = engine.execution_options(**WRITE)
        self._reader = engine.execution_options(**READ)
        self._url = engine.url.render_as_string(hide_password=True)

    async def put_many(
        self,
        items: Sequence[TaggedSummary],
        ingested_at: datetime,
        *,
        quiet: frozenset[str] = frozenset(),
        then: AlsoInTransaction | None = None,
    ) -> list[PutOutcome]:
        """Store summaries (insert, replace a changed one, skip an unchanged one), one outcome each.

        Stories whose id is in `quiet` owe no alerts; `then` runs inside the same transaction.
        """
        if not items and then is None:
            return []
        if then is None:
            # A feed poll (`then` given) keys its stories by its own seen entries and never merges here.
            items = await self._same_stories(items)
        prepared = [_prepare(item, ingested_at) for item in items]
        for attempt in range(1, _PUT_ATTEMPTS):
            try:
                return await self._put_once(prepared, ingested_at, quiet, then)
            except StoreError as error:
                # Another process stored one of these stories between our look-up and our insert;
                # a second look sees its rows. SQLite never gets here, as its writers take the lock
                # before looking.
                if not _lost_a_race(error):
                    raise
                await asyncio.sleep(random.uniform(0, _RETRY_PAUSE_S * attempt))  # noqa: S311 - jitter, not secrecy
        return await self._put_once(prepared, ingested_at, quiet, then)

    async def _same_stories(self, items: Sequence[TaggedSummary]) -> list[TaggedSummary]:
        """Give a story that is already stored under another id (same headline fingerprint) that id."""
        by_print: dict[str, list[_Known]] = {}
        prints = _unique(headline_fingerprint(i.summary.headline) for i in items)
        c = summaries.c
        async with translated_errors(self._url), self._reader.connect() as conn:
            for chunk in _chunks(prints):
                rows = await conn.execute(select(c.fingerprint, c.doc).where(c.fingerprint.in_(chunk)))
                for row in rows:
                    by_print.setdefault(row.fingerprint, []).append(
                        _known(Summary.model_validate_json(row.doc))
                    )
        out: list[TaggedSummary] = []
        for item in items:
            summary = item.summary
            fp = headline_fingerprint(summary.headline)
            known = by_print.setdefault(fp, [])
            mine = _known(summary)
            if not any(k.id == summary.id for k in known):
                match = next((k for k in known if _same_story(k, mine)), None)
                if match is not None:
                    summary = summary.model_copy(update={"id": match.id})
                    item = TaggedSummary(summary, item.section_topics, item.topics, item.unknown_tags)
                    mine = _known(summary)
            known.append(mine)
            out.append(item)
        return out

    async def _put_once(
        self,
        prepared: list[_Pending],
        ingested_at: datetime,
        quiet: frozenset[str],
        then: AlsoInTransaction | None,
    ) -> list[PutOutcome]:
        async with translated_errors(self._url), self._writer.begin() as conn:
            outcomes = await self._put(conn, prepared, ingested_at, quiet)
            if then is not None:
                await then(conn, outcomes)
            return outcomes

    async def _put(
        self, conn: AsyncConnection, prepared: list[_Pending], ingested_at: datetime, quiet: frozenset[str]
    ) -> list[PutOutcome]:
        if conn.dialect.name == "postgresql":
            await _lock_seconds(conn, [story_second(p.published) for p in prepared])
        existing = await self._existing(conn, _unique(p.item.summary.id for p in prepared))
        outcomes: list[PutOutcome] = []
        current = {sid: e.content_hash for sid, e in existing.items()}
        to_write: dict[str, _Pending] = {}
        for p in prepared:
            sid = p.item.summary.id
            before = current.get(sid)
            if before == p.content_hash:
                outcomes.append("unchanged")
                continue
            outcomes.append("created" if before is None else "updated")
            current[sid] = p.content_hash
            to_write[sid] = p
        if to_write:
            await self._delete(conn, {sid: existing[sid] for sid in to_write if sid in existing})
            keys = await self._allocate_keys(conn, to_write, existing)
            await self._insert(conn, to_write, keys, existing, ingested_at)
        if self._on_stored is not None:
            # Inside the same transaction: a story and the alerts it causes are stored together or not at all.
            owed = [
                (p.item, o) for p, o in zip(prepared, outcomes, strict=True) if p.item.summary.id not in quiet
            ]
            await self._on_stored(conn, [i for i, _ in owed], [o for _, o in owed], ingested_at)
        return outcomes

    async def sections_for_topic(self, topic_id: str, *, limit: int, offset: int = 0) -> HitPage:
        """Return sections tagged with `topic_id`, newest story first, then by position in the story."""
        limit, offset = max(0, limit), max(0, offset)
        wanted = offset + limit + 1
        t = story_topics.c
        # Each row read here yields at least one hit (a tagged section, or the story itself when only its
        # headline, lede or tags carry the topic), so `wanted` stories are enough.
        stories = (
            select(t.story_key, t.positions)
            .where(t.topic_id == topic_id)
            .order_by(t.story_key.desc())
            .limit(wanted)
        )
        async with translated_errors(self._url), self._reader.connect() as conn:
            # A hit is a section id, or (story key,) for a story tagged at story level only.
            order: list[int | tuple[int]] = []
            for row in await conn.execute(stories):
                if row.positions:
                    order.extend(section_id(row.story_key, int(p)) for p in row.positions.split())
                else:
                    order.append((row.story_key,))
            page = order[offset:wanted]
            shown = page[:limit]
            section_ids = [i for i in shown if isinstance(i, int)]
            story_keys = [i[0] for i in shown if isinstance(i, tuple)]
            rows = (
                (await conn.execute(_hit_select().where(sections.c.id.in_(section_ids)))).all()
                if section_ids
                else []
            )
            whole = (
                (await conn.execute(_story_hit_select().where(summaries.c.story_key.in_(story_keys)))).all()
                if story_keys
                else []
            )
        by_id: dict[int | tuple[int], SectionHit] = {row.id: _hit(row) for row in rows}
        by_id.update({(row.story_key,): _story_hit(row) for row in whole})
        return HitPage([by_id[i] for i in shown if i in by_id], has_more=len(page) > limit)

    async def search_sections(self, text: str, *, limit: int, offset: int = 0) -> HitPage:
        """Full-text search over section titles and text, newest story first, then by relevance."""
        limit, offset = max(0, limit), max(0, offset)
        words = search_words(text)
        if not words:
            return HitPage([], has_more=False)
        dialect = self._engine.dialect.name
        query = fts5_query(text) if dialect == "sqlite" else " ".join(words)
        wanted = offset + limit + 1
        first = _SEARCH_PAGE[dialect].columns(**_SEARCH_COLUMNS)
        async with translated_errors(self._url), self._reader.connect() as conn:
            found = {row.id: row for row in await conn.execute(first, {"q": query, "n": wanted})}
            if len(found) == wanted:
                # The last story may have more matching sections further down; fetch them all so
                # that within a story the order is by relevance, not by where the page ended.
                last = min(found) >> POSITION_BITS
                lo, hi = last << POSITION_BITS, ((last + 1) << POSITION_BITS) - 1
                story = _SEARCH_STORY[dialect].columns(**_SEARCH_COLUMNS)
                rest = await conn.execute(story, {"q": query, "lo": lo, "hi": hi})
                found.update({row.id: row for row in rest})
        scores = {sid: relevance(words, row.title, row.text) for sid, row in found.items()}
        ranked = sorted(found, key=lambda sid: (-(sid >> POSITION_BITS), -scores[sid], -sid))
        page = ranked[offset:wanted]
        return HitPage([_hit(found[sid]) for sid in page[:limit]], has_more=len(page) > limit)

    async def recent_stories(
        self,
        *,
        since: datetime | None = None,
        limit: int | None = None,
        topics: Sequence[str] = (),
    ) -> list[StoredStory]:
        """Return stories published at or after `since` (all when None), newest first, at most `limit`."""
        stmt = _story_select().order_by(summaries.c.published.desc(), summaries.c.story_key.desc())
        if since is not None:
            stmt = stmt.where(summaries.c.published >= since)
        return await self._stories(stmt, limit, topics)

    async def stories_for_digest(
        self, *, after: datetime | None, until: datetime, topics: Sequence[str], limit: int
    ) -> list[StoredStory]:
        """Return up to `limit` stories first ingested in (after, until], newest published first.

        A replaced story keeps its first ingest time, so a correction is not news again, and a story a
        feed's first poll stored quietly (bot/feeds) is in the archive but never in a digest.
        """
        s = summaries.c
        stmt = (
            _story_select()
            .where(s.ingested_at <= until, ~quiet_story(s.id))
            .order_by(s.published.desc(), s.story_key.desc())
        )
        if after is not None:
            stmt = stmt.where(s.ingested_at > after)
        return await self._stories(stmt, max(1, limit), topics)

    async def ids_by_url(self, urls: Iterable[str]) -> dict[str, str]:
        """Return the id of the story stored under each of `urls` that has one."""
        wanted = _unique(urls)
        found: dict[str, str] = {}
        async with translated_errors(self._url), self._reader.connect() as conn:
            for chunk in _chunks(wanted):
                stmt = select(summaries.c.url, summaries.c.id).where(summaries.c.url.in_(list(chunk)))
                found.update({row.url: row.id for row in await conn.execute(stmt)})
        return found

    async def story(self, summary_id: str) -> StoredStory | None:
        """Return one stored story."""
        found = await self._stories(_story_select().where(summaries.c.id == summary_id), 1, ())
        return found[0] if found else None

    async def delete(self, summary_id: str) -> bool:
        """Remove one story: its row, sections (and their full-text rows), topic rows; False when unknown."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            existing = await self._existing(conn, [summary_id])
            await self._delete(conn, existing)
        return bool(existing)

    async def retag(self, items: Sequence[TaggedSummary], at: datetime) -> list[str]:
        """Rewrite the topic rows of stored stories whose tags changed; return their ids (no alerts owed).

        The documents are unchanged, so `put_many` would call each one "unchanged" and keep its old tags.
        """
        ids = _unique(i.summary.id for i in items)
        async with translated_errors(self._url), self._writer.begin() as conn:
            existing = await self._existing(conn, ids)
            stored: dict[str, dict[int, str]] = {}
            for chunk in _chunks(list(existing)):
                cols = (sections.c.summary_id, sections.c.position, sections.c.topics)
                for row in await conn.execute(select(*cols).where(sections.c.summary_id.in_(chunk))):
                    stored.setdefault(row.summary_id, {})[row.position] = row.topics
            changed: dict[str, _Pending] = {}
            for item in items:
                sid = item.summary.id
                old = existing.get(sid)
                if old is None or sid in changed:
                    continue
                section_topics = {
                    position: " ".join(_unique(item.section_topics[position]))
                    for position in range(min(len(item.section_topics), MAX_INDEXED_SECTIONS))
                }
                all_topics = set(item.topics) | {t for ts in item.section_topics for t in ts}
                if all_topics != set(_split(old.topics)) or section_topics != {
                    p: t for p, t in stored.get(sid, {}).items() if p in section_topics
                }:
                    changed[sid] = _prepare(item, old.ingested_at)
            if changed:
                olds = {sid: existing[sid] for sid in changed}
                await self._delete(conn, olds)
                await self._insert(conn, changed, {sid: e.story_key for sid, e in olds.items()}, olds, at)
        return list(changed)

    async def topic_counts(self) -> dict[str, int]:
        """Return how many stories carry each topic id."""
        stmt = select(story_topics.c.topic_id, func.count()).group_by(story_topics.c.topic_id)
        async with translated_errors(self._url), self._reader.connect() as conn:
            return {topic: int(count) for topic, count in await conn.execute(stmt)}

    async def count_stories(self) -> int:
        """Return how many stories are stored."""
        async with translated_errors(self._url), self._reader.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(summaries))).scalar_one())

    async def _stories(
        self, stmt: Select[Any], limit: int | None, topics: Sequence[str]
    ) -> list[StoredStory]:
        if topics:
            # EXISTS, not IN: the scan runs in the wanted order and stops at `limit` instead of
            # first collecting every story of a popular topic.
            t = story_topics.c
            carries = select(t.story_key).where(
                t.topic_id.in_(list(topics)), t.story_key == summaries.c.story_key
            )
            stmt = stmt.where(carries.exists())
        if limit is not None:
            stmt = stmt.limit(max(0, limit))
        async with translated_errors(self._url), self._reader.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            StoredStory(
                summary=Summary.model_validate_json(row.doc),
                published=row.published,
                ingested_at=row.ingested_at,
                topics=_split(row.topics),
                unknown_tags=_split(row.unknown_tags),
            )
            for row in rows
        ]

    async def _existing(self, conn: AsyncConnection, ids: Sequence[str]) -> dict[str, _Existing]:
        found: dict[str, _Existing] = {}
        c = summaries.c
        cols = (c.id, c.content_hash, c.story_key, c.ingested_at, c.topics)
        for chunk in _chunks(ids):
            for row in await conn.execute(select(*cols).where(c.id.in_(chunk))):
                found[row.id] = _Existing(row.content_hash, row.story_key, row.ingested_at, row.topics)
        return found

    async def _delete(self, conn: AsyncConnection, replaced: dict[str, _Existing]) -> None:
        """Remove stories about to be written again; deleting sections updates the FTS index by trigger."""
        if not replaced:
            return
        pairs = [{"t": t, "k": e.story_key} for e in replaced.values() for t in _split(e.topics)]
        if pairs:
            t = story_topics.c
            await conn.execute(
                delete(story_topics).where(t.topic_id == bindparam("t"), t.story_key == bindparam("k")), pairs
            )
        for chunk in _chunks(list(replaced)):
            await conn.execute(delete(sections).where(sections.c.summary_id.in_(chunk)))
            await conn.execute(delete(summaries).where(summaries.c.id.in_(chunk)))

    async def _allocate_keys(
        self, conn: AsyncConnection, pending: dict[str, _Pending], existing: dict[str, _Existing]
    ) -> dict[str, int]:
        """Give each story a unique key that sorts with its published time."""
        wanted: dict[str, int] = {}
        for sid, p in pending.items():
            old = existing.get(sid)
            if old is not None and old.story_key // SLOTS_PER_SECOND == story_second(p.published):
                wanted[sid] = old.story_key  # same second: keep the key (the old row is gone by now)
            else:
                wanted[sid] = preferred_story_key(p.published)
        taken: set[int] = set()
        key_col = summaries.c.story_key
        for chunk in _chunks(list(set(wanted.values()))):
            taken.update((await conn.execute(select(key_col).where(key_col.in_(chunk)))).scalars())
        keys: dict[str, int] = {}
        clashes: list[str] = []
        for sid, key in wanted.items():
            if key in taken:
                clashes.append(sid)
            else:
                keys[sid] = key
                taken.add(key)
        next_free: dict[int, int] = {}
        for sid in clashes:
            keys[sid] = await self._free_key(conn, wanted[sid] // SLOTS_PER_SECOND, taken, next_free)
            taken.add(keys[sid])
        return keys

    async def _free_key(
        self, conn: AsyncConnection, second: int, taken: set[int], next_free: dict[int, int]
    ) -> int:
        lo, hi = second * SLOTS_PER_SECOND, (second + 1) * SLOTS_PER_SECOND - 1
        key_col = summaries.c.story_key
        if second not in next_free:
            top = (await conn.execute(select(func.max(key_col)).where(key_col.between(lo, hi)))).scalar()
            batch_top = max((k for k in taken if lo <= k <= hi), default=lo - 1)
            next_free[second] = max(lo - 1 if top is None else int(top), batch_top) + 1
        key = next_free[second]
        while key <= hi and key in taken:
            key += 1
        if key <= hi:
            next_free[second] = key + 1
            return key
        # The top of this second is used up: look for a gap lower down.
        used = set((await conn.execute(select(key_col).where(key_col.between(lo, hi)))).scalars()) | taken
        for candidate in range(lo, hi + 1):
            if candidate not in used:
                return candidate
        raise StoreError(
            f"more than {SLOTS_PER_SECOND} stories share one published second; cannot store more"
        )

    async def _insert(
        self,
        conn: AsyncConnection,
        pending: dict[str, _Pending],
        keys: dict[str, int],
        existing: dict[str, _Existing],
        ingested_at: datetime,
    ) -> None:
        summary_rows: list[tuple[Any, ...]] = []  # in table column order, as section_rows
        section_rows: list[tuple[Any, ...]] = []  # in table column order, see _bulk_insert
        topic_rows: list[tuple[str, int, str]] = []
        for sid, p in pending.items():
            summary, key = p.item.summary, keys[sid]
            old = existing.get(sid)
            # Topic → positions of the sections carrying it; story-level topics may have none.
            positions: dict[str, list[str]] = {t: [] for t in p.item.topics}
            tags = p.item.section_topics
            # Sections past MAX_INDEXED_SECTIONS stay in the stored document but are not indexed.
            for position, section in enumerate(summary.all_sections()[:MAX_INDEXED_SECTIONS]):
                topics = _unique(tags[position]) if position < len(tags) else []
                row_id = section_id(key, position)
                section_rows.append((row_id, sid, position, section.title, section.text, " ".join(topics)))
                for t in topics:
                    positions.setdefault(t, []).append(str(position))
            topic_rows.extend((t, key, " ".join(at)) for t, at in positions.items())
            summary_rows.append(
                (
                    sid,
                    key,
                    summary.headline,
                    summary.source.url if summary.source is not None else None,
                    p.doc,
                    p.content_hash,
                    p.published,
                    old.ingested_at if old is not None else ingested_at,  # ingested_at
                    ingested_at,  # updated_at
                    # Every topic with a story_topics row, so that _delete finds them all again.
                    " ".join(positions),
                    " ".join(_unique(p.item.unknown_tags)),
                    headline_fingerprint(summary.headline),
                )
            )
        await _bulk_insert(conn, summaries, summary_rows)
        await _bulk_insert(conn, sections, section_rows)
        if section_rows and conn.dialect.name == "sqlite":
            for chunk in _chunks(list(pending)):
                await conn.execute(_SQLITE_INDEX_SECTIONS, {"ids": list(chunk)})
        await _bulk_insert(conn, story_topics, topic_rows)


def _lost_a_race(error: StoreError) -> bool:
    cause = error.__cause__
    if isinstance(cause, IntegrityError):
        return True
    return getattr(getattr(cause, "orig", None), "sqlstate", None) in _RETRYABLE_SQLSTATES


async def _lock_seconds(conn: AsyncConnection, seconds: Sequence[int]) -> None:
    """Hold, until commit, PostgreSQL's advisory lock of every published second this batch writes.

    Story keys are allocated by reading which keys of a second are taken; without the lock, writers
    that read at once all pick the same free key and all but one fail (issue 10: 770 of 1,000
    concurrent posts lost). A second outside int4 shares a lock with another: harmless, only slower.
    """
    wrapped = sorted({(s + _INT4_MAX + 1) % (2 * (_INT4_MAX + 1)) - _INT4_MAX - 1 for s in seconds})
    if wrapped:
        await conn.execute(_PG_LOCK_SECONDS, {"cls": _KEY_LOCK_CLASS, "seconds": wrapped})


async def _bulk_insert(conn: AsyncConnection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """Insert plain tuples (all columns, in table order) in one executemany, skipping per-row binding work.

    Summaries, sections and topic rows are what ingest writes; SQLAlchemy's per-row parameter
    processing was a third of the ingest time. Only the columns whose type converts a value (the
    timestamps) are converted here, by the same processors SQLAlchemy would use, so the stored
    text is the same that its queries compare against.
    """
    if not rows:
        return
    converters = _bind_processors(conn.dialect, table)
    if converters:
        rows = [_converted(row, converters) for row in rows]
    if conn.dialect.name != "sqlite":
        await conn.exec_driver_sql(_insert_sql(conn.dialect, table), rows)
        return
    # SQLite: many rows per statement. Python's executemany takes the GIL back for every row, so while
    # another thread computes (the next batch being tagged) each row waited for its turn; one
    # multi-row INSERT binds in one call and runs without the GIL, and was faster alone too.
    per = _SQLITE_VARIABLES // len(table.columns)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        await conn.exec_driver_sql(
            _values_sql(conn.dialect, table, len(chunk)), tuple(chain.from_iterable(chunk))
        )


def _converted(
    row: tuple[Any, ...], converters: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> tuple[Any, ...]:
    values = list(row)
    for i, convert in converters:
        values[i] = convert(values[i])
    return tuple(values)


@functools.lru_cache(maxsize=16)  # full chunks share one count; the last chunk of each insert has its own
def _values_sql(dialect: Dialect, table: Table, count: int) -> str:
    """Return the INSERT of `table` with `count` rows of positional parameters (SQLite's "?")."""
    single = _insert_sql(dialect, table)  # INSERT INTO t (a, b) VALUES (?, ?)
    row = single[single.rindex(" VALUES ") + len(" VALUES ") :]
    return single + (", " + row) * (count - 1)


@functools.cache
def _insert_sql(dialect: Dialect, table: Table) -> str:
    return str(table.insert().compile(dialect=dialect))


@functools.cache
def _bind_processors(dialect: Dialect, table: Table) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """Return (column index, bind processor) for each column of `table` whose type converts values."""
    found = []
    for i, column in enumerate(table.columns):
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            found.append((i, processor))
    return tuple(found)


def _hit_select() -> Select[Any]:
    return select(
        sections.c.id,
        sections.c.summary_id,
        sections.c.title,
        sections.c.text,
        sections.c.topics,
        summaries.c.headline,
        summaries.c.url,
        summaries.c.published,
    ).join_from(sections, summaries, sections.c.summary_id == summaries.c.id)


def _story_hit_select() -> Select[Any]:
    c = summaries.c
    return select(c.story_key, c.id, c.headline, c.url, c.published, c.doc, c.topics)


def _story_hit(row: Row[Any]) -> SectionHit:
    """Return a story tagged only through its headline, lede or tags as one hit: its headline and lede."""
    lede = Summary.model_validate_json(row.doc).lede
    return SectionHit(
        summary_id=row.id,
        headline=row.headline,
        title=row.headline,
        text=lede or "",
        url=row.url,
        published=row.published,
        topics=_split(row.topics),
    )


def _story_select() -> Select[Any]:
    return select(
        summaries.c.doc,
        summaries.c.published,
        summaries.c.ingested_at,
        summaries.c.topics,
        summaries.c.unknown_tags,
    )


def _hit(row: Row[Any]) -> SectionHit:
    return SectionHit(
        summary_id=row.summary_id,
        headline=row.headline,
        title=row.title,
        text=row.text,
        url=row.url,
        published=row.published,
        topics=_split(row.topics),
    )
