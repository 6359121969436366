"""The feeds newsbot polls and the entry keys it has seen: leased like outbox rows, so replicas share the polling.

A due feed is claimed with `FOR UPDATE SKIP LOCKED` (PostgreSQL) and a lease, so two processes never
fetch the same feed at once and a process that dies mid-fetch gives its feeds back when the lease runs
out. What a fetch found is written by `record_entries` inside the archive's story transaction, so the
seen keys, the stories and the alerts they owe commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.engine import READ, WRITE, translated_errors
from bot.store.tables import feed_entries, feeds

_CHUNK = 500  # rows per statement: under SQLite's bound-parameter limit


class FeedExists(ValueError):
    """A feed with that name or URL is already followed."""


@dataclass(frozen=True, slots=True)
class Feed:
    """One followed feed and where its polling stands."""

    id: int
    name: str
    url: str
    added_url: str
    title: str | None
    site_url: str | None
    topics: tuple[str, ...]
    full_text: bool
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    next_fetch_at: datetime
    last_fetch_at: datetime | None
    last_parsed_at: datetime | None
    last_status: int | None
    last_result: str | None
    last_error: str | None
    fail_count: int
    failing_since: datetime | None
    paused_reason: str | None
    last_announced: datetime | None
    id_scheme: str
    created_by: str | None
    created_at: datetime
    stories: int = 0

    @property
    def first_poll(self) -> bool:
        """Return whether no fetch of this feed has been parsed yet."""
        return self.last_parsed_at is None


@dataclass(frozen=True, slots=True)
class SeenEntries:
    """What a feed's earlier fetches found: each key with its content hash, and each fingerprint's key."""

    keys: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    stories: dict[str, str] = field(default_factory=dict)  # key → the id of the story it was stored as


@dataclass(frozen=True, slots=True)
class EntryRow:
    """One entry of a fetch as the dedupe memory keeps it."""

    key: str
    key_kind: str
    fingerprint: str
    content_sha256: str
    summary_id: str | None
    published: datetime | None
    quiet: bool


def _feed(row: Row[Any]) -> Feed:
    values = dict(row._mapping)
    values["topics"] = tuple(str(values["topics"]).split())
    values["full_text"] = bool(values["full_text"])
    values["stories"] = int(values.get("stories") or 0)
    values.pop("lease_owner", None)
    values.pop("lease_until", None)
    return Feed(**values)


def _insert(conn: AsyncConnection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def quiet_story(summary_id: Any) -> Any:
    """Return a SQL condition true for a story stored without being announced (left out of digests)."""
    e = feed_entries.c
    return exists().where(e.summary_id == summary_id, e.quiet.is_(True))


class SqlFeedStore:
    """The feeds and feed_entries tables on SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._reader = engine.execution_options(**READ)
        self._url = engine.url.render_as_string(hide_password=True)

    async def add(
        self,
        name: str,
        url: str,
        *,
        added_url: str,
        now: datetime,
        title: str | None = None,
        site_url: str | None = None,
        topics: Sequence[str] = (),
        full_text: bool = False,
        user: str | None = None,
    ) -> Feed:
        """Follow a feed, due at once; raise FeedExists when its name or URL is taken."""
        f = feeds.c
        async with translated_errors(self._url), self._writer.begin() as conn:
            clash = (
                await conn.execute(select(f.name, f.url).where(or_(f.name == name, f.url == url)))
            ).first()
            if clash is not None:
                what = f"the name {name!r}" if clash.name == name else f"its URL (as {clash.name!r})"
                raise FeedExists(f"a feed with {what} is already followed")
            try:
                row = (
                    await conn.execute(
                        feeds.insert()
                        .values(
                            name=name,
                            url=url,
                            added_url=added_url,
                            title=title,
                            site_url=site_url,
                            topics=" ".join(topics),
                            full_text=full_text,
                            next_fetch_at=now,
                            created_by=user,
                            created_at=now,
                        )
                        .returning(*feeds.c)
                    )
                ).one()
            except IntegrityError:
                raise FeedExists(f"a feed named {name!r} was added at the same moment") from None
        return _feed(row)

    def _listing(self) -> Any:
        count = (
            select(func.count())
            .where(feed_entries.c.feed_id == feeds.c.id, feed_entries.c.summary_id.is_not(None))
            .scalar_subquery()
        )
        return select(*feeds.c, count.label("stories"))

    async def get(self, name: str) -> Feed | None:
        """Return the feed called `name`, with its story count."""
        async with translated_errors(self._url), self._reader.connect() as conn:
            row = (await conn.execute(self._listing().where(feeds.c.name == name))).first()
        return _feed(row) if row is not None else None

    async def list_feeds(self) -> list[Feed]:
        """Return every feed by name, with story counts."""
        async with translated_errors(self._url), self._reader.connect() as conn:
            return [_feed(r) for r in await conn.execute(self._listing().order_by(feeds.c.name))]

    async def remove(self, name: str) -> bool:
        """Stop following a feed (its stories stay in the archive); False when there was none."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            feed_id = (await conn.execute(select(feeds.c.id).where(feeds.c.name == name))).scalar()
            if feed_id is None:
                return False
            # Explicit: SQLite enforces the cascade only with foreign keys switched on.
            await conn.execute(delete(feed_entries).where(feed_entries.c.feed_id == feed_id))
            await conn.execute(delete(feeds).where(feeds.c.id == feed_id))
        return True

    async def claim(
        self,
        now: datetime,
        owner: str,
        *,
        lease_for: timedelta,
        limit: int,
        names: Iterable[str] | None = None,
    ) -> list[Feed]:
        """Lease up to `limit` due, unpaused feeds (or the named ones, due or not) that nobody else holds."""
        f = feeds.c
        free = or_(f.lease_until.is_(None), f.lease_until <= now)
        if names is None:
            wanted = and_(free, f.paused_reason.is_(None), f.next_fetch_at <= now)
        else:
            wanted = and_(free, f.name.in_(sorted(set(names))))
        pick = select(f.id).where(wanted).order_by(f.next_fetch_at, f.id).limit(limit)
        async with translated_errors(self._url), self._writer.begin() as conn:
            ids = [r.id for r in await conn.execute(pick.with_for_update(skip_locked=True))]
            if not ids:
                return []
            await conn.execute(
                update(feeds).where(f.id.in_(ids)).values(lease_owner=owner, lease_until=now + lease_for)
            )
            rows = await conn.execute(self._listing().where(f.id.in_(ids)).order_by(f.next_fetch_at, f.id))
            return [_feed(r) for r in rows]

    async def seen(self, feed_id: int) -> SeenEntries:
        """Return every key and fingerprint remembered for a feed."""
        e = feed_entries.c
        stmt = select(e.key, e.fingerprint, e.content_sha256, e.summary_id).where(e.feed_id == feed_id)
        seen = SeenEntries()
        async with translated_errors(self._url), self._reader.connect() as conn:
            for row in await conn.execute(stmt):
                seen.keys[row.key] = row.content_sha256
                seen.fingerprints.setdefault(row.fingerprint, row.key)
                if row.summary_id is not None:
                    seen.stories[row.key] = row.summary_id
        return seen

    async def release_many(self, owner: str, releases: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Record fetches that stored nothing (304, failure, pause) in one transaction; give their leases back.

        Most polls are 304s; one transaction per round instead of one per feed keeps SQLite's single
        writer free for the fetches that found something (each commit is a lock hand-over and a WAL sync).
        """
        f = feeds.c
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for feed_id, values in releases:
            params = {f"b_{k}": v for k, v in values.items()} | {"b_feed_id": feed_id}
            by_columns.setdefault(tuple(sorted(values)), []).append(params)
        async with translated_errors(self._url), self._writer.begin() as conn:
            for columns, rows in by_columns.items():
                stmt = (
                    update(feeds)
                    .where(f.id == bindparam("b_feed_id"), f.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None, **{c: bindparam(f"b_{c}") for c in columns})
                )
                for start in range(0, len(rows), _CHUNK):
                    await conn.execute(stmt, rows[start : start + _CHUNK])

    async def release_in(self, conn: AsyncConnection, feed_id: int, owner: str, **values: Any) -> bool:
        """Record a parsed fetch and give its lease back, inside the caller's (story) transaction."""
        f = feeds.c
        result = await conn.execute(
            update(feeds)
            .where(f.id == feed_id, f.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, **values)
        )
        return bool(result.rowcount)

    async def record_entries(
        self,
        conn: AsyncConnection,
        feed_id: int,
        entries: Sequence[EntryRow],
        now: datetime,
        *,
        edited: Sequence[EntryRow] = (),
    ) -> None:
        """Remember a fetch's entries: insert new keys, move `last_seen_at` of the others.

        `edited` entries were seen before with other content: their hash and story are updated.
        """
        e = feed_entries.c
        rows = [
            {
                "feed_id": feed_id,
                "key": x.key,
                "key_kind": x.key_kind,
                "fingerprint": x.fingerprint,
                "content_sha256": x.content_sha256,
                "summary_id": x.summary_id,
                "quiet": x.quiet,
                "published": x.published,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for x in entries
        ]
        if rows:
            # executemany: one compiled statement, cached, where a multi-row VALUES would be compiled
            # afresh for every fetch (its 500 bound parameters dominated a poll's CPU time).
            stmt = _insert(conn, feed_entries).on_conflict_do_nothing(index_elements=["feed_id", "key"])
            await conn.execute(stmt, rows)
        keys = [x.key for x in entries]
        for start in range(0, len(keys), _CHUNK):
            await conn.execute(
                update(feed_entries)
                .where(e.feed_id == feed_id, e.key.in_(keys[start : start + _CHUNK]))
                .values(last_seen_at=now)
            )
        for x in edited:
            await conn.execute(
                update(feed_entries)
                .where(e.feed_id == feed_id, e.key == x.key)
                .values(content_sha256=x.content_sha256, summary_id=x.summary_id)
            )

    async def forget(self, *, older_than: datetime) -> int:
        """Drop remembered keys not seen since `older_than` and absent from their feed's latest fetch."""
        e, f = feed_entries.c, feeds.c
        latest = select(f.last_parsed_at).where(f.id == e.feed_id).scalar_subquery()
        stmt = delete(feed_entries).where(e.last_seen_at < older_than, e.last_seen_at < latest)
        async with translated_errors(self._url), self._writer.begin() as conn:
            return int((await conn.execute(stmt)).rowcount or 0)

    async def pause(self, name: str, reason: str | None, now: datetime) -> bool:
        """Pause a feed with a reason, or resume it with None (due at once); False when there is none."""
        values: dict[str, Any] = {"paused_reason": reason}
        if reason is None:
            values.update(fail_count=0, failing_since=None, next_fetch_at=now)
        async with translated_errors(self._url), self._writer.begin() as conn:
            result = await conn.execute(update(feeds).where(feeds.c.name == name).values(**values))
            return bool(result.rowcount)
