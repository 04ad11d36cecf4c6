"""connector_states.config and interval_minutes: what a host connector syncs, and how often.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 23:58:37.487295
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('connector_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('interval_minutes', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('connector_states', schema=None) as batch_op:
        batch_op.drop_column('interval_minutes')
        batch_op.drop_column('config')

