"""`newsbot …`: the root command, the archive commands and `run` (Typer + Rich)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.adapters.discord.errors import DiscordError
from bot.app import App, install_file_readers, open_app
from bot.cli import archive as archive_commands
from bot.cli.common import CliState, configure_logging, settings_from
from bot.cli.deliveries import deliveries_app
from bot.cli.delivery_output import (
    LayoutOption,
    ThreadsOption,
    channel_layout,
    digest_plan,
    print_plan_text,
    rendered_document,
    renderer,
)
from bot.cli.discord import discord_app
from bot.cli.feeds import feeds_app
from bot.cli.slack import slack_app
from bot.core.digest import Digest
from bot.core.invocation import PLATFORMS, Invocation, Platform, parse_command_text
from bot.core.layout import ChannelLayout
from bot.core.loader import SUPPORTED, Loaded, LoadError, load_file
from bot.core.ports import SendOutcome
from bot.core.query import QueryError, validate_query
from bot.core.reply import Reply
from bot.core.summary import summary_json_schema
from bot.core.taxonomy import TaxonomyError
from bot.settings import Settings, SettingsError
from bot.store.engine import StoreError, normalize_url, redact_url

T = TypeVar("T")
RenderTarget = Literal["text", "discord", "slack"]

app = typer.Typer(
    name="newsbot",
    help="Structured news summaries as digests, topic alerts and slash-command answers for Discord and Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The archive database.", no_args_is_help=True)
config_app = typer.Typer(help="Settings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(discord_app, name="discord")
app.add_typer(slack_app, name="slack")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(feeds_app, name="feeds")
app.command()(archive_commands.stories)
app.command()(archive_commands.delete)
app.command()(archive_commands.retag)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


# Libraries that log every job run and gateway hop at INFO; newsbot's own lines say what matters,
# so at INFO they only speak up for warnings (-v shows everything).
CHATTY_LIBRARIES = ("apscheduler", "discord")


class UsageProblem(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


@app.callback()
def _main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML settings file (default: $NEWSBOT_CONFIG or config/newsbot.toml)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail to stderr.")] = False,
) -> None:
    ctx.obj = CliState(config, verbose)
    install_file_readers()  # `ingest` and `render` read saved web pages too
    configure_logging(verbose)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _with_app(settings: Settings, work: Callable[[App], Awaitable[T]]) -> T:
    async with open_app(settings) as application:
        return await work(application)


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, ensure_ascii=False, default=str))


# -- summaries ---------------------------------------------------------------------------------------


@app.command()
def schema() -> None:
    """Print the JSON Schema of the summary format (version 1)."""
    out.print_json(json.dumps(summary_json_schema()))


@app.command()
def ingest(
    ctx: typer.Context,
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="PATHS",
            help="Files or folders (.json, .jsonl, .yaml, .yml, .txt, .md, .html), or web page URLs.",
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=8,
            help="Processes that read and tag files while this one stores; 0 reads everything in this "
            "process. Default: one or two when the files come to 8 MB or more and a core is free, else 0.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Store summaries from files, folders and web pages; bad ones are reported and skipped, good ones stored."""
    from bot.cli.ingest_output import print_stored
    from bot.core.ingest import ingest_paths

    settings = settings_from(ctx)
    # Path() would fold the // of a URL, so URLs are told apart before any becomes a Path.
    urls = [t for t in targets if archive_commands.is_url(t)]
    paths = [Path(t) for t in targets if not archive_commands.is_url(t)]

    async def work(application: App) -> int:
        pages = await archive_commands.ingest_urls(application, urls, out, err)
        progress = Progress(
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        task = progress.add_task("files", total=None)
        with progress:
            report = await ingest_paths(
                application.service,
                paths,
                on_files_found=lambda n: progress.update(task, total=n, visible=n > 20),
                on_file=lambda _p: progress.advance(task),
                workers=workers,
            )
        print_stored(report.stored, out, err)
        for e in report.errors:
            err.print(_esc(str(e)), style="red", highlight=False)
        count = {o: report.count(o) + pages.outcomes.count(o) for o in ("created", "updated", "unchanged")}
        where = f"{report.files} {'file' if report.files == 1 else 'files'}"
        if urls:
            where += f", {len(urls)} {'page' if len(urls) == 1 else 'pages'}"
        out.print(
            f"{count['created']} stored, {count['updated']} replaced, "
            f"{count['unchanged']} unchanged, {len(report.errors) + pages.failed} failed ({where})",
            highlight=False,
        )
        return 1 if report.errors or pages.failed else 0

    raise typer.Exit(_run(_with_app(settings, work)))


@app.command()
def render(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A summary file (.json, .yaml, .txt, .md, .html).")],
    platform: Annotated[RenderTarget, typer.Option(help="Which payloads to print.")] = "text",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print {channel, thread, thread_name, topics} bodies (discord/slack)."),
    ] = False,
    layout: LayoutOption = "compact",
    threads: ThreadsOption = True,
) -> None:
    """Print exactly the bodies that would be sent for a summary file (no database needed)."""
    from bot.core.ports import StoredStory
    from bot.core.tagging import Tagger
    from bot.core.taxonomy import load_taxonomy

    settings = settings_from(ctx)
    if file.suffix.lower() not in SUPPORTED:
        raise UsageProblem(f"{file}: unsupported file type; newsbot reads {', '.join(sorted(SUPPORTED))}")
    items = load_file(file)
    errors = [i for i in items if isinstance(i, LoadError)]
    for e in errors:
        err.print(_esc(str(e)), style="red", highlight=False)
    loaded = [i for i in items if isinstance(i, Loaded)]
    if not loaded:
        raise typer.Exit(1)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    tagger = Tagger(taxonomy)
    stories = []
    for item in loaded:
        tagged = tagger.tag_summary(item.summary)
        when = tagged.summary.published or datetime.now().astimezone()
        stories.append(StoredStory(tagged.summary, when, when, tagged.topics, tagged.unknown_tags))
    from bot.core.digest import build_digest

    digest = build_digest(stories, title=settings.digest.title, labels=taxonomy.labels())
    _show_digest(digest, platform, as_json, taxonomy.labels(), channel_layout(layout, threads))
    raise typer.Exit(1 if errors else 0)


