"""Received bytes (`etl_import_chunks.data`) are compressed with lz4 rather than PostgreSQL's default
pglz: a webhook's ack waits for its payload's INSERT, and pglz is the slow part of it.

Measured on PostgreSQL 15, a 55 KB sheet push (500 rows): the INSERT took 0.85 ms with pglz and 0.25 ms
with lz4, stored as 12 KB and 16 KB. A 1 MiB chunk of an uploaded CSV: 21-22 ms against 4-5 ms,
stored as 396 KB and 499 KB. Only values written from here on are compressed the new way;
PostgreSQL reads both. A server built without lz4 keeps pglz (a notice, not an error).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 04:00:00.000000
"""
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite stores BLOBs as they are
    # EXECUTE: parsed when run, so a server without the method (or without SET COMPRESSION) is caught here.
    op.execute(f"""
        DO $$
        BEGIN
            EXECUTE 'ALTER TABLE etl_import_chunks ALTER COLUMN data SET COMPRESSION {method}';
        EXCEPTION WHEN feature_not_supported OR syntax_error THEN
            RAISE NOTICE 'etl_import_chunks.data keeps the server''s default compression: %', SQLERRM;
        END
        $$""")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
