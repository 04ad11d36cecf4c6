"""PostgreSQL row-level security: the policy every tenant table carries, written once.

Migrations create it (0018 for the tables that existed then; a later migration that adds a tenant
table calls `enable(op, table)` too) and `hub db verify` reports a tenant table without it. The
policy reads the per-transaction settings that `hub.db` sets for each scoped session.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .db import ALL_TENANTS_SETTING, APP_ROLE, TENANT_SETTING

POLICY = "tenant_isolation"

# Tables whose rows belong to a tenant without a tenant_id of their own: visible when their parent is.
CHILD_TABLES = {"etl_import_chunks": "EXISTS (SELECT 1 FROM etl_imports parent WHERE parent.id = import_id)"}


def tenant_condition(table: str) -> str:
    across = f"current_setting('{ALL_TENANTS_SETTING}', true) = 'on'"
    if table in CHILD_TABLES:
        return f"({across} OR {CHILD_TABLES[table]})"
    # NULLIF: an unset setting reads '' once the session has used it; no tenant then, no rows.
    return f"({across} OR tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::bigint)"


def enable_statements(table: str) -> list[str]:
    condition = tenant_condition(table)
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        # FORCE: the tables' owner is subject to the policy too (only superusers and BYPASSRLS roles are not).
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY} ON {table} USING {condition} WITH CHECK {condition}",
    ]


def disable_statements(table: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {POLICY} ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


def enable(op, table: str) -> None:
    """For a migration that adds a tenant table (PostgreSQL only; SQLite keeps the application's filters)."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in enable_statements(table):
            op.execute(statement)


def disable(op, table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_statements(table):
            op.execute(statement)


def create_app_role(op) -> None:
    """The role the application runs as (see hub.db): it may read and write every table, and cannot
    bypass row-level security. Roles belong to the whole server, so another database may have made it."""
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- made by a concurrent migration of another database on the same server
        END
        $$""")
    op.execute(f"""
        DO $$
        BEGIN
            -- A migrating user that is not a superuser needs membership to step down to the role.
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
               AND NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
                EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
            END IF;
        END
        $$""")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    # Tables and sequences that later migrations create get the same grants.
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE}")


def drop_app_role(op) -> None:
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {APP_ROLE}")
    op.execute(f"""
        DO $$
        BEGIN
            DROP ROLE IF EXISTS {APP_ROLE};
        EXCEPTION WHEN dependent_objects_still_exist THEN
            NULL;  -- another database on this server still grants it something: it stays for that one
        END
        $$""")


def tables_without_policy(conn: Connection, tenant_tables: list[str]) -> list[str]:
    """What `hub db verify` reports: tenant tables lacking RLS, FORCE, or the tenant policy."""
    rows = conn.execute(text(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "       EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = current_schema() "
        "               AND p.tablename = c.relname AND p.policyname = :policy) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r'"), {"policy": POLICY}).all()
    live = {name: (rls and force and policy) for name, rls, force, policy in rows}
    return [table for table in tenant_tables if table in live and not live[table]]


def app_role_problem(conn: Connection) -> str | None:
    row = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"),
                       {"role": APP_ROLE}).first()
    if row is None:
        return f"role {APP_ROLE} does not exist"
    if row[0] or row[1]:
        return f"role {APP_ROLE} can bypass row-level security (superuser or BYPASSRLS)"
    return None


def tenant_tables(metadata) -> list[str]:
    return [t.name for t in metadata.sorted_tables if "tenant_id" in t.c or t.name in CHILD_TABLES]
