"""`newsbot feeds …`: follow, inspect, poll and drop feeds from a terminal, as an operator does.

Each command opens the app (migrating the database first), does one thing and prints one line per feed;
every refusal is one red line naming the feed, URL or file and the reason, with a non-zero exit status.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bot.app import App, feed_poller, feed_service
from bot.cli.common import consoles, fail, run_change, run_with_app
from bot.feeds.directory import feed_status
from bot.feeds.poller import feed_topic
from bot.feeds.service import FeedProblem
from bot.sources.errors import SourceError
from bot.store.feeds import Feed

feeds_app = typer.Typer(help="Feeds newsbot follows: RSS, Atom and JSON Feed.", no_args_is_help=True)

_STYLES = {"ok": "green", "new": "cyan", "failing": "yellow", "paused": "red"}
OPERATOR_PAUSE = "paused by an operator"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def feed_json(feed: Feed) -> dict[str, Any]:
    """Return one feed as `feeds list --json` prints it."""
    return {
        "name": feed.name,
        "url": feed.url,
        "title": feed.title,
        "status": feed_status(feed),
        "topics": list(feed.topics),
        "full_text": feed.full_text,
        "last_fetch": _iso(feed.last_fetch_at),
        "last_status": feed.last_status,
        "last_result": feed.last_result,
        "next_due": _iso(feed.next_fetch_at),
        "stories": feed.stories,
        "last_error": feed.last_error,
        "paused_reason": feed.paused_reason,
    }


def feed_table(feeds: list[Feed]) -> Table:
    """Return the feeds as a Rich table, with each one's status and the reason it fails or is paused."""
    table = Table(
        "name", "URL", "status", "last fetch (UTC)", "next due (UTC)", "stories", "last error / paused reason"
    )
    for f in feeds:
        status = feed_status(f)
        reason = f"paused: {f.paused_reason}" if f.paused_reason else (f.last_error or "")
        table.add_row(
            escape(f.name),
            escape(f.url),
            f"[{_STYLES[status]}]{status}[/]",
            _when(f.last_fetch_at),
            "" if f.paused_reason else _when(f.next_fetch_at),
            str(f.stories),
            escape(reason),
        )
    return table


def _topics(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@feeds_app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="A feed URL, or a page that announces its feed.")],
    name: Annotated[str | None, typer.Option(help="The feed's name (default: from its title).")] = None,
    topics: Annotated[
        str | None, typer.Option(help="Topic ids every story of the feed carries, comma-separated.")
    ] = None,
    full_text: Annotated[
        bool, typer.Option("--full-text", help="Fetch each entry's page and store its article text.")
    ] = False,
) -> None:
    """Follow a feed: it is fetched once now, so a dead URL or a page without a feed is refused at once."""
    out, _ = consoles()

    async def work(application: App) -> int:
        try:
            async with feed_service(application) as service:
                added = await service.add(url, name=name, topics=_topics(topics), full_text=full_text)
        except FeedProblem as problem:
            raise fail(str(problem), 1) from None
        feed = added.feed
        found = f" (announced by {added.discovered_from})" if added.discovered_from else ""
        out.print(f"following {feed.name}: {feed.url}{found}", highlight=False)
        out.print(
            f"{added.entries} entries now; the first poll stores them without alerting anyone. "
            f"Subscribe a channel with /subscribe {feed_topic(feed.name)}",
            highlight=False,
        )
        return 0

    run_with_app(ctx, work)


@feeds_app.command("list")
def list_feeds(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False
) -> None:
    """List the feeds with status (ok, failing, paused, new), last fetch, next due, stories and errors."""
    out, _ = consoles()

    async def work(application: App) -> int:
        feeds = await application.feeds.list_feeds()
        if as_json:
            # print(), not Rich: a long URL must never be wrapped inside a JSON string.
            print(json.dumps([feed_json(f) for f in feeds], ensure_ascii=False, indent=2))
        elif not feeds:
            out.print("no feeds yet: add one with `newsbot feeds add URL`", highlight=False)
        else:
            out.print(feed_table(feeds))
        return 0

    run_with_app(ctx, work)


