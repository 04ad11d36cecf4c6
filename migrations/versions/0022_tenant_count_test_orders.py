"""tenants.count_test_orders: whether a tenant's test orders (Shopify "test": true, Stripe livemode
false) count as conversions, for a trial; off by default, when they are kept with status "test".

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-05 18:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0022'
down_revision = '0020'
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN (SQLite has both): a batch would copy `tenants` and drop the old table.
def upgrade() -> None:
    op.add_column('tenants', sa.Column('count_test_orders', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('tenants', 'count_test_orders')
