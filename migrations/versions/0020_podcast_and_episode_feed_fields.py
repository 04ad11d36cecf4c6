"""podcasts and episodes become importable tables (the RSS connector's pages): provenance and
`last_updated` like every imported table, and the fields a podcast feed carries (RSS 2.0, Apple's
iTunes tags, the Podcasting 2.0 namespace).

Revision ID: 0020
Revises: 0021
Create Date: 2026-12-05 17:30:00.000000

(Written beside 0021 on another branch, hence the order of the numbers.)
"""
from alembic import op
import sqlalchemy as sa

revision = '0020'
down_revision = '0021'
branch_labels = None
depends_on = None

NOW = sa.text('CURRENT_TIMESTAMP')


def upgrade() -> None:
    with op.batch_alter_table('podcasts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_url', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('podcast_guid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('author', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column('image_url', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('itunes_type', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('import_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False, server_default=NOW))
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guid', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('duration_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('season_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('episode_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('episode_type', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('audio_url', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('transcript_url', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('chapters_url', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('import_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False, server_default=NOW))


def downgrade() -> None:
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        for name in ('last_updated', 'import_id', 'chapters_url', 'transcript_url', 'audio_url', 'episode_type',
                     'episode_number', 'season_number', 'duration_seconds', 'published_at', 'guid'):
            batch_op.drop_column(name)
    with op.batch_alter_table('podcasts', schema=None) as batch_op:
        for name in ('last_updated', 'import_id', 'itunes_type', 'image_url', 'language', 'author',
                     'podcast_guid', 'feed_url'):
            batch_op.drop_column(name)
