"""`newsbot stories`, `delete` and `retag`: the archive as an operator looks after it.

Stories arrive from files, the API and feeds; an operator needs to see what is stored and from where,
drop one that should not be there, and re-tag everything after `config/topics.yaml` changes (the stored
documents do not change, so a re-ingest would leave their old tags).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bot.app import App
from bot.cli.common import consoles, run_change, run_with_app
from bot.core.ports import FEED_TOPIC_PREFIX, PutOutcome, StoredStory, TaggedSummary
from bot.sources.errors import SourceError

RETAG_BATCH = (
    200  # stories re-tagged per transaction: progress moves, and no transaction holds the archive long
)


def _feeds_of(story: StoredStory) -> list[str]:
    return [t[len(FEED_TOPIC_PREFIX) :] for t in story.topics if t.startswith(FEED_TOPIC_PREFIX)]


def story_source(story: StoredStory) -> str:
    """Return where a story came from: its feed(s), else its source's name, else its URL's host."""
    feeds = _feeds_of(story)
    if feeds:
        return ", ".join(f"feed {f}" for f in feeds)
    source = story.summary.source
    if source is None:
        return ""
    return source.name or (source.url or "")


def _matches(story: StoredStory, wanted: str) -> bool:
    wanted = wanted.lower()
    source = story.summary.source
    names = [f.lower() for f in _feeds_of(story)]
    if source is not None and source.name:
        names.append(source.name.lower())
    return wanted in names


def stories(
    ctx: typer.Context,
    source: Annotated[
        str | None, typer.Option(help="Only stories of this feed name or source name (any case).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Published since: ISO date/time, or 24h, 7d, 2w.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List stored stories, newest first: id, published, headline and source (or feed)."""
    from bot.core.commands import parse_since

    out, _ = consoles()

    async def work(application: App) -> int:
        when = parse_since(since, application.service.clock()) if since else None
        found = await application.archive.recent_stories(since=when, limit=None if source else limit)
        if source:
            found = [s for s in found if _matches(s, source)][:limit]
        if as_json:
            rows: list[dict[str, Any]] = [
                {
                    "id": s.summary.id,
                    "published": s.published.astimezone(UTC).isoformat(),
                    "headline": s.summary.headline,
                    "source": story_source(s),
                    "url": s.summary.source.url if s.summary.source else None,
                    "topics": list(s.topics),
                }
                for s in found
            ]
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return 0
        if not found:
            out.print("no stories match", highlight=False)
            return 0
        table = Table("id", "published (UTC)", "headline", "source / feed")
        for s in found:
            table.add_row(
                escape(s.summary.id),
                s.published.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                escape(s.summary.headline),
                escape(story_source(s)),
            )
        out.print(table)
        return 0

    run_with_app(ctx, work)


def delete(
    ctx: typer.Context,
    story_id: Annotated[str, typer.Argument(metavar="ID", help="A story id (`newsbot stories`).")],
) -> None:
    """Remove one story from the archive: its sections, topic rows and search index entries."""
    run_change(
        ctx,
        lambda application: application.archive.delete(story_id),
        done=f"deleted {story_id}",
        missing=f"{story_id}: no story has this id (see `newsbot stories`)",
    )


def retag(ctx: typer.Context) -> None:
    """Tag every stored story again with config/topics.yaml (after it changed); no alerts are sent."""
    out, err = consoles()

    async def work(application: App) -> int:
        archive, tagger = application.archive, application.service.tagger
        feed_topics = {f.name: f.topics for f in await application.feeds.list_feeds()}
        everything = await archive.recent_stories()
        progress = Progress(
            TextColumn("re-tagging"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
        )
        changed = 0
        task = progress.add_task("stories", total=len(everything))
        with progress:
            for start in range(0, len(everything), RETAG_BATCH):
                batch = everything[start : start + RETAG_BATCH]
                items = []
                for story in batch:
                    tagged = tagger.tag_summary(story.summary)
                    # A feed's story keeps its feed's pseudo-topic and the topics the feed was added with.
                    kept = [t for t in story.topics if t.startswith(FEED_TOPIC_PREFIX)]
                    kept += [t for name in _feeds_of(story) for t in feed_topics.get(name, ())]
                    topics = tuple(dict.fromkeys((*tagged.topics, *kept)))
                    items.append(
                        TaggedSummary(tagged.summary, tagged.section_topics, topics, tagged.unknown_tags)
                    )
                changed += len(await archive.retag(items, datetime.now(UTC)))
                progress.advance(task, len(batch))
        out.print(
            f"{changed} of {len(everything)} {'story' if len(everything) == 1 else 'stories'} re-tagged "
            f"({len(everything) - changed} unchanged)",
            highlight=False,
        )
        return 0

    run_with_app(ctx, work)


@dataclass(slots=True)
class UrlIngest:
    """What `newsbot ingest https://…` did with its URLs."""

    outcomes: list[PutOutcome] = field(default_factory=list)
    failed: int = 0


def is_url(text: str) -> bool:
    """Return whether an `ingest` argument is a web address rather than a path."""
    return text.lower().startswith(("http://", "https://"))


async def ingest_urls(application: App, urls: list[str], out: Console, err: Console) -> UrlIngest:
    """Fetch each page, extract its article and store it; a feed URL is pointed at `newsbot feeds add`."""
    from bot.app import fetch_settings
    from bot.sources.feed import FeedError, parse_feed
    from bot.sources.fetch import FeedFetcher, FetchFailed, NotModified
    from bot.sources.page import page_to_summary

    done = UrlIngest()
    async with FeedFetcher(fetch_settings(application.settings.feeds)) as fetcher:
        for url in urls:
            got = await fetcher.fetch(url)
            reason: str | None = None
            if isinstance(got, FetchFailed):
                reason = got.reason
            elif isinstance(got, NotModified):
                reason = "the server answered 304 Not Modified to a plain request"
            else:
                try:
                    await parse_feed(got.body, url=got.final_url, headers=got.headers)
                except FeedError:
                    pass  # not a feed: a page, as expected
                else:
                    reason = f"this is a feed; follow it with `newsbot feeds add {url}`"
                if reason is None:
                    try:
                        summary = await page_to_summary(got.body, url=got.final_url)
                    except SourceError as error:
                        reason = error.reason
                    else:
                        result = await application.service.ingest([summary])
                        done.outcomes.extend(result.outcomes)
                        what = {"created": "stored", "updated": "replaced its earlier version"}
                        outcome = result.outcomes[0]
                        out.print(
                            f"{escape(url)}: {what.get(outcome, outcome)} {summary.id}", highlight=False
                        )
            if reason is not None:
                done.failed += 1
                err.print(f"{escape(url)}: {escape(reason)}", style="red", highlight=False)
    return done