# `digest` and `post` choose their stories alike.
SinceOption = Annotated[
    str | None, typer.Option(help="Stories published since: ISO date/time, or 24h, 7d, 2w.")
]
LastOption = Annotated[int | None, typer.Option(min=1, max=500, help="The last N stories instead.")]
TopicOption = Annotated[list[str] | None, typer.Option(help="Limit to a topic (repeatable).")]


def _check_period(since: str | None, last: int | None) -> None:
    if since is not None and last is not None:
        raise UsageProblem("give --since or --last, not both")


async def _build_digest(
    application: App, since: str | None, last: int | None, topic: list[str] | None
) -> Digest:
    from bot.core.commands import parse_since

    topics = [_resolve_topic_or_fail(application, t) for t in topic or []]
    when = parse_since(since, application.service.clock()) if since else None
    return await application.service.digest(since=when, last=last, topics=topics)


@app.command()
def digest(
    ctx: typer.Context,
    since: SinceOption = None,
    last: LastOption = None,
    topic: TopicOption = None,
    platform: Annotated[RenderTarget, typer.Option(help="Render for this platform.")] = "text",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the neutral digest (text) or {channel, thread, thread_name, topics} bodies."
        ),
    ] = False,
    layout: LayoutOption = "compact",
    threads: ThreadsOption = True,
) -> None:
    """Build the digest of recent stories, as the terminal, Discord or Slack would show it."""
    _check_period(since, last)
    chosen = channel_layout(layout, threads)
    settings = settings_from(ctx)

    async def work(application: App) -> tuple[Digest, dict[str, str]]:
        built = await _build_digest(application, since, last, topic)
        return built, application.taxonomy.labels()

    built, labels = _run(_with_app(settings, work))
    _show_digest(built, platform, as_json, labels, chosen)


def _show_digest(
    built: Digest, platform: RenderTarget, as_json: bool, labels: dict[str, str], settings: ChannelLayout
) -> None:
    """Show a digest as a channel with `settings` gets it: the brief, then the thread."""
    plan = digest_plan(built, settings, labels)
    if platform == "text":
        if as_json:
            out.print_json(built.model_dump_json())
        else:
            print_plan_text(out, plan)
        return
    rendered = plan.render(renderer(platform))
    if as_json:
        _print_json(rendered_document(rendered))
        return
    for place, bodies in (("channel", rendered.channel), ("thread", rendered.thread)):
        for i, body in enumerate(bodies, start=1):
            where = f"thread “{rendered.thread_name}”" if place == "thread" else "channel"
            out.rule(f"{platform} {where}: message {i} of {len(bodies)}")
            _print_json(body)


def _print_reply(reply: Reply) -> None:
    from bot.adapters.console.render import render_reply as console_render

    out.print(console_render(reply), soft_wrap=False)  # panels wrap their text; soft wrap would crop it


