"""tenant_quotas: a tenant's own limit for a quota (rows per day, requests per minute per surface);
without a row the setting's default (HUB_QUOTA_*) holds.

Written beside 0018 (row-level security): it is re-chained after 0018 on merge, and tenant_quotas then
needs the same tenant policy as every other table with a tenant_id.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-05 17:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0017'
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


def downgrade() -> None:
    op.drop_table('tenant_quotas')
