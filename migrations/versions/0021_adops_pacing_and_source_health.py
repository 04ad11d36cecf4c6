"""Ad-ops: an IO remembers its last pacing state (so io.pacing_changed is emitted once per change), and
`source_health` remembers whether each source (connector, sheet tab, shop webhooks) was last seen fresh
or stale (so source.stale / source.fresh are emitted once per change).

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-05 17:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0017'
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

def downgrade() -> None:
    op.drop_table('source_health')
    op.drop_column('io_bookings', 'pacing_state')
