"""etl_row_errors.raw as json, not jsonb, on PostgreSQL: a refused row keeps its columns in the input's
order (jsonb stores keys sorted), so a person reads it back as the row they typed.

Revision ID: 0010
Revises: 0013
Create Date: 2026-12-05 12:50:00.000000
"""
from alembic import op

revision = '0010'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite stores JSON as text already, in the order it was written.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE etl_row_errors ALTER COLUMN raw TYPE json USING raw::json")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE etl_row_errors ALTER COLUMN raw TYPE jsonb USING raw::jsonb")
