"""Tenants walled off in PostgreSQL itself: row-level security on every tenant table, the
application role that cannot bypass it, and spreadsheets bound to one tenant.

The policy is written once in hub/row_security.py. SQLite gets only the new table.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 17:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

from hub import row_security

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# The tenant tables as they are at this revision (not read from the models, which move on).
TENANT_TABLES = (
    "ad_units", "attribution_events", "campaigns", "connector_states", "episodes", "etl_imports",
    "events", "hook_subscriptions", "io_bookings", "matches", "metrics_daily", "podcasts", "sheet_values",
    "sponsors", "tenant_secrets", "webhook_receipts", "etl_row_errors", "hook_deliveries",
    "etl_import_chunks", "tenant_spreadsheets",
)


def upgrade() -> None:
    op.create_table(
        "tenant_spreadsheets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("tenants.id", ondelete="CASCADE", name="fk_tenant_spreadsheets_tenant_id_tenants"),
                  nullable=False),
        sa.Column("spreadsheet_id", sa.String(200), nullable=False),
        sa.Column("bound_by", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_pushed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_spreadsheets"),
        sa.UniqueConstraint("spreadsheet_id", name="uq_tenant_spreadsheets_spreadsheet_id"),
    )
    op.create_index("ix_tenant_spreadsheets_tenant_id", "tenant_spreadsheets", ["tenant_id"])
    if op.get_bind().dialect.name != "postgresql":
        return
    row_security.create_app_role(op)
    for table in TENANT_TABLES:
        row_security.enable(op, table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            row_security.disable(op, table)
    op.drop_index("ix_tenant_spreadsheets_tenant_id", table_name="tenant_spreadsheets")
    op.drop_table("tenant_spreadsheets")
    if op.get_bind().dialect.name == "postgresql":
        row_security.drop_app_role(op)
