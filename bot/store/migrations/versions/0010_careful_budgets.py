"""A shared budget remembers a global 429 for a while, so every replica sends slower after one.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add rate_budgets.careful_until (NULL: no 429 yet, full rate)."""
    with op.batch_alter_table("rate_budgets") as batch:
        batch.add_column(sa.Column("careful_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Drop rate_budgets.careful_until."""
    with op.batch_alter_table("rate_budgets") as batch:
        batch.drop_column("careful_until")
