"""`hub_webhook_signer(slug, source)`: what a signed webhook needs before it can answer, in one round
trip: the tenant (id, slug, locale), its encrypted secret for the source and its own quota limits.

A plain function (SECURITY INVOKER): it runs as the application role, under row-level security like
any query. It finds the tenant, sets the transaction's tenant scope the way hub.db does, and only
then reads the secret and the quotas, which the policies show for that tenant alone. The three
queries it replaces cost a sheet push about 2 ms of its ack (three round trips and the ORM's work).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 04:30:00.000000
"""
from alembic import op

from hub.db import ALL_TENANTS_SETTING, TENANT_SETTING

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: hub.tenants.webhook_signer runs the three queries
    op.execute(f"""
        CREATE FUNCTION hub_webhook_signer(p_slug text, p_source text)
        RETURNS TABLE (tenant_id bigint, slug text, locale text, secret_encrypted text, quota_limits json)
        LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp AS $$
        DECLARE
            tenant tenants%ROWTYPE;
        BEGIN
            SELECT * INTO tenant FROM tenants t WHERE t.slug = p_slug;
            IF NOT FOUND THEN
                RETURN;  -- no row, and the transaction's scope stays as it was
            END IF;
            -- For the rest of the transaction, as hub.db scopes a session: this tenant's rows only.
            PERFORM set_config('{TENANT_SETTING}', tenant.id::text, true), set_config('{ALL_TENANTS_SETTING}', 'off', true);
            RETURN QUERY SELECT tenant.id, tenant.slug::text, tenant.locale::text,
                (SELECT s.secret_encrypted::text FROM tenant_secrets s WHERE s.tenant_id = tenant.id AND s.source = p_source),
                (SELECT json_object_agg(q.quota, q."limit") FROM tenant_quotas q WHERE q.tenant_id = tenant.id);
        END
        $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS hub_webhook_signer(text, text)")
