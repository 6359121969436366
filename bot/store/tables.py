"""The tables, as SQLAlchemy Core metadata; migrations/versions/0001_initial.py creates the same schema.

Ordering keys: every story gets a `story_key` that sorts like its published time (seconds, then a
slot that keeps stories of the same second apart), and each section's id is derived from it, so
"newest story first, then section position" is simply `ORDER BY section id DESC`. That lets both
the topic index and the full-text index stop after one page instead of sorting every match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    false,
    func,
)
from sqlalchemy.types import TypeDecorator

from bot.core.ports import ChannelKey

SLOT_BITS = 17  # stories published in the same second: up to 131,072
POSITION_BITS = 12  # sections of one story that are indexed: up to 4,096
MAX_INDEXED_SECTIONS = 1 << POSITION_BITS
SLOTS_PER_SECOND = 1 << SLOT_BITS
SECONDS_LIMIT = (1 << 34) - 1  # keeps section ids inside a signed 64-bit integer (years 1426 to 2514)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always comes back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only accepts timezone-aware datetimes")
        value = value.astimezone(UTC)
        # SQLite has no time zone type: store naive UTC text, which also sorts correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _key_type() -> Any:
    # On SQLite only "INTEGER PRIMARY KEY" is an alias of the rowid, which the FTS5 index refers to.
    return BigInteger().with_variant(Integer(), "sqlite")


metadata = MetaData()

summaries = Table(
    "summaries",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("story_key", BigInteger(), nullable=False, unique=True),
    Column("headline", Text(), nullable=False),
    Column("url", Text(), nullable=True),
    Column("doc", Text(), nullable=False),  # Summary.model_dump(mode="json") as JSON text
    Column("content_hash", String(64), nullable=False),
    Column("published", UTCDateTime(), nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("topics", Text(), nullable=False, server_default=""),  # space-separated topic ids
    Column("unknown_tags", Text(), nullable=False, server_default=""),  # space-separated
    # sha256 of the normalised headline (bot.store.archive.headline_fingerprint): how a story ingested
    # again under another id (the .txt and the .yaml of one article) is recognised as the same story.
    Column("fingerprint", String(64), nullable=True),
    Index("ix_summaries_published", "published"),
    Index("ix_summaries_fingerprint", "fingerprint"),
    Index("ix_summaries_ingested_at", "ingested_at"),
)

sections = Table(
    "sections",
    metadata,
    Column("id", _key_type(), primary_key=True, autoincrement=False),  # story_key << 12 | (4095 - position)
    Column("summary_id", String(80), ForeignKey("summaries.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer(), nullable=False),
    Column("title", Text(), nullable=False),
    Column("text", Text(), nullable=False),
    Column("topics", Text(), nullable=False, server_default=""),  # space-separated topic ids
    Index("ix_sections_summary_id", "summary_id"),
)

# The topic index: one row per (topic, story) with the positions of the story's sections that carry
# the topic ("" when only the headline, lede or tags do). One row per story rather than per section
# keeps it to a third of the rows; it has no foreign key or extra index, and SqlArchive deletes a
# story's rows explicitly, from summaries.topics.
story_topics = Table(
    "story_topics",
    metadata,
    Column("topic_id", String(128), nullable=False),
    Column("story_key", BigInteger(), nullable=False),
    Column("positions", Text(), nullable=False),  # space-separated section positions, ascending
    PrimaryKeyConstraint("topic_id", "story_key", name="pk_story_topics"),
    sqlite_with_rowid=False,
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("platform", String(32), nullable=False),
    Column("workspace", String(128), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("topic_id", String(128), nullable=False),
    Column("created_by", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("paused_reason", Text(), nullable=True),
    PrimaryKeyConstraint("platform", "workspace", "channel", "topic_id", name="pk_subscriptions"),
    Index("ix_subscriptions_topic_id", "topic_id"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("platform", String(32), nullable=False),
    Column("workspace", String(128), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("cron", String(128), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_by", String(128), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("next_fire_at", UTCDateTime(), nullable=True),
    Column("paused_reason", Text(), nullable=True),
    PrimaryKeyConstraint("platform", "workspace", "channel", name="pk_schedules"),
    Index("ix_schedules_next_fire_at", "next_fire_at"),
)

# The delivery outbox (bot/store/outbox.py) and how far each channel's digests have read the archive.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("dedupe_key", String(400), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("workspace", String(128), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("slot_at", UTCDateTime(), nullable=True),  # digest: the slot it stands for
    Column("summary_id", String(80), nullable=True),  # alert: the story
    Column(
        "topics", Text(), nullable=False, server_default=""
    ),  # space-separated: alert topics, digest filter
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False, server_default="0"),
    Column("parts_sent", Integer(), nullable=False, server_default="0"),
    Column("bodies", Text(), nullable=True),  # JSON list of rendered bodies, frozen at the first attempt
    Column("message_ids", Text(), nullable=False, server_default=""),  # space-separated, one per sent part
    Column("available_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", Text(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    # Threads (bot/store/thread_rows.py): a row that is one step of a thread — "thread" (start a Discord
    # thread from the parent message), "forum" (the parent is a forum post), "reply" — or NULL for a plain
    # channel post; the dedupe key of the row whose first message anchors the thread; the row that must be
    # sent before this one may be leased; and when a post that has no idempotency key was last tried.
    Column("step", String(16), nullable=True),
    Column("thread_of", String(400), nullable=True),
    Column("waits_for", String(400), nullable=True),
    Column("intent_at", UTCDateTime(), nullable=True),
    UniqueConstraint("dedupe_key", name="uq_deliveries_dedupe_key"),
    Index("ix_deliveries_status_available", "status", "available_at"),
    Index("ix_deliveries_channel", "platform", "workspace", "channel"),
)

digest_watermarks = Table(
    "digest_watermarks",
    metadata,
    Column("platform", String(32), nullable=False),
    Column("workspace", String(128), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("digested_until", UTCDateTime(), nullable=False),  # stories ingested up to here were in a digest
    PrimaryKeyConstraint("platform", "workspace", "channel", name="pk_digest_watermarks"),
)


def is_channel(table: Table, key: ChannelKey) -> ColumnElement[bool]:
    """Return the condition that picks `key`'s rows of a table keyed by platform, workspace and channel."""
    return and_(
        table.c.platform == key.platform,
        table.c.workspace == key.workspace,
        table.c.channel == key.channel,
    )


