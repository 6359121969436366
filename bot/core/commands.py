"""The one command table every platform shares: an Invocation in, a neutral Reply out."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bot.core.cards import card_reply
from bot.core.digest import digest_reply
from bot.core.invocation import QUERY_MAX, CommandSpec, Invocation, OptionSpec, clean_args
from bot.core.layout import LAYOUTS, ChannelLayout, LayoutStore
from bot.core.ports import FEED_TOPIC_PREFIX, ChannelKey, ChannelStore, FeedDirectory, FeedInfo
from bot.core.query import QueryError, complete_topics, validate_query
from bot.core.reply import Item, Reply
from bot.core.schedule_text import CronRules, ScheduleError, check_timezone, parse_schedule
from bot.core.service import NewsService, TopicAnswer

log = logging.getLogger(__name__)

Handler = Callable[[Invocation], Awaitable[Reply]]
_SINCE = re.compile(r"^(\d{1,4})\s*(h|hours?|d|days?|w|weeks?)$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
TOPIC_PAGE_SIZE = 5

ADMIN_RULE = {
    "discord": "the Manage Server permission",
    "slack": "a workspace admin or owner, or a user listed in NEWSBOT_SLACK__ADMINS",
    "console": "the --admin flag",
}


_TOPIC = OptionSpec(
    "topic",
    "A topic id, name or synonym, e.g. drones, or feed:NAME for a feed",
    required=True,
    autocomplete=True,
)
FEED_ACTIONS = ("add", "remove")
SETTING_NAMES = ("layout", "threads")
SETTING_VALUES = {"layout": LAYOUTS, "threads": ("on", "off")}
SETTINGS_USAGE = "settings | settings layout compact|full | settings threads on|off"

# Static data, in help order: Discord registers these, Slack's help and every handler read them, and
# `newsbot discord sync` needs nothing else (no database).
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "topic",
        "What the archive says on a topic",
        "topic QUERY",
        "_topic",
        options=(OptionSpec("query", "A topic or words, e.g. drones", required=True, autocomplete=True),),
    ),
    CommandSpec("topics", "The topics newsbot knows, with story counts", "topics", "_topics"),
    CommandSpec(
        "digest",
        "A digest of the latest stories",
        "digest [SINCE]",
        "_digest",
        options=(OptionSpec("since", "24h, 7d, 2w or a date such as 2026-11-01"),),
    ),
    CommandSpec("help", "What newsbot can do", "help", "_help", private_by_default=True),
    CommandSpec(
        "subscribe",
        "Alert this channel when a story touches a topic",
        "subscribe TOPIC",
        "_subscribe",
        admin_only=True,
        options=(_TOPIC,),
    ),
    CommandSpec(
        "unsubscribe",
        "Stop this channel's alerts on a topic",
        "unsubscribe TOPIC",
        "_unsubscribe",
        admin_only=True,
        options=(_TOPIC,),
    ),
    CommandSpec(
        "subscriptions",
        "This channel's topic alerts and digest schedule",
        "subscriptions",
        "_subscriptions",
    ),
    CommandSpec(
        "schedule",
        "This channel's digest schedule",
        "schedule daily HH:MM [TZ] | weekly DAY HH:MM [TZ] | cron EXPR [TZ] | off | show",
        "_schedule",
        admin_only=True,
        options=(OptionSpec("when", "daily 08:00 Europe/Berlin · weekly mon 08:00 · cron … · off · show"),),
    ),
    CommandSpec(
        "settings",
        "How this channel's digests look: compact cards or full text, the detail in a thread",
        SETTINGS_USAGE,
        "_settings",
        admin_only=True,
        # Discord joins options in this order, so "layout" + "full" arrives as Slack users type it.
        options=(
            OptionSpec(
                "setting", "layout or threads (leave out to show the settings)", choices=SETTING_NAMES
            ),
            OptionSpec(
                "value",
                "compact or full (layout); on or off (threads)",
                choices=tuple(v for values in SETTING_VALUES.values() for v in values),
            ),
        ),
    ),
    CommandSpec("feeds", "The feeds newsbot follows and how their polling stands", "feeds", "_feeds"),
    CommandSpec(
        "feed",
        "Follow a feed (or the feed a page announces), or stop following one",
        "feed add URL | feed remove NAME",
        "_feed",
        admin_only=True,
        # Discord joins options in this order, so "add" + URL arrives as the text Slack users type.
        options=(
            OptionSpec("action", "add or remove", required=True, choices=FEED_ACTIONS),
            OptionSpec("target", "A feed or page URL to add, or the name of a feed to remove", required=True),
        ),
    ),
)
_BY_NAME = {spec.name: spec for spec in COMMANDS}


class CommandTable:
    """Run chat commands against the news service and the channel store."""

    def __init__(
        self,
        service: NewsService,
        channels: ChannelStore,
        cron: CronRules,
        *,
        default_timezone: str = "UTC",
        slack_command: str = "/news",
        feeds: FeedDirectory | None = None,
        layouts: LayoutStore | None = None,
    ) -> None:
        self.service = service
        self.feeds = feeds
        self.layouts = layouts
        self.channels = channels
        self.cron = cron
        self.default_timezone = check_timezone(default_timezone)
        self.slack_command = slack_command
        self._handlers: dict[str, Handler] = {spec.name: getattr(self, spec.handler) for spec in COMMANDS}

    async def complete_topics(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """Return (label, topic id) choices for autocomplete, best first."""
        return complete_topics(clean_args(prefix)[:QUERY_MAX], self.service.taxonomy, limit=limit)

    async def run(self, inv: Invocation) -> Reply:
        """Run one command; every failure comes back as an error reply, never an exception."""
        spec = _BY_NAME.get(inv.name.lower())
        if spec is None:
            shown = inv.name[:40] or "(nothing)"
            return self._with_privacy(
                self._help_reply(
                    inv, f"Unknown command “{shown}”. Here is what newsbot understands:", "warning"
                ),
                inv,
                default=True,
            )
        if spec.admin_only and not inv.is_admin and not _read_only(inv):
            rule = ADMIN_RULE.get(inv.platform, "admin rights")
            return Reply(
                title="Not allowed",
                text=f"{_what(spec.name)} needs {rule}.",
                tone="error",
                private=True,
                own_words=True,
            )
        try:
            reply = await self._handlers[spec.name](inv)
        except (QueryError, ScheduleError) as exc:
            reply = Reply(title="Can't do that", text=str(exc), tone="error", private=True)
        except Exception:
            log.exception("command %s failed", inv.name)
            reply = Reply(
                title="Something went wrong",
                text="newsbot could not answer this time; the error is in its log. Please try again.",
                tone="error",
                private=True,
            )
        return self._with_privacy(reply, inv, default=spec.private_by_default)

    @staticmethod
    def _with_privacy(reply: Reply, inv: Invocation, *, default: bool) -> Reply:
        private = reply.private or (inv.private if inv.private is not None else default)
        # Every command's reply is newsbot's words around summary items: its help and examples
        # must survive being copied back into chat.
        return reply.model_copy(update={"private": private, "own_words": True})

    # -- archive commands -------------------------------------------------------------------------

    async def _topic(self, inv: Invocation) -> Reply:
        query = validate_query(inv.args)
        answer = await self.service.topic(query, page=inv.page, per_page=TOPIC_PAGE_SIZE)
        return self.topic_reply(answer)

    def topic_reply(self, answer: TopicAnswer) -> Reply:
        """Turn a topic answer into a neutral reply."""
        label = self.service.taxonomy.label(answer.topic) if answer.topic else None
        title = f"Topic: {label}" if label else f"Search: {answer.query}"
        if not answer.matches:
            if answer.page > 1:
                return Reply(title=title, text="No more results.", tone="warning", page=answer.page)
            hint = ""
            if answer.suggestions:
                names = ", ".join(self.service.taxonomy.label(s) for s in answer.suggestions)
                hint = f" Did you mean: {names}?"
            what = f"on {label}" if label else f"matching “{answer.query}”"
            return Reply(
                title=title,
                text=f"No stories {what} yet.{hint} Try /topics for the list of topics.",
                tone="warning",
            )
        items = [
            Item(
                title=m.title,
                url=m.url,
                meta=f"{m.headline} · {m.published.date().isoformat()}",
                text=m.text,
            )
            for m in answer.matches
        ]
        return Reply(
            title=title,
            notice=answer.note,
            items=items,
            page=answer.page,
            pages=answer.page + 1 if answer.has_more else answer.page,
        )

    async def _topics(self, inv: Invocation) -> Reply:
        counts = await self.service.topic_counts()
        lines = [
            f"• {c.label} ({c.id}) — {c.stories} {'story' if c.stories == 1 else 'stories'}" for c in counts
        ]
        example = f"{self.slack_command} topic drones" if inv.platform == "slack" else "/topic drones"
        return Reply(title="Topics", text="\n".join(lines), footer=f"Ask with {example}")

    async def _digest(self, inv: Invocation) -> Reply:
        since = parse_since(inv.args, self.service.clock()) if inv.args else None
        digest = await self.service.digest(since=since)
        labels = self.service.taxonomy.labels()
        # An answer cannot start a thread: a compact channel gets the cards (each headline links to
        # its story, /topic gives the full sections), a full one the whole text.
        compact = (await self._channel_layout(inv)).layout == "compact"
        reply = card_reply(digest, labels) if compact else digest_reply(digest, labels=labels)
        if not digest.entries:
            when = f"since {since.date().isoformat()}" if since else "in the archive"
            return reply.model_copy(update={"text": f"No stories {when}.", "tone": "warning"})
        return reply

    async def _help(self, inv: Invocation) -> Reply:
        return self._help_reply(
            inv, "newsbot answers from its archive of news and policy-dialogue summaries."
        )

    def _help_reply(self, inv: Invocation, intro: str, tone: str = "info") -> Reply:
        prefix = f"{self.slack_command} " if inv.platform == "slack" else "/"
        lines = []
        for spec in COMMANDS:
            admin = " (admins)" if spec.admin_only else ""
            lines.append(f"{prefix}{spec.usage} — {spec.description}{admin}")
        footer = None
        if inv.platform == "slack":
            footer = "Answers are shown only to you; use the Post to channel button to share one."
        return Reply(
            title="newsbot help",
            text=intro + "\n\n" + "\n".join(lines),
            footer=footer,
            tone="warning" if tone == "warning" else "info",
        )

    # -- channel commands -------------------------------------------------------------------------

    def _key(self, inv: Invocation) -> ChannelKey:
        if not inv.channel:
            raise QueryError("This command works in a channel; there is no channel here.")
        return ChannelKey(inv.platform, inv.workspace or "", inv.channel)

    def _topic_id(self, text: str) -> tuple[str, str | None]:
        query = validate_query(text)
        resolution = self.service.resolve(query)
        if resolution.topic_id is None:
            hint = ""
            if resolution.suggestions:
                hint = " Did you mean: " + ", ".join(resolution.suggestions) + "?"
            raise QueryError(f"“{query}” is not a topic newsbot knows.{hint} See /topics for the list.")
        return resolution.topic_id, resolution.note

    async def _target(self, text: str, *, must_exist: bool = True) -> tuple[str, str, str | None]:
        """Return (topic id, label, note) for a topic or a `feed:NAME`; an unknown feed is refused."""
        cleaned = validate_query(text)
        if not cleaned.lower().startswith(FEED_TOPIC_PREFIX):
            topic_id, note = self._topic_id(cleaned)
            return topic_id, self.service.taxonomy.label(topic_id), note
        name = cleaned[len(FEED_TOPIC_PREFIX) :].strip().lower()
        if not name:
            raise QueryError("Name the feed after “feed:”, e.g. feed:reuters; /feeds lists them.")
        if must_exist and (self.feeds is None or await self.feeds.get_feed(name) is None):
            raise QueryError(f"No feed is called “{name}”. /feeds lists the feeds newsbot follows.")
        return FEED_TOPIC_PREFIX + name, f"the feed {name}", None

    async def _subscribe(self, inv: Invocation) -> Reply:
        key = self._key(inv)
        topic_id, label, note = await self._target(inv.args)
        added = await self.channels.subscribe(key, topic_id, user=inv.user, now=self.service.clock())
        text = (
            (
                f"This channel now gets an alert for each new story of {label}."
                if topic_id.startswith(FEED_TOPIC_PREFIX)
                else f"This channel now gets an alert when a new story touches {label}."
            )
            if added
            else f"This channel already follows {label}."
        )
        return Reply(title="Subscribed" if added else "Already subscribed", text=text, notice=note)

    async def _unsubscribe(self, inv: Invocation) -> Reply:
        key = self._key(inv)
        # A removed feed's subscription can still be dropped; an unknown name is refused below.
        topic_id, label, note = await self._target(inv.args, must_exist=False)
        removed = await self.channels.unsubscribe(key, topic_id)
        if removed:
            return Reply(title="Unsubscribed", text=f"No more {label} alerts in this channel.", notice=note)
        if topic_id.startswith(FEED_TOPIC_PREFIX):
            await self._target(inv.args)  # says so when no feed has that name
        return Reply(title="Not subscribed", text=f"This channel did not follow {label}.", tone="warning")

    async def _subscriptions(self, inv: Invocation) -> Reply:
        key = self._key(inv)
        subs = await self.channels.subscriptions(key)
        schedule = await self.channels.get_schedule(key)
        followed = {f.name: f for f in await self.feeds.list_feeds()} if self.feeds is not None else {}
        lines = []
        for sub in subs:
            if sub.topic_id.startswith(FEED_TOPIC_PREFIX):
                feed = followed.get(sub.topic_id[len(FEED_TOPIC_PREFIX) :])
                line = f"• Feed {sub.topic_id[len(FEED_TOPIC_PREFIX) :]} ({sub.topic_id})"
                if feed is None:
                    line += " — no longer followed by newsbot"
                elif feed.paused_reason:
                    line += f" — feed paused: {feed.paused_reason}"
            else:
                line = f"• {self.service.taxonomy.label(sub.topic_id)} ({sub.topic_id})"
            if sub.paused_reason:
                line += f" — paused: {sub.paused_reason}"
            lines.append(line)
        text = "\n".join(lines) if lines else "This channel follows no topics or feeds."
        text += "\n\nDigest: " + (
            self._describe_schedule(schedule.cron, schedule.timezone) if schedule else "none"
        )
        if schedule and schedule.paused_reason:
            text += f" — paused: {schedule.paused_reason}"
        return Reply(title="This channel's alerts", text=text)

    async def _schedule(self, inv: Invocation) -> Reply:
        key = self._key(inv)
        request = parse_schedule(inv.args, self.default_timezone)
        if request.action == "show":
            schedule = await self.channels.get_schedule(key)
            if schedule is None:
                return Reply(title="Digest schedule", text="This channel has no digest schedule.")
            text = self._describe_schedule(schedule.cron, schedule.timezone)
            if schedule.paused_reason:
                text += f"\nPaused: {schedule.paused_reason}"
            return Reply(title="Digest schedule", text=text)
        if request.action == "off":
            removed = await self.channels.clear_schedule(key)
            text = (
                "Scheduled digests are off for this channel." if removed else "This channel had no schedule."
            )
            return Reply(title="Digest schedule", text=text)
        now = self.service.clock()
        try:
            next_fire = self.cron.next_fire(request.cron, request.timezone, now)
        except ValueError as exc:
            raise ScheduleError(f"“{request.cron}” is not a valid cron expression: {exc}") from None
        await self.channels.set_schedule(
            key, cron=request.cron, timezone=request.timezone, user=inv.user, now=now, next_fire_at=next_fire
        )
        return Reply(
            title="Digest scheduled",
            text=f"A digest will be posted here {request.description}. "
            f"Next: {_local(next_fire, request.timezone)}.",
        )

    def _describe_schedule(self, cron: str, timezone: str) -> str:
        try:
            nxt = _local(self.cron.next_fire(cron, timezone, self.service.clock()), timezone)
        except ValueError:
            nxt = "never (the expression no longer parses)"
        return f"cron “{cron}” in {timezone}; next {nxt}"

    # -- layout and threads ---------------------------------------------------------------------------

    async def _channel_layout(self, inv: Invocation) -> ChannelLayout:
        if self.layouts is None or not inv.channel:
            return ChannelLayout()
        return await self.layouts.get_layout(ChannelKey(inv.platform, inv.workspace or "", inv.channel))

    async def _settings(self, inv: Invocation) -> Reply:
        key = self._key(inv)
        if self.layouts is None:
            raise QueryError("Channel settings are not available in this newsbot.")
        words = clean_args(inv.args).lower().split()
        prefix = f"{self.slack_command} " if inv.platform == "slack" else "/"
        if words in ([], ["show"]):
            current = await self.layouts.get_layout(key)
            schedule = await self.channels.get_schedule(key)
            digest = self._describe_schedule(schedule.cron, schedule.timezone) if schedule else "none"
            if schedule and schedule.paused_reason:
                digest += f" — paused: {schedule.paused_reason}"
            return Reply(
                title="This channel's settings",
                text=_describe_layout(current) + f"\nDigest: {digest}",
                footer=f"Admins change them with `{prefix}settings layout compact|full` "
                f"or `{prefix}settings threads on|off`.",
            )
        name, value = words if len(words) == 2 else ("", "")
        if name not in SETTING_VALUES or value not in SETTING_VALUES[name]:
            raise QueryError(
                f"“{inv.args[:60]}” is not a setting. Use: {prefix}settings layout compact|full, "
                f"or {prefix}settings threads on|off."
            )
        now = self.service.clock()
        if name == "layout":
            chosen = await self.layouts.set_layout(
                key, layout="full" if value == "full" else "compact", user=inv.user, now=now
            )
        else:
            chosen = await self.layouts.set_layout(key, threads=value == "on", user=inv.user, now=now)
        return Reply(title="Settings changed", text=_describe_layout(chosen))

    # -- feeds ---------------------------------------------------------------------------------------

    def _directory(self) -> FeedDirectory:
        if self.feeds is None:
            raise QueryError("Feeds are not available in this newsbot.")
        return self.feeds

    async def _feeds(self, inv: Invocation) -> Reply:
        feeds = await self._directory().list_feeds()
        prefix = f"{self.slack_command} " if inv.platform == "slack" else "/"
        if not feeds:
            return Reply(
                title="Feeds",
                text=f"newsbot follows no feeds yet. An admin adds one with {prefix}feed add URL.",
                tone="warning",
            )
        return Reply(
            title="Feeds",
            text="\n".join(_feed_line(f) for f in feeds),
            footer=f"Follow one here with {prefix}subscribe feed:NAME",
        )

    async def _feed(self, inv: Invocation) -> Reply:
        action, _, target = clean_args(inv.args).partition(" ")
        action, target = action.lower(), target.strip()
        usage = "Use: feed add URL, or feed remove NAME."
        if action not in FEED_ACTIONS or not target:
            raise QueryError(f"“{inv.args[:60]}” is not a feed command. {usage}")
        directory = self._directory()
        if action == "add":
            change = await directory.add_feed(target, user=inv.user)
        else:
            change = await directory.remove_feed(target.lower())
        if not change.ok:
            return Reply(title="Can't do that", text=change.message, tone="error", private=True)
        return Reply(title="Feed added" if action == "add" else "Feed removed", text=change.message)


def _feed_line(feed: FeedInfo) -> str:
    fetched = feed.last_fetch_at
    when = f"last fetch {fetched.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if fetched else "not fetched yet"
    stories = f"{feed.stories} {'story' if feed.stories == 1 else 'stories'}"
    line = f"• {feed.name} — {feed.status} · {stories} · {when}\n  {feed.url}"
    if feed.paused_reason:
        line += f"\n  paused: {feed.paused_reason}"
    elif feed.last_error:
        line += f"\n  last error: {feed.last_error}"
    return line


def _describe_layout(current: ChannelLayout) -> str:
    if current.layout == "full":
        layout = "full — each digest posts every story's whole text in the channel"
        # With the whole text in the channel there is nothing left for a thread (bot/core/layout.py).
        threads = f"{'on' if current.threads else 'off'} (used by the compact layout only)"
    else:
        layout = "compact — one short card per story: headline, lede, one line per discussion area"
        threads = (
            "on — each story's full text follows in a thread under the digest"
            if current.threads
            else "off — only the cards are posted; each headline links to its story"
        )
    return f"Layout: {layout}\nThreads: {threads}"


def _read_only(inv: Invocation) -> bool:
    if inv.name == "settings":
        return inv.args.strip().lower() in {"", "show"}
    return inv.name == "schedule" and inv.args.strip().lower() in {"", "show", "status"}


def _what(name: str) -> str:
    if name == "feed":
        return "Changing the feeds newsbot follows"
    if name == "settings":
        return "Changing this channel's settings"
    return "Changing this channel's " + ("digest schedule" if name == "schedule" else "topic alerts")


def _local(moment: datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def parse_since(text: str, now: datetime) -> datetime:
    """Parse "24h", "7d", "2w", "today", "yesterday" or an ISO date/date-time (naive means UTC)."""
    value = clean_args(text).lower()
    if value == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "yesterday":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    m = _SINCE.match(value)
    if m:
        return now - int(m.group(1)) * _UNITS[m.group(2)[0].lower()]
    try:
        moment = datetime.fromisoformat(value.upper() if "t" in value else value)
    except ValueError:
        raise QueryError(
            f"“{text[:40]}” is not a time: use 24h, 7d, 2w, today, yesterday or a date such as 2026-11-01."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
