"""hook_deliveries.next_attempt_at: deliveries retry on a long schedule the reconciler honours.

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-05 12:10:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_hook_deliveries_status_next_attempt', ['status', 'next_attempt_at'], unique=False)
    # Deliveries pending before this revision are due now.
    op.execute("UPDATE hook_deliveries SET next_attempt_at = updated_at WHERE status = 'pending'")


def downgrade() -> None:
    with op.batch_alter_table('hook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_hook_deliveries_status_next_attempt')
        batch_op.drop_column('next_attempt_at')