# Feeds newsbot polls itself. A feed is fetched by one process at a time: a due row is leased
# (lease_owner/lease_until, taken with FOR UPDATE SKIP LOCKED on PostgreSQL) like an outbox row.
feeds = Table(
    "feeds",
    metadata,
    Column("id", _key_type(), primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", Text(), nullable=False),  # moves with permanent redirects
    Column("added_url", Text(), nullable=False),  # what the user gave (a page URL, before discovery)
    Column("title", Text(), nullable=True),
    Column("site_url", Text(), nullable=True),
    Column("topics", Text(), nullable=False, server_default=""),  # space-separated ids added to every story
    Column("full_text", Boolean(), nullable=False, server_default=false()),
    Column("etag", Text(), nullable=True),
    Column("last_modified", Text(), nullable=True),
    Column("body_sha256", String(64), nullable=True),
    Column("next_fetch_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_fetch_at", UTCDateTime(), nullable=True),
    Column("last_parsed_at", UTCDateTime(), nullable=True),  # entries seen then are in the feed today
    Column("last_status", Integer(), nullable=True),
    Column("last_result", Text(), nullable=True),
    Column("last_error", Text(), nullable=True),
    Column("fail_count", Integer(), nullable=False, server_default="0"),
    Column("failing_since", UTCDateTime(), nullable=True),
    Column("paused_reason", Text(), nullable=True),
    Column("last_announced", UTCDateTime(), nullable=True),  # newest date among announced entries
    Column("id_scheme", String(8), nullable=False, server_default="id"),  # "id+link" once its ids repeat
    Column("created_by", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_feeds_next_fetch_at", "next_fetch_at"),
)

# One row per entry key ever seen in a feed: the dedupe memory. `quiet` entries were stored without
# being announced (a feed's first poll, a re-keying, an old item), so digests leave their stories out.
feed_entries = Table(
    "feed_entries",
    metadata,
    Column("feed_id", _key_type(), ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("key_kind", String(8), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("summary_id", String(80), nullable=True),
    Column("content_sha256", String(64), nullable=False, server_default=""),  # edits update the story
    Column("quiet", Boolean(), nullable=False, server_default=false()),
    Column("published", UTCDateTime(), nullable=True),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("feed_id", "key", name="pk_feed_entries"),
    Index("ix_feed_entries_fingerprint", "feed_id", "fingerprint"),
    Index("ix_feed_entries_summary_id", "summary_id"),
)

# One row per shared request budget (e.g. "discord:<application>"): a token bucket every replica draws
# from in one UPDATE, timed by the database's clock so replicas with skewed clocks still agree.
rate_budgets = Table(
    "rate_budgets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("tokens", Float(), nullable=False),
    Column("refreshed_at", UTCDateTime(), nullable=False),
    # Until when every replica draws at the careful rate: set by a global 429 (bot/store/budgets.py).
    Column("careful_until", UTCDateTime(), nullable=True),
)

# One row per channel that changed its layout or threads (bot/store/channel_settings.py); a channel
# without a row has the defaults (compact cards, the detail in a thread).
channel_settings = Table(
    "channel_settings",
    metadata,
    Column("platform", String(32), nullable=False),
    Column("workspace", String(128), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("layout", String(16), nullable=False),
    Column("threads", Boolean(), nullable=False),
    Column("updated_by", String(128), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("platform", "workspace", "channel", name="pk_channel_settings"),
)

# The per-channel buckets Discord announces in its X-RateLimit-* headers (5 posts per 5 s per channel),
# one row per budget and channel, so replicas posting to one channel spend its allowance once between
# them. `window_seconds` is the longest window seen, used to start a fresh one before Discord reports it.
channel_buckets = Table(
    "channel_buckets",
    metadata,
    Column("budget", String(128), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("bucket_limit", Integer(), nullable=True),
    Column("remaining", Integer(), nullable=True),
    Column("reset_at", UTCDateTime(), nullable=True),
    Column("window_seconds", Float(), nullable=True),
    Column("blocked_until", UTCDateTime(), nullable=True),
    Column("used_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("budget", "channel", name="pk_channel_buckets"),
    Index("ix_channel_buckets_used_at", "used_at"),
)

# Who holds which gateway shard. The claim itself is a session advisory lock (it vanishes with the
# holder's connection); this row only says who took it and since when, for `newsbot discord shards`.
discord_shards = Table(
    "discord_shards",
    metadata,
    Column("shard_id", Integer(), primary_key=True, autoincrement=False),
    Column("shard_count", Integer(), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("since", UTCDateTime(), nullable=False),
)

# Slack installations in many workspaces (README "Slack in many workspaces"): slack_sdk's async
# SQLAlchemy stores read and write these tables, which Alembic (migrations/versions/0008_slack_installations.py),
# not create_all at run time, creates. They are slack_sdk's schema written out, so that importing the store
# does not import slack_sdk (tests/store/test_slack_tables.py holds them to slack_sdk's own builders), with
# two differences: token columns are Text, since they hold Fernet ciphertext (a 60-character token encrypts
# to ~180 characters, past slack_sdk's String(200)); and timestamps stay naive UTC, as slack_sdk writes them
# (normalize_datetime_for_db).
SLACK_TOKEN_COLUMNS = {
    "slack_installations": (
        "bot_token",
        "bot_refresh_token",
        "user_token",
        "user_refresh_token",
        "incoming_webhook_url",  # the URL is itself the credential that posts to the channel
    ),
    "slack_bots": ("bot_token", "bot_refresh_token"),
}


def _slack_workspace_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer(), primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
    ]


def _slack_bot_columns() -> list[Column[Any]]:
    return [
        Column("bot_token", Text()),
        Column("bot_id", String(32)),
        Column("bot_user_id", String(32)),
        Column("bot_scopes", String(1000)),
        Column("bot_refresh_token", Text()),
        Column("bot_token_expires_at", DateTime()),
    ]


slack_installations = Table(
    "slack_installations",
    metadata,
    *_slack_workspace_columns(),
    Column("enterprise_url", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    *_slack_bot_columns(),
    Column("user_id", String(32), nullable=False),
    Column("user_token", Text()),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", Text()),
    Column("user_token_expires_at", DateTime()),
    Column("incoming_webhook_url", Text()),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean(), default=False, nullable=False),
    Column("token_type", String(32)),
    Column("installed_at", DateTime(), nullable=False, default=func.now()),
    Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)

slack_bots = Table(
    "slack_bots",
    metadata,
    *_slack_workspace_columns(),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    *_slack_bot_columns(),
    Column("is_enterprise_install", Boolean(), default=False, nullable=False),
    Column("installed_at", DateTime(), nullable=False, default=func.now()),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime(), nullable=False),
)
