"""tenants.locale: the locale a tenant's inputs are read in when they name none.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-05 13:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('locale')
