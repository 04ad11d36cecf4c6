"""Campaign-level attribution: campaign codes and URLs, attribution models and windows (tenant defaults,
campaign overrides), and attribution_credits, the share of each order each IO gets.

Orders already attributed to an IO get their one credit (the whole order), so totals read from credits
stay what they were. Re-chained on merge: other branches add 0019-0022.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 18:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

from hub import row_security

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SETTINGS = (
    ("attribution_model", sa.String(length=20)),
    ("attribution_window_days", sa.Integer()),
    ("attribution_half_life_days", sa.Float()),
)


# Plain ADD/DROP COLUMN (SQLite has both since 3.35), never batch mode: on SQLite a batch copies the
# table and drops the old one, and dropping `tenants` would cascade to every tenant's rows.
def upgrade() -> None:
    for name, type_ in SETTINGS:
        op.add_column("tenants", sa.Column(name, type_, nullable=True))
    op.add_column("campaigns", sa.Column("promo_code", sa.String(length=100), nullable=True))
    op.add_column("campaigns", sa.Column("vanity_url", sa.String(length=500), nullable=True))
    for name, type_ in SETTINGS:
        op.add_column("campaigns", sa.Column(name, type_, nullable=True))
    op.add_column("attribution_events", sa.Column("campaign_id", sa.String(length=128), nullable=True))
    op.create_table(
        "attribution_credits",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("tenant_id", BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE",
                                                    name="fk_attribution_credits_tenant_id_tenants"), nullable=False),
        sa.Column("event_id", BigId, sa.ForeignKey("attribution_events.id", ondelete="CASCADE",
                                                   name="fk_attribution_credits_event_id_attribution_events"),
                  nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("io_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128)),
        sa.Column("episode_id", sa.String(length=128)),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("aired_on", sa.Date()),
        sa.Column("model", sa.String(length=20), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("revenue_cents", sa.BigInteger(), nullable=False),
        sa.Column("whole_conversions", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attribution_credits"),
        sa.UniqueConstraint("event_id", "io_id", name="uq_attribution_credits_event_io"),
    )
    op.create_index("ix_attribution_credits_tenant_io", "attribution_credits", ["tenant_id", "io_id"])
    op.create_index("ix_attribution_credits_tenant_platform_day_episode", "attribution_credits",
                    ["tenant_id", "platform", "day", "episode_id"])
    row_security.enable(op, "attribution_credits")
    # Every order counted for an IO so far counted whole for it; its money only when it was open.
    op.execute("""
        INSERT INTO attribution_credits (tenant_id, event_id, platform, io_id, campaign_id, episode_id, day,
                                         model, share, revenue_cents, whole_conversions, updated_at)
        SELECT tenant_id, id, platform, io_id, NULL, episode_id, day, 'io', 1.0,
               CASE WHEN status = 'open' THEN COALESCE(revenue_cents, 0) ELSE 0 END, 1, updated_at
        FROM attribution_events
        WHERE io_id IS NOT NULL AND day IS NOT NULL AND status IN ('open', 'currency_mismatch')
    """)


def downgrade() -> None:
    row_security.disable(op, "attribution_credits")
    op.drop_index("ix_attribution_credits_tenant_platform_day_episode", table_name="attribution_credits")
    op.drop_index("ix_attribution_credits_tenant_io", table_name="attribution_credits")
    op.drop_table("attribution_credits")
    op.drop_column("attribution_events", "campaign_id")
    for name, _ in reversed(SETTINGS):
        op.drop_column("campaigns", name)
    op.drop_column("campaigns", "vanity_url")
    op.drop_column("campaigns", "promo_code")
    for name, _ in reversed(SETTINGS):
        op.drop_column("tenants", name)
