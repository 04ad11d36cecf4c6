"""Pull connectors keep their credentials under `connector:<name>`, apart from a platform's webhook
secret of the same name (Shopify's Admin API token is not the app secret that signs its webhooks).

The old Shopify backfill's `shopify_admin` token (a bare token, encrypted with the hub's key, which a
migration cannot read) is left as it is; `python -m hub connector add shopify` stores the new one.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 15:00:00.000000
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

HOSTS = ("buzzsprout", "simplecast", "transistor")


def upgrade() -> None:
    for name in HOSTS:
        op.execute(f"UPDATE tenant_secrets SET source = 'connector:{name}' WHERE source = '{name}'")


def downgrade() -> None:
    op.execute("DELETE FROM tenant_secrets WHERE source = 'connector:shopify'")
    for name in HOSTS:
        op.execute(f"UPDATE tenant_secrets SET source = '{name}' WHERE source = 'connector:{name}'")
