"""Thread steps in the outbox: a digest's parent message, its Discord thread and each reply are rows of their own.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add deliveries.step, thread_of, waits_for and intent_at (all NULL for the rows already queued)."""
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("step", sa.String(16), nullable=True))
        batch.add_column(sa.Column("thread_of", sa.String(400), nullable=True))
        batch.add_column(sa.Column("waits_for", sa.String(400), nullable=True))
        batch.add_column(sa.Column("intent_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Drop the thread columns."""
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("intent_at")
        batch.drop_column("waits_for")
        batch.drop_column("thread_of")
        batch.drop_column("step")
