"""Drop etl_imports.job_id: never written. An import's job id is derived from the import's id
(hub/jobs/kinds.py), so there is nothing to store.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 14:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('etl_imports', schema=None) as batch_op:
        batch_op.drop_column('job_id')


def downgrade() -> None:
    with op.batch_alter_table('etl_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.String(length=100), nullable=True))
