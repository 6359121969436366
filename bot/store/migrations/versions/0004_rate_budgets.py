"""A shared request budget per bot token, so replicas together stay under a platform's global rate.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the rate_budgets table."""
    op.create_table(
        "rate_budgets",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refreshed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop the rate_budgets table."""
    op.drop_table("rate_budgets")
