"""Initial schema: tenants, catalog, io_bookings, metrics_daily, imports, events.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 23:14:17.256322
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

ACTIVE_PROMO = sa.text("status IN ('draft', 'scheduled', 'live') AND promo_code IS NOT NULL")


def upgrade() -> None:
    op.create_table('tenants',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('slug', name=op.f('uq_tenants_slug'))
    )
    op.create_table('ad_units',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ad_unit_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('position', sa.String(length=20), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ad_units_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ad_units')),
    sa.UniqueConstraint('tenant_id', 'ad_unit_id', name='uq_ad_units_tenant_ad_unit')
    )
    op.create_table('attribution_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=128), nullable=False),
    sa.Column('io_id', sa.String(length=128), nullable=True),
    sa.Column('episode_id', sa.String(length=128), nullable=True),
    sa.Column('day', sa.Date(), nullable=True),
    sa.Column('matched_by', sa.String(length=20), nullable=True),
    sa.Column('revenue_cents', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_attribution_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attribution_events')),
    sa.UniqueConstraint('tenant_id', 'platform', 'order_id', name='uq_attribution_events_tenant_platform_order')
    )
    op.create_index('ix_attribution_events_tenant_io', 'attribution_events', ['tenant_id', 'io_id'], unique=False)
    op.create_table('campaigns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.String(length=128), nullable=False),
    sa.Column('sponsor_id', sa.String(length=128), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('budget_cents', sa.BigInteger(), nullable=True),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('stage_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_campaigns_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('tenant_id', 'campaign_id', name='uq_campaigns_tenant_campaign')
    )
    op.create_table('episodes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('episode_id', sa.String(length=128), nullable=False),
    sa.Column('podcast_id', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_episodes_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_episodes')),
    sa.UniqueConstraint('tenant_id', 'episode_id', name='uq_episodes_tenant_episode')
    )
    op.create_table('etl_imports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('input_format', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=True),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('rows_total', sa.BigInteger(), nullable=False),
    sa.Column('rows_inserted', sa.BigInteger(), nullable=False),
    sa.Column('rows_updated', sa.BigInteger(), nullable=False),
    sa.Column('rows_unchanged', sa.BigInteger(), nullable=False),
    sa.Column('rows_refused', sa.BigInteger(), nullable=False),
    sa.Column('rows_done', sa.BigInteger(), nullable=False),
    sa.Column('unknown_columns', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=100), nullable=True),
    sa.Column('context', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('row_outcomes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_etl_imports_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_etl_imports')),
    sa.UniqueConstraint('tenant_id', 'source', 'dedupe_key', name='uq_etl_imports_tenant_source_dedupe')
    )
    op.create_index('ix_etl_imports_status', 'etl_imports', ['status'], unique=False)
    op.create_index('ix_etl_imports_tenant_created', 'etl_imports', ['tenant_id', 'created_at'], unique=False)
    op.create_table('events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    op.create_index('ix_events_name', 'events', ['name'], unique=False)
    op.create_index('ix_events_tenant_created', 'events', ['tenant_id', 'created_at'], unique=False)
    op.create_table('io_bookings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('io_id', sa.String(length=128), nullable=False),
    sa.Column('campaign_id', sa.String(length=128), nullable=True),
    sa.Column('ad_unit_id', sa.String(length=128), nullable=True),
    sa.Column('episode_id', sa.String(length=128), nullable=True),
    sa.Column('podcast_id', sa.String(length=128), nullable=True),
    sa.Column('flight_start', sa.Date(), nullable=False),
    sa.Column('flight_end', sa.Date(), nullable=False),
    sa.Column('booked_impressions', sa.BigInteger(), nullable=True),
    sa.Column('booked_cpm_cents', sa.BigInteger(), nullable=True),
    sa.Column('promo_code', sa.String(length=100), nullable=True),
    sa.Column('vanity_url', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('import_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_io_bookings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_io_bookings')),
    sa.UniqueConstraint('tenant_id', 'io_id', name='uq_io_bookings_tenant_io')
    )
    op.create_table('matches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('advertiser_id', sa.String(length=128), nullable=False),
    sa.Column('podcast_id', sa.String(length=128), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('signals', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_matches_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matches')),
    sa.UniqueConstraint('tenant_id', 'advertiser_id', 'podcast_id', name='uq_matches_tenant_advertiser_podcast')
    )
    op.create_table('metrics_daily',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('episode_id', sa.String(length=128), nullable=False),
    sa.Column('podcast_id', sa.String(length=128), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('downloads', sa.BigInteger(), nullable=True),
    sa.Column('listeners', sa.BigInteger(), nullable=True),
    sa.Column('completion_rate', sa.Float(), nullable=True),
    sa.Column('ctr', sa.Float(), nullable=True),
    sa.Column('conversions', sa.BigInteger(), nullable=True),
    sa.Column('revenue_cents', sa.BigInteger(), nullable=True),
    sa.Column('import_id', sa.String(length=32), nullable=True),
    sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_metrics_daily_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metrics_daily')),
    sa.UniqueConstraint('tenant_id', 'day', 'episode_id', 'source', name='ux_metrics_daily_tenant_day_episode_source')
    )
    op.create_index('ix_metrics_daily_tenant_episode_day', 'metrics_daily', ['tenant_id', 'episode_id', 'day'], unique=False)
    op.create_index('ix_metrics_daily_tenant_podcast_day', 'metrics_daily', ['tenant_id', 'podcast_id', 'day'], unique=False)
    op.create_table('podcasts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('podcast_id', sa.String(length=128), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_podcasts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_podcasts')),
    sa.UniqueConstraint('tenant_id', 'podcast_id', name='uq_podcasts_tenant_podcast')
    )
    op.create_table('sponsors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sponsor_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_sponsors_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sponsors')),
    sa.UniqueConstraint('tenant_id', 'sponsor_id', name='uq_sponsors_tenant_sponsor')
    )
    op.create_table('tenant_secrets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('secret_encrypted', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_secrets_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_secrets')),
    sa.UniqueConstraint('tenant_id', 'source', name='uq_tenant_secrets_tenant_source')
    )
    op.create_index('ix_tenant_secrets_source_hash', 'tenant_secrets', ['source', 'secret_hash'], unique=False)
    op.create_table('etl_import_chunks',
    sa.Column('import_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['etl_imports.id'], name=op.f('fk_etl_import_chunks_import_id_etl_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'seq', name=op.f('pk_etl_import_chunks'))
    )
    op.create_table('etl_row_errors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('import_id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=True),
    sa.Column('column', sa.String(length=128), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['etl_imports.id'], name=op.f('fk_etl_row_errors_import_id_etl_imports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_etl_row_errors_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_etl_row_errors'))
    )
    op.create_index('ix_etl_row_errors_import_row', 'etl_row_errors', ['import_id', 'row_number'], unique=False)

    op.create_index(
        "ux_io_bookings_active_promo_code",
        "io_bookings",
        ["tenant_id", sa.text("lower(promo_code)")],
        unique=True,
        postgresql_where=ACTIVE_PROMO,
        sqlite_where=ACTIVE_PROMO,
    )


def downgrade() -> None:
    op.drop_index("ux_io_bookings_active_promo_code", table_name="io_bookings")
    op.drop_index('ix_etl_row_errors_import_row', table_name='etl_row_errors')
    op.drop_table('etl_row_errors')
    op.drop_table('etl_import_chunks')
    op.drop_index('ix_tenant_secrets_source_hash', table_name='tenant_secrets')
    op.drop_table('tenant_secrets')
    op.drop_table('sponsors')
    op.drop_table('podcasts')
    op.drop_index('ix_metrics_daily_tenant_podcast_day', table_name='metrics_daily')
    op.drop_index('ix_metrics_daily_tenant_episode_day', table_name='metrics_daily')
    op.drop_table('metrics_daily')
    op.drop_table('matches')
    op.drop_table('io_bookings')
    op.drop_index('ix_events_tenant_created', table_name='events')
    op.drop_index('ix_events_name', table_name='events')
    op.drop_table('events')
    op.drop_index('ix_etl_imports_tenant_created', table_name='etl_imports')
    op.drop_index('ix_etl_imports_status', table_name='etl_imports')
    op.drop_table('etl_imports')
    op.drop_table('episodes')
    op.drop_table('campaigns')
    op.drop_index('ix_attribution_events_tenant_io', table_name='attribution_events')
    op.drop_table('attribution_events')
    op.drop_table('ad_units')
    op.drop_table('tenants')
