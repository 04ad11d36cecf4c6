"""The Google Sheets pull connector remembers a digest of each row it sent on (`sheet_row_digests`),
so a run sends only the rows that changed; a tenant table, walled off by row-level security.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 18:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

from hub import row_security

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sheet_row_digests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("tenants.id", ondelete="CASCADE", name="fk_sheet_row_digests_tenant_id_tenants"),
                  nullable=False),
        sa.Column("spreadsheet_id", sa.String(200), nullable=False),
        sa.Column("tab", sa.String(100), nullable=False),
        sa.Column("row_key", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sheet_row_digests"),
        sa.UniqueConstraint("tenant_id", "spreadsheet_id", "tab", "row_key", name="uq_sheet_row_digests_row"),
    )
    row_security.enable(op, "sheet_row_digests")  # PostgreSQL only; SQLite keeps the application's filters


def downgrade() -> None:
    row_security.disable(op, "sheet_row_digests")
    op.drop_table("sheet_row_digests")
