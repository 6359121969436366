"""`newsbot deliveries`: the outbox as an operator sees it, and re-queuing a dead delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bot.app import open_app
from bot.cli.common import consoles, settings_from
from bot.store.outbox import RETRYABLE, Delivery, SqlOutbox, Status

# Outbox ids are 64-bit signed integers (BIGINT on PostgreSQL, INTEGER on SQLite): a larger id is
# refused by the argument parser with the range, instead of overflowing in the driver.
DELIVERY_ID_MAX = 2**63 - 1

deliveries_app = typer.Typer(
    help="The delivery outbox: scheduled digests and topic alerts.",
    invoke_without_command=True,
    no_args_is_help=False,
)


async def _with_outbox(ctx: typer.Context, work: Callable[[SqlOutbox], Awaitable[int]]) -> int:
    settings = settings_from(ctx)
    async with open_app(settings) as application:
        return await work(SqlOutbox(application.engine))


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _what(d: Delivery) -> str:
    key, _, step = d.dedupe_key.partition("#")  # a thread step's key is its parent's + "#thread" / "#reply:N"
    if d.kind == "digest":
        what = f"digest {key.rsplit(':', 2)[-2]}:{key.rsplit(':', 1)[-1]}"
    else:
        what = f"alert {d.summary_id}" + (f" ({', '.join(d.topics)})" if d.topics else "")
    if d.step == "forum":
        return f"{what} · forum post"
    if step.startswith("reply:"):
        return f"{what} · thread reply {int(step.removeprefix('reply:')) + 1}"
    return f"{what} · thread" if step else what


def _note(d: Delivery) -> str:
    if d.status == "sent":
        return f"{len(d.message_ids)} message(s): {' '.join(d.message_ids)}"
    if d.status == "pending" and d.last_error:
        return f"retrying at {_when(d.available_at)} after: {d.last_error}"
    return d.last_error or ""


def delivery_record(d: Delivery) -> dict[str, Any]:
    """Return one outbox row as JSON-ready data, for `newsbot deliveries --json`."""
    return {
        "id": d.id,
        "status": d.status,
        "platform": d.key.platform,
        "workspace": d.key.workspace,
        "channel": d.key.channel,
        "kind": d.kind,
        "step": d.step,
        "what": _what(d),
        "summary_id": d.summary_id,
        "topics": list(d.topics),
        "attempts": d.attempts,
        "parts_sent": d.parts_sent,
        "parts": len(d.bodies) if d.bodies is not None else None,
        "message_ids": list(d.message_ids),
        "last_error": d.last_error,
        "created_at": d.created_at.isoformat(),
        "available_at": d.available_at.isoformat(),
        "sent_at": d.sent_at.isoformat() if d.sent_at else None,
    }


def delivery_table(rows: list[Delivery]) -> Table:
    """Return the outbox rows as a Rich table, with the reason anything was not delivered."""
    table = Table(
        "id", "status", "platform", "channel", "what", "attempts", "parts", "created (UTC)", "reason / result"
    )
    styles = {
        "dead": "red",
        "pending": "yellow",
        "sending": "cyan",
        "skipped": "dim",
        "sent": "green",
        "paused": "magenta",
    }
    for d in rows:
        parts = f"{d.parts_sent}/{len(d.bodies)}" if d.bodies is not None else "-"
        table.add_row(
            str(d.id),
            f"[{styles.get(d.status, '')}]{d.status}[/]",
            d.key.platform,
            escape(f"{d.key.workspace}/{d.key.channel}" if d.key.workspace else d.key.channel),
            escape(_what(d)),
            str(d.attempts),
            parts,
            _when(d.created_at),
            escape(_note(d)),
        )
    return table


@deliveries_app.callback()
def deliveries(
    ctx: typer.Context,
    status: Annotated[Status | None, typer.Option(help="Only rows in this state.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only rows for this channel id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest rows to show.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the rows and the counts by status as one JSON object.")
    ] = False,
) -> None:
    """Show the outbox (newest first) with the reason anything was not delivered."""
    if ctx.invoked_subcommand is not None:
        return
    _out, _ = consoles()

    async def show(outbox: SqlOutbox) -> int:
        rows = await outbox.find(status=status, channel=channel, limit=limit)
        counts = await outbox.counts()
        if as_json:  # plain echo: Rich would wrap long lines and break the document
            document = {"deliveries": [delivery_record(d) for d in rows], "counts": counts}
            typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
            return 0
        if not rows:
            _out.print("no deliveries match", highlight=False)
        else:
            _out.print(delivery_table(rows))
        summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts)) or "empty"
        _out.print(f"outbox: {summary}", highlight=False)
        return 0

    raise typer.Exit(asyncio.run(_with_outbox(ctx, show)))


@deliveries_app.command("retry")
def retry(
    ctx: typer.Context,
    delivery_id: Annotated[
        int,
        typer.Argument(metavar="ID", min=1, max=DELIVERY_ID_MAX, help="The id of a dead or paused delivery."),
    ],
) -> None:
    """Re-queue a dead or paused delivery (and lift the pause it put on the schedule or subscriptions)."""
    _out, _err = consoles()

    async def requeue(outbox: SqlOutbox) -> int:
        found = await outbox.get(delivery_id)
        if found is None:
            _err.print(f"no delivery {delivery_id}", style="red", highlight=False)
            return 1
        if found.status not in RETRYABLE:
            _err.print(
                f"delivery {delivery_id} is {found.status}; only dead or paused deliveries can be retried",
                style="red",
                highlight=False,
            )
            return 1
        await outbox.requeue(delivery_id, datetime.now(UTC))
        _out.print(
            f"delivery {delivery_id} is queued again; a running `newsbot run` posts it within seconds",
            highlight=False,
        )
        return 0

    raise typer.Exit(asyncio.run(_with_outbox(ctx, requeue)))