def _resolve_topic_or_fail(application: App, text: str) -> str:
    resolution = application.service.resolve(validate_query(text))
    if resolution.topic_id is None:
        hint = f" (did you mean {', '.join(resolution.suggestions)}?)" if resolution.suggestions else ""
        raise UsageProblem(f"--topic {text!r}: not a topic in the taxonomy{hint}; see `newsbot topics`")
    return resolution.topic_id


@app.command()
def post(
    ctx: typer.Context,
    discord_webhook: Annotated[
        str | None, typer.Option(help="A Discord channel webhook URL (Channel settings → Integrations).")
    ] = None,
    slack_webhook: Annotated[str | None, typer.Option(help="A Slack incoming-webhook URL.")] = None,
    since: SinceOption = None,
    last: LastOption = None,
    topic: TopicOption = None,
    layout: LayoutOption = "compact",
) -> None:
    """Post a digest through a webhook: no bot, no token (for cron jobs and one-off briefs).

    A webhook cannot start a thread, so a compact digest is its cards alone (each headline links to
    its story); `--layout full` posts every story's whole text instead.
    """
    chosen = channel_layout(layout, threads=False)
    if (discord_webhook is None) == (slack_webhook is None):
        raise UsageProblem("give exactly one of --discord-webhook URL or --slack-webhook URL")
    _check_period(since, last)
    settings = settings_from(ctx)
    # `is not None`: an empty --discord-webhook "" is still the Discord option, and is named as such.
    target: Literal["discord", "slack"] = "discord" if discord_webhook is not None else "slack"
    url = discord_webhook or slack_webhook or ""
    try:  # a wrong URL is worth saying before the archive is even opened
        if target == "discord":
            from bot.adapters.discord.webhook import check_webhook_url as check_discord

            check_discord(url)
        else:
            from bot.adapters.slack.webhook import check_webhook_url as check_slack

            check_slack(url)
    except ValueError as exc:
        raise UsageProblem(f"--{target}-webhook: {exc}") from None

    async def work(application: App) -> int:
        built = await _build_digest(application, since, last, topic)
        if not built.entries and not settings.digest.post_when_empty:
            out.print("nothing to post: no stories in that period (digest.post_when_empty is off)")
            return 0
        plan = digest_plan(built, chosen, application.taxonomy.labels())
        bodies = plan.render(renderer(target)).channel
        try:
            if target == "discord":
                from bot.adapters.discord.webhook import post_webhook as post_discord

                outcomes = await post_discord(url, bodies)
            else:
                from bot.adapters.slack.webhook import post_webhook as post_slack

                outcomes = await post_slack(url, bodies)
        except ValueError as exc:
            raise UsageProblem(f"--{target}-webhook: {exc}") from None
        return _report_outcomes(outcomes)

    raise typer.Exit(_run(_with_app(settings, work)))


def _report_outcomes(outcomes: list[SendOutcome]) -> int:
    from bot.core.ports import Sent

    failed = 0
    for i, outcome in enumerate(outcomes, start=1):
        if isinstance(outcome, Sent):
            out.print(f"message {i} of {len(outcomes)}: posted", highlight=False)
        else:
            failed += 1
            err.print(
                f"message {i} of {len(outcomes)}: not posted: {_esc(outcome.reason)}",
                style="red",
                highlight=False,
            )
    return 1 if failed else 0


# -- queries and commands --------------------------------------------------------------------------


@app.command()
def topic(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="A topic id, name, synonym, or words to search for.")],
    page: Annotated[int, typer.Option(min=1, help="Page of results.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Answer a topic query from the archive, as /topic does in chat."""
    settings = settings_from(ctx)
    cleaned = validate_query(query)

    async def work(application: App) -> None:
        answer = await application.service.topic(cleaned, page=page)
        if as_json:
            data = answer.model_dump(mode="json", include={"query", "topic", "suggestions", "matches"})
            _print_json(data)
        else:
            _print_reply(application.commands.topic_reply(answer))

    _run(_with_app(settings, work))


@app.command()
def topics(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False
) -> None:
    """List the taxonomy's topics with how many stories carry each."""
    settings = settings_from(ctx)

    async def work(application: App) -> None:
        counts = await application.service.topic_counts()
        if as_json:
            _print_json([c.model_dump() for c in counts])
            return
        table = Table("id", "label", "stories")
        for c in counts:
            table.add_row(c.id, c.label, str(c.stories))
        out.print(table)

    _run(_with_app(settings, work))


@app.command()
def cmd(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help='The command as typed in chat, e.g. "/topic drones".')],
    platform: Annotated[str, typer.Option(help="console, discord or slack.")] = "console",
    workspace: Annotated[str | None, typer.Option(help="Discord guild id or Slack team id.")] = None,
    channel: Annotated[str | None, typer.Option(help="Channel id.")] = "console",
    user: Annotated[str | None, typer.Option(help="User id.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Run as a channel admin.")] = False,
    page: Annotated[int, typer.Option(min=1, help="Page of a paged answer.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the neutral reply as JSON.")] = False,
) -> None:
    """Run any chat command exactly as chat would (for scripts and operators)."""
    if platform not in PLATFORMS:
        raise UsageProblem(f"--platform {platform!r}: choose one of {', '.join(PLATFORMS)}")
    chosen: Platform = platform  # narrowed by the check above
    settings = settings_from(ctx)
    name, args = parse_command_text(text)
    if chosen == "slack" and "/" + name == settings.slack.command.lower():
        name, args = parse_command_text(args)  # "/news topic drones" → topic drones
    inv = Invocation(chosen, name, args, workspace, channel, user, admin, page)

    async def work(application: App) -> Reply:
        return await application.commands.run(inv)

    reply = _run(_with_app(settings, work))
    if as_json:
        out.print_json(reply.model_dump_json())
    else:
        _print_reply(reply)
    raise typer.Exit(1 if reply.tone == "error" else 0)


