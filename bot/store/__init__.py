"""The archive: SQLAlchemy tables, queries and migrations."""
