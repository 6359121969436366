"""Per-channel rate-limit buckets shared by replicas, and the record of who holds which Discord shard.

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create channel_buckets and discord_shards."""
    op.create_table(
        "channel_buckets",
        sa.Column("budget", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("bucket_limit", sa.Integer(), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("reset_at", UTCDateTime(), nullable=True),
        sa.Column("window_seconds", sa.Float(), nullable=True),
        sa.Column("blocked_until", UTCDateTime(), nullable=True),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("budget", "channel", name="pk_channel_buckets"),
    )
    op.create_index("ix_channel_buckets_used_at", "channel_buckets", ["used_at"])
    op.create_table(
        "discord_shards",
        sa.Column("shard_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("shard_count", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("discord_shards")
    op.drop_index("ix_channel_buckets_used_at", table_name="channel_buckets")
    op.drop_table("channel_buckets")
