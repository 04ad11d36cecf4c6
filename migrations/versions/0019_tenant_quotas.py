"""tenant_quotas: a tenant's own limit for a quota (rows per day, requests per minute per surface);
without a row the setting's default (HUB_QUOTA_*) holds.

tenant_quotas carries the tenant policy of every table with a tenant_id (hub/row_security.py).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 17:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

from hub import row_security

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tenant_quotas',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quota', sa.String(length=40), nullable=False),
    sa.Column('limit', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_quotas_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_quotas')),
    sa.UniqueConstraint('tenant_id', 'quota', name='uq_tenant_quotas_tenant_quota')
    )
    row_security.enable(op, 'tenant_quotas')


def downgrade() -> None:
    row_security.disable(op, 'tenant_quotas')
    op.drop_table('tenant_quotas')
