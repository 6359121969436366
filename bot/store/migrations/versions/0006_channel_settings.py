"""Per-channel layout (compact cards or the full text) and whether a digest's detail goes to a thread.

Revision ID: 0006_channel_settings
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the channel_settings table."""
    op.create_table(
        "channel_settings",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("layout", sa.String(16), nullable=False),
        sa.Column("threads", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "channel", name="pk_channel_settings"),
    )


def downgrade() -> None:
    """Drop the channel_settings table."""
    op.drop_table("channel_settings")
