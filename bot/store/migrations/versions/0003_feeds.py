"""Feeds newsbot polls, and the entry keys it has seen in each.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the feeds and feed_entries tables."""
    op.create_table(
        "feeds",
        sa.Column("id", _key(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("added_url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("site_url", sa.Text(), nullable=True),
        sa.Column("topics", sa.Text(), nullable=False, server_default=""),
        sa.Column("full_text", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=True),
        sa.Column("next_fetch_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_fetch_at", UTCDateTime(), nullable=True),
        sa.Column("last_parsed_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("fail_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("last_announced", UTCDateTime(), nullable=True),
        sa.Column("id_scheme", sa.String(8), nullable=False, server_default="id"),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_feeds_next_fetch_at", "feeds", ["next_fetch_at"])
    op.create_table(
        "feed_entries",
        sa.Column("feed_id", _key(), sa.ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("key_kind", sa.String(8), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("summary_id", sa.String(80), nullable=True),
        sa.Column("content_sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("quiet", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("published", UTCDateTime(), nullable=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("feed_id", "key", name="pk_feed_entries"),
    )
    op.create_index("ix_feed_entries_fingerprint", "feed_entries", ["feed_id", "fingerprint"])
    op.create_index("ix_feed_entries_summary_id", "feed_entries", ["summary_id"])


def downgrade() -> None:
    """Drop the feed tables (stories fetched from feeds stay in the archive)."""
    op.drop_table("feed_entries")
    op.drop_table("feeds")
