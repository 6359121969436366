"""The archive (summaries, sections, topic indexes, full-text search) and channel preferences.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite: an external-content FTS5 table over sections. Porter stemming lets "drone" find "drones";
# rowid = sections.id, whose order is the archive's newest-first order. New sections are indexed in
# bulk by SqlArchive.put_many (an AFTER INSERT trigger made ingest four times slower); deletes and
# updates, rare and possibly cascaded, are kept in step by triggers. columnsize=0: relevance is
# scored outside SQLite (see archive.py), so per-row token counts would only cost ingest time.
_SQLITE_FTS = [
    """CREATE VIRTUAL TABLE sections_fts USING fts5(
        title, text, content='sections', content_rowid='id', columnsize=0,
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER sections_fts_delete AFTER DELETE ON sections BEGIN
        INSERT INTO sections_fts(sections_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
    END""",
    """CREATE TRIGGER sections_fts_update AFTER UPDATE OF title, text ON sections BEGIN
        INSERT INTO sections_fts(sections_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO sections_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
]

# PostgreSQL: a generated tsvector (titles weigh more than text) with a GIN index.
_PG_FTS = [
    """ALTER TABLE sections ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', text), 'B')
    ) STORED""",
    "CREATE INDEX ix_sections_search ON sections USING gin (search)",
]


def _key() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table, index and the full-text index of the dialect."""
    op.create_table(
        "summaries",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("story_key", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("published", UTCDateTime(), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False, server_default=""),
        sa.Column("unknown_tags", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_summaries_published", "summaries", ["published"])
    op.create_index("ix_summaries_ingested_at", "summaries", ["ingested_at"])

    op.create_table(
        "sections",
        sa.Column("id", _key(), primary_key=True, autoincrement=False),
        sa.Column(
            "summary_id", sa.String(80), sa.ForeignKey("summaries.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_sections_summary_id", "sections", ["summary_id"])

    op.create_table(
        "story_topics",
        sa.Column("topic_id", sa.String(128), nullable=False),
        sa.Column("story_key", sa.BigInteger(), nullable=False),
        sa.Column("positions", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("topic_id", "story_key", name="pk_story_topics"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "subscriptions",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("topic_id", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("platform", "workspace", "channel", "topic_id", name="pk_subscriptions"),
    )
    op.create_index("ix_subscriptions_topic_id", "subscriptions", ["topic_id"])

    op.create_table(
        "schedules",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("cron", sa.String(128), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("next_fire_at", UTCDateTime(), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("platform", "workspace", "channel", name="pk_schedules"),
    )
    op.create_index("ix_schedules_next_fire_at", "schedules", ["next_fire_at"])

    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_FTS if dialect == "sqlite" else _PG_FTS if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything revision 0001 created."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS sections_fts")
    for table in ("schedules", "subscriptions", "story_topics", "sections", "summaries"):
        op.drop_table(table)
