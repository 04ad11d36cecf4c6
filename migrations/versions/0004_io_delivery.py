"""io_bookings.delivered_impressions and delivered_at, for the IO lifecycle.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 23:51:53.020227
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both engines (SQLite >= 3.35 drops columns itself): batch mode would rebuild
# io_bookings on SQLite and lose its expression index ux_io_bookings_active_promo_code.
def upgrade() -> None:
    op.add_column('io_bookings', sa.Column('delivered_impressions', sa.BigInteger(), nullable=True))
    op.add_column('io_bookings', sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('io_bookings', 'delivered_at')
    op.drop_column('io_bookings', 'delivered_impressions')

