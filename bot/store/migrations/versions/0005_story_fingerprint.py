"""A fingerprint of each story's normalised headline, so one story stored under two ids is recognised.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.archive import headline_fingerprint

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    """Add summaries.fingerprint, fill it for the stories already stored, and index it."""
    with op.batch_alter_table("summaries") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(64), nullable=True))
    conn = op.get_bind()
    table = sa.table("summaries", sa.column("id", sa.String()), sa.column("headline", sa.Text()))
    fingerprint = sa.table("summaries", sa.column("id", sa.String()), sa.column("fingerprint", sa.String()))
    rows = conn.execute(sa.select(table.c.id, table.c.headline)).all()
    update = (
        sa.update(fingerprint)
        .where(fingerprint.c.id == sa.bindparam("sid"))
        .values(fingerprint=sa.bindparam("fp"))
    )
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        conn.execute(update, [{"sid": r.id, "fp": headline_fingerprint(r.headline)} for r in chunk])
    op.create_index("ix_summaries_fingerprint", "summaries", ["fingerprint"])


def downgrade() -> None:
    """Drop the fingerprint and its index."""
    op.drop_index("ix_summaries_fingerprint", table_name="summaries")
    with op.batch_alter_table("summaries") as batch:
        batch.drop_column("fingerprint")