@app.command()
def demo(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Print the digest (the brief, then its thread) and /topic drones, then exit."
        ),
    ] = False,
    example: Annotated[Path, typer.Option(help="The summary to load.")] = Path(
        "examples/us-taiwan-dialogue.yaml"
    ),
) -> None:
    """Load the worked example into a fresh local store and try the chat commands in the terminal."""
    from bot.cli.demo import run_demo

    settings = settings_from(ctx)
    if not example.is_file():
        raise UsageProblem(f"{example}: example not found (run the demo from the repository folder)")
    raise typer.Exit(_run(run_demo(settings, example, once=once, console=out)))


# -- operating ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply database migrations (also done automatically at start)."""
    from bot.store.migrate import upgrade_database

    settings = settings_from(ctx)
    _run(upgrade_database(settings.database_url))
    out.print(f"database is up to date ({redact_url(settings.database_url)})", highlight=False)


@config_app.command("check")
def config_check(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: settings, taxonomy and platforms.")
    ] = False,
) -> None:
    """Print the effective settings (secrets masked) and which platforms are configured."""
    from bot.core.taxonomy import load_taxonomy

    settings = settings_from(ctx)
    normalize_url(settings.database_url)  # a URL `run` cannot open fails here too (StoreError: one line)
    data = settings.masked()
    data["database_url"] = redact_url(settings.database_url)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    platforms = settings.platforms()
    if as_json:
        # Plain print, not Rich: Rich wraps and highlights, and a script needs exactly one JSON document.
        document = {
            "settings": data,
            "taxonomy": {"path": str(settings.taxonomy_path), "topics": len(taxonomy.topics)},
            "platforms": platforms,
        }
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))
        return
    _print_json(data)
    out.print(f"taxonomy: {len(taxonomy.topics)} topics from {settings.taxonomy_path}", highlight=False)
    out.print("platforms configured: " + (", ".join(platforms) if platforms else "none"), highlight=False)


@app.command()
def run(ctx: typer.Context) -> None:
    """Run the bot: every configured platform in one process, until SIGTERM or Ctrl-C."""
    from bot.delivery.lock import AlreadyRunning
    from bot.runner import CannotListen, NoPlatformConfigured, run_bot

    settings = settings_from(ctx)
    if not ctx.find_root().obj.verbose:  # a running bot says what it does at NEWSBOT_LOG_LEVEL (INFO)
        logging.getLogger().setLevel(settings.log_level)
        for library in CHATTY_LIBRARIES:
            logging.getLogger(library).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        _run(run_bot(settings))
    except (NoPlatformConfigured, AlreadyRunning, CannotListen) as exc:
        err.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def preview(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8081,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback readers need no token).")
    ] = "127.0.0.1",
) -> None:
    """Serve the preview and status pages from the archive, with no platform credentials needed."""
    from bot.app import app_preview_deps
    from bot.preview.serve import serve_preview

    settings = settings_from(ctx)

    def ready(url: str) -> None:
        out.print(f"preview on {url} (status on /status); Ctrl-C stops it", highlight=False)

    _run(
        _with_app(
            settings,
            lambda application: serve_preview(app_preview_deps(application), host, port, on_ready=ready),
        )
    )


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def main() -> None:
    """Run the CLI, turning known problems into one-line messages instead of tracebacks."""
    try:
        app()
    except (SettingsError, TaxonomyError, StoreError, QueryError, UsageProblem, DiscordError) as exc:
        err.print(f"newsbot: {_esc(str(exc))}", style="red", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
