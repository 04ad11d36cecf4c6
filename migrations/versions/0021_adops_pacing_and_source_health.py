"""Ad-ops: an IO remembers its last pacing state (so io.pacing_changed is emitted once per change),
`source_health` remembers whether each source (connector, sheet tab, shop webhooks) was last seen fresh
or stale (so source.stale / source.fresh are emitted once per change), and `row_history` keeps the old
and new values of each change the hub applies to an IO, a deal or a metrics row. Both tables carry the
tenant policy of every table with a tenant_id (hub/row_security.py).

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-05 17:30:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from hub import row_security


revision = '0021'
down_revision = '0019'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# Plain ALTER TABLE on io_bookings (as 0004): batch mode would rebuild it on SQLite and lose its
# expression index ux_io_bookings_active_promo_code.
def upgrade() -> None:
    op.add_column('io_bookings', sa.Column('pacing_state', sa.String(16), nullable=True))
    op.create_table(
        'source_health',
        sa.Column('id', BigId, nullable=False),
        sa.Column('tenant_id', BigId, nullable=False),
        sa.Column('source_key', sa.String(length=300), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cadence_seconds', sa.Integer(), nullable=True),
        sa.Column('cadence_from', sa.String(length=10), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_source_health_tenant_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_source_health')),
        sa.UniqueConstraint('tenant_id', 'source_key', name='uq_source_health_tenant_source_key'),
    )
    op.create_table(
        'row_history',
        sa.Column('id', BigId, nullable=False),
        sa.Column('tenant_id', BigId, nullable=False),
        sa.Column('table_name', sa.String(length=64), nullable=False),
        sa.Column('row_key', sa.String(length=400), nullable=False),
        sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('import_id', sa.String(length=32), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_row_history_tenant_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_row_history')),
    )
    op.create_index('ix_row_history_tenant_table_row', 'row_history',
                    ['tenant_id', 'table_name', 'row_key', 'changed_at'])
    op.create_index('ix_row_history_changed_at', 'row_history', ['changed_at'])
    for table in ('source_health', 'row_history'):
        row_security.enable(op, table)


def downgrade() -> None:
    for table in ('source_health', 'row_history'):
        row_security.disable(op, table)
    op.drop_index('ix_row_history_changed_at', table_name='row_history')
    op.drop_index('ix_row_history_tenant_table_row', table_name='row_history')
    op.drop_table('row_history')
    op.drop_table('source_health')
    op.drop_column('io_bookings', 'pacing_state')
