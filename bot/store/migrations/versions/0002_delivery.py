"""The delivery outbox and each channel's digest watermark.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the deliveries and digest_watermarks tables."""
    op.create_table(
        "deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("dedupe_key", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("slot_at", UTCDateTime(), nullable=True),
        sa.Column("summary_id", sa.String(80), nullable=True),
        sa.Column("topics", sa.Text(), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("parts_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bodies", sa.Text(), nullable=True),
        sa.Column("message_ids", sa.Text(), nullable=False, server_default=""),
        sa.Column("available_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("dedupe_key", name="uq_deliveries_dedupe_key"),
    )
    op.create_index("ix_deliveries_status_available", "deliveries", ["status", "available_at"])
    op.create_index("ix_deliveries_channel", "deliveries", ["platform", "workspace", "channel"])
    op.create_table(
        "digest_watermarks",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("digested_until", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "channel", name="pk_digest_watermarks"),
    )


def downgrade() -> None:
    """Drop the delivery tables."""
    op.drop_table("digest_watermarks")
    op.drop_index("ix_deliveries_channel", table_name="deliveries")
    op.drop_index("ix_deliveries_status_available", table_name="deliveries")
    op.drop_table("deliveries")
