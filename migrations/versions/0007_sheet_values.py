"""sheet_values: the value each sheet row last held in a hub-owned column (IO status, deal stage).

Revision ID: 0007
Revises: 0009
Create Date: 2026-12-05 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sheet_values',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('table_name', sa.String(length=64), nullable=False),
        sa.Column('row_key', sa.String(length=300), nullable=False),
        sa.Column('column_name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('origin', sa.String(length=16), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_sheet_values_tenant_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sheet_values')),
        sa.UniqueConstraint('tenant_id', 'table_name', 'row_key', 'column_name',
                            name='uq_sheet_values_tenant_table_row_column'),
    )


def downgrade() -> None:
    op.drop_table('sheet_values')