@feeds_app.command("poll")
def poll(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Feeds to poll (default: every unpaused feed).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Poll feeds now, once, due or not: one line per feed with the HTTP status and what was new."""
    out, err = consoles()

    async def work(application: App) -> int:
        known = {f.name: f for f in await application.feeds.list_feeds()}
        unknown = [n for n in names or [] if n not in known]
        for n in unknown:
            err.print(escape(_no_feed(n)), style="red")
        wanted = list(names) if names else [n for n, f in known.items() if not f.paused_reason]
        wanted = [n for n in wanted if n in known]
        async with feed_poller(application) as poller:
            reports = await poller.poll_named(wanted) if wanted else []
        busy = sorted(set(wanted) - {r.feed for r in reports})
        if as_json:
            data = [asdict(r) for r in reports]
            print(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            for r in reports:
                (err if r.error else out).print(
                    escape(r.line()), style="red" if r.error else None, highlight=False
                )
            if not wanted and not unknown:
                out.print("no feeds to poll", highlight=False)
        for n in busy:
            err.print(f"{escape(n)}: another process is polling it right now; not polled", style="yellow")
        return 1 if unknown or any(r.error for r in reports) else 0

    run_with_app(ctx, work)


@feeds_app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The feed's name.")]) -> None:
    """Stop following a feed; the stories it brought stay in the archive."""
    run_change(
        ctx,
        lambda application: application.feeds.remove(name),
        done=f"no longer following {name}; its stories stay in the archive",
        missing=_no_feed(name),
    )


def _no_feed(name: str) -> str:
    return f"{name}: no feed has this name (see `newsbot feeds list`)"


def _set_pause(ctx: typer.Context, name: str, reason: str | None) -> None:
    run_change(
        ctx,
        lambda application: application.feeds.pause(name, reason, application.service.clock()),
        done=f"{name}: " + (f"paused ({reason})" if reason else "resumed; it is due now"),
        missing=_no_feed(name),
    )


@feeds_app.command("pause")
def pause(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The feed's name.")],
    reason: Annotated[
        str, typer.Option(help="Shown in `feeds list`, /feeds and /subscriptions.")
    ] = OPERATOR_PAUSE,
) -> None:
    """Stop polling a feed until it is resumed."""
    _set_pause(ctx, name, reason.strip() or OPERATOR_PAUSE)


@feeds_app.command("resume")
def resume(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The feed's name.")]) -> None:
    """Poll a paused feed again (at once), forgetting its failures."""
    _set_pause(ctx, name, None)


@feeds_app.command("import")
def import_opml(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An OPML file (exported by a feed reader).")],
) -> None:
    """Follow every feed of an OPML file; each is checked by its first poll."""
    out, err = consoles()
    try:
        data = file.read_bytes()
    except OSError as error:
        raise fail(f"{file}: cannot read it ({error.strerror or error})", 1) from None

    async def work(application: App) -> int:
        try:
            async with feed_service(application) as service:
                result = await service.import_opml(data)
        except SourceError as error:
            raise fail(f"{file}: {error}", 1) from None
        for name in result.added:
            out.print(f"following {escape(name)}", highlight=False)
        for reason in result.skipped:
            err.print(f"{escape(str(file))}: skipped {escape(reason)}", style="yellow", highlight=False)
        out.print(f"{len(result.added)} added, {len(result.skipped)} skipped", highlight=False)
        return 0 if result.added or not result.skipped else 1

    run_with_app(ctx, work)


@feeds_app.command("export")
def export_opml(ctx: typer.Context) -> None:
    """Print every feed as OPML 2.0 (for a feed reader, or `feeds import` elsewhere)."""

    async def work(application: App) -> int:
        async with feed_service(application) as service:
            print(await service.export_opml(), end="")
        return 0

    run_with_app(ctx, work)
