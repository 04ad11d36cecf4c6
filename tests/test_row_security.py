"""Tenants walled off in PostgreSQL itself (migration 0018, hub/row_security.py, hub/db.py).

The application connects through the same engine it uses in production and runs as `hub_app`; these
tests open a tenant's transaction the way requests, jobs and commands do (`session_scope(url,
tenant_id=…)`) and run raw SQL, so no application filter helps them.
"""
from __future__ import annotations

import os
import uuid
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from hub import create_app
from hub.config import load_settings
from hub.db import for_tenant, get_engine, owner_engine, session_scope
from hub.jobs.imports import reconcile_imports
from hub.models import Base, EtlImport, MetricsDaily, utcnow
from hub.row_security import tenant_tables
from hub.tenants import webhook_signer
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import import_text, observer, upload_csv

ROOT = Path(__file__).resolve().parent.parent

# Every tenant table that the two tenants below put rows into (the rest are checked empty-or-own too).
FILLED = ("metrics_daily", "io_bookings", "etl_imports", "etl_import_chunks", "etl_row_errors", "events",
          "tenant_secrets", "sheet_values")

METRICS = "day,episode_id,podcast_id,source,downloads\n2026-11-01,{ep},pod-1,sheet,100\n2026-11-02,{ep},pod-1,sheet,not-a-number\n"
IOS = ("io_id,campaign_id,episode_id,podcast_id,flight_start,flight_end,booked_impressions,booked_cpm_cents,status\n"
       "io-{slug},camp-1,ep-1,pod-1,2026-11-01,2026-11-30,1000,2500,scheduled\n")


@pytest.fixture
def two_tenants(postgres_url):
    alpha, beta = make_tenant(postgres_url, "alpha"), make_tenant(postgres_url, "beta")
    for who in (alpha, beta):
        metrics = import_text(postgres_url, who["id"], "metrics_daily", METRICS.format(ep=f"ep-{who['slug']}"))
        assert metrics["counts"]["inserted"] == 1 and metrics["counts"]["refused"] == 1, metrics
        ios = import_text(postgres_url, who["id"], "io_bookings", IOS.format(slug=who["slug"]),
                          context={"spreadsheet_id": f"sheet-{who['slug']}", "sheet": "io_bookings"}, source="sheets")
        assert ios["counts"]["inserted"] == 1, (ios["error"], ios["row_errors"])
    return alpha, beta


def tenant_ids_in(session, table: str) -> set[int]:
    if table == "etl_import_chunks":  # keyed by its import, not by a tenant of its own
        query = "SELECT i.tenant_id FROM etl_import_chunks c JOIN etl_imports i ON i.id = c.import_id"
        own = {row[0] for row in session.execute(text(query))}
        # The chunk rows themselves, without the join: every one must belong to a visible import.
        chunks = session.execute(text("SELECT count(*) FROM etl_import_chunks")).scalar()
        joined = session.execute(text(f"SELECT count(*) FROM ({query}) j")).scalar()
        assert chunks == joined
        return own
    return {row[0] for row in session.execute(text(f"SELECT DISTINCT tenant_id FROM {table}"))}


def test_raw_sql_in_a_tenant_transaction_sees_only_that_tenant(postgres_url, two_tenants):
    alpha, beta = two_tenants
    with session_scope(postgres_url, all_tenants=True) as session:
        for table in FILLED:
            assert tenant_ids_in(session, table) == {alpha["id"], beta["id"]}, f"{table} holds both tenants' rows"
    for me, other in ((alpha, beta), (beta, alpha)):
        with session_scope(postgres_url, tenant_id=me["id"]) as session:
            assert session.execute(text("SELECT current_user")).scalar() == "hub_app"
            for table in tenant_tables(Base.metadata):
                assert tenant_ids_in(session, table) <= {me["id"]}, f"{table} shows {other['slug']}'s rows"
            for table in FILLED:
                assert tenant_ids_in(session, table) == {me["id"]}, table


def test_a_query_that_forgets_its_tenant_filter_still_sees_one_tenant(postgres_url, two_tenants):
    alpha, _beta = two_tenants
    with session_scope(postgres_url, tenant_id=alpha["id"]) as session:
        # No WHERE tenant_id: the mistake the policies are there for.
        episodes = {m.episode_id for m in session.scalars(select(MetricsDaily))}
        imports = session.scalars(select(EtlImport)).all()
    assert episodes == {"ep-alpha"}
    assert imports and {imp.tenant_id for imp in imports} == {alpha["id"]}


def test_a_session_that_never_said_its_tenant_sees_no_rows_and_writes_none(postgres_url, two_tenants):
    alpha, beta = two_tenants
    with session_scope(postgres_url) as session:
        assert session.execute(text("SELECT count(*) FROM metrics_daily")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM tenant_secrets")).scalar() == 0
    with pytest.raises(ProgrammingError, match="row-level security"):
        with session_scope(postgres_url, tenant_id=alpha["id"]) as session:
            # Writing a row for another tenant from alpha's transaction is refused by the policy's CHECK.
            session.execute(text("INSERT INTO events (tenant_id, name, payload, created_at) "
                                 "VALUES (:t, 'etl.completed', '{}', now())"), {"t": beta["id"]})
    with session_scope(postgres_url, tenant_id=alpha["id"]) as session:
        changed = session.execute(text("UPDATE metrics_daily SET downloads = 0")).rowcount
    assert changed == 1  # alpha's one row, not beta's
    with session_scope(postgres_url, tenant_id=beta["id"]) as session:
        assert session.execute(text("SELECT downloads FROM metrics_daily")).scalar() == 100


def test_the_scope_lasts_for_every_transaction_of_the_session_and_never_leaks_through_the_pool(postgres_url,
                                                                                           two_tenants):
    alpha, _beta = two_tenants
    with get_engine(postgres_url).connect() as connection:  # one pooled connection, used twice
        scoped = for_tenant(Session(bind=connection), alpha["id"])
        scoped.execute(text("SELECT 1"))
        scoped.commit()  # a new transaction begins with the same scope
        assert tenant_ids_in(scoped, "metrics_daily") == {alpha["id"]}
        scoped.commit()
        scoped.close()
        after = Session(bind=connection)  # the next unit of work on that connection, unscoped
        assert after.execute(text("SELECT current_user")).scalar() == "hub_app"
        assert after.execute(text("SELECT current_setting('hub.tenant_id', true)")).scalar() in ("", None)
        assert tenant_ids_in(after, "metrics_daily") == set()
        after.close()


def test_the_webhook_signer_function_scopes_the_transaction_before_it_reads_the_secret(postgres_url, two_tenants):
    """Migration 0026: one statement finds the tenant, sets its scope, and only then reads its secret
    and quotas under the policies; the session keeps that scope for its next transactions."""
    _alpha, beta = two_tenants
    with session_scope(postgres_url) as session:  # unscoped, as a webhook's request begins
        assert tenant_ids_in(session, "metrics_daily") == set()
        signer = webhook_signer(session, "beta", "sheets", SECRET_KEY)
        assert (signer.tenant_id, signer.slug, signer.secret) == (beta["id"], "beta", beta["secrets"]["sheets"])
        assert tenant_ids_in(session, "metrics_daily") == {beta["id"]}  # the same transaction
        session.commit()
        assert tenant_ids_in(session, "etl_imports") == {beta["id"]}  # the next one
        assert webhook_signer(session, "nobody", "sheets", SECRET_KEY) is None
        assert tenant_ids_in(session, "etl_imports") == {beta["id"]}  # an unknown slug changes nothing


def test_the_api_of_one_tenant_reads_only_its_rows_through_the_policies(postgres_url, two_tenants, monkeypatch):
    alpha, beta = two_tenants
    client = create_app({"database_url": postgres_url, "redis_url": None}).test_client()
    history = client.get("/api/v1/etl/history", headers={"Authorization": f"Bearer {alpha['secrets']['api']}"})
    assert history.status_code == 200
    assert history.get_json()["imports"] and all(
        imp["filename"] is None or "beta" not in (imp["filename"] or "") for imp in history.get_json()["imports"])
    with session_scope(postgres_url, tenant_id=beta["id"]) as session:
        beta_import = session.scalars(select(EtlImport.id)).first()
    other = client.get(f"/api/v1/etl/status/{beta_import}", headers={"Authorization": f"Bearer {alpha['secrets']['api']}"})
    assert other.status_code == 404


def test_cross_tenant_work_still_sees_every_tenant(postgres_url, redis_url, two_tenants, hub_env):
    """The reconciler finds both tenants' stalled imports; the admin page and /metrics count both."""
    alpha, beta = two_tenants
    hub_env(postgres_url, redis_url)
    session = observer(postgres_url)
    for who in (alpha, beta):
        imp = session.scalars(select(EtlImport).where(EtlImport.tenant_id == who["id"])).first()
        imp.status, imp.updated_at = "queued", utcnow() - timedelta(minutes=10)
    session.commit()
    session.close()
    requeued = reconcile_imports(load_settings(), grace_seconds=60)
    assert len(requeued) == 2

    app = create_app({"database_url": postgres_url, "redis_url": redis_url})
    client = app.test_client()
    status = client.get("/api/v1/status", headers={"Authorization": f"Bearer {os.environ['HUB_ADMIN_TOKEN']}"})
    assert status.status_code == 200
    assert {"alpha", "beta"} <= {row["tenant"] for row in status.get_json()["recent_imports"]}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'hub_imports{status="queued"} 2.0' in metrics or 'status="queued"} 2.0' in metrics


def test_hub_db_verify_reports_a_tenant_table_without_its_policy(postgres_database_factory):
    url = postgres_database_factory()
    env = dict(os.environ, HUB_DATABASE_URL=url)

    def hub(*args):
        return subprocess.run([sys.executable, "-m", "hub", *args], env=env, cwd=ROOT, capture_output=True, text=True)

    assert hub("db", "upgrade").returncode == 0
    assert hub("db", "verify").returncode == 0
    engine = owner_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP POLICY tenant_isolation ON io_bookings"))
        conn.execute(text("ALTER TABLE events NO FORCE ROW LEVEL SECURITY"))
    engine.dispose()
    verify = hub("db", "verify")
    assert verify.returncode == 1
    assert "MISSING: row-level security policy tenant_isolation on io_bookings" in verify.stderr
    assert "MISSING: row-level security policy tenant_isolation on events" in verify.stderr
    assert "metrics_daily" not in verify.stderr


def test_stepping_down_from_0018_removes_the_policies_and_up_again_restores_them(postgres_database_factory):
    from hub.migrate import downgrade, upgrade

    url = postgres_database_factory()
    upgrade(url)
    downgrade(url, "0017")
    engine = owner_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_policies WHERE policyname = 'tenant_isolation'")).scalar() == 0
        assert not conn.execute(text("SELECT bool_or(relrowsecurity) FROM pg_class WHERE relname = 'metrics_daily'")).scalar()
    engine.dispose()
    upgrade(url)
    engine = owner_engine(url)
    with engine.connect() as conn:
        policies = conn.execute(text("SELECT count(*) FROM pg_policies WHERE policyname = 'tenant_isolation'")).scalar()
    engine.dispose()
    assert policies == len(tenant_tables(Base.metadata))


def test_the_documented_production_roles_an_owner_that_migrates_and_a_login_member_of_hub_app(
        postgres_server, postgres_url):
    """README: the owner (no superuser, CREATEROLE) runs `db upgrade`; the app logs in as a plain member
    of hub_app, which can read and write every table and is held to each tenant's rows."""
    run = uuid.uuid4().hex[:8]
    owner, web, database = f"hub_owner_{run}", f"hub_web_{run}", f"hub_prod_{run}"
    base = postgres_url.rsplit("/", 1)[0].split("://", 1)[1].split("@", 1)[1]  # host:port
    with postgres_server.connect() as admin:
        admin.execute(text(f"CREATE ROLE {owner} LOGIN CREATEROLE"))
        admin.execute(text(f'CREATE DATABASE "{database}" OWNER {owner}'))
    owner_url = f"postgresql+psycopg://{owner}@{base}/{database}"
    web_url = f"postgresql+psycopg://{web}@{base}/{database}"
    try:
        env = dict(os.environ, HUB_DATABASE_URL=owner_url)
        upgraded = subprocess.run([sys.executable, "-m", "hub", "db", "upgrade"], env=env, cwd=ROOT,
                                  capture_output=True, text=True)
        assert upgraded.returncode == 0, upgraded.stderr[-2000:]
        verified = subprocess.run([sys.executable, "-m", "hub", "db", "verify"], env=env, cwd=ROOT,
                                  capture_output=True, text=True)
        assert verified.returncode == 0, verified.stderr[-2000:]
        with postgres_server.connect() as admin:
            admin.execute(text(f"CREATE ROLE {web} LOGIN IN ROLE hub_app"))
        alpha, beta = make_tenant(web_url, "alpha"), make_tenant(web_url, "beta")
        for who in (alpha, beta):
            assert import_text(web_url, who["id"], "metrics_daily",
                               METRICS.format(ep=f"ep-{who['slug']}"))["counts"]["inserted"] == 1
        with session_scope(web_url, tenant_id=alpha["id"]) as session:
            assert session.execute(text("SELECT current_user")).scalar() == web  # no step down needed
            assert tenant_ids_in(session, "metrics_daily") == {alpha["id"]}
            with pytest.raises(ProgrammingError, match="must be owner"):
                session.execute(text("ALTER TABLE metrics_daily DISABLE ROW LEVEL SECURITY"))
    finally:
        for url in (web_url, owner_url):
            get_engine(url).dispose()
            owner_engine(url).dispose()
        with postgres_server.connect() as admin:
            admin.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.execute(text(f"DROP ROLE IF EXISTS {web}"))
            admin.execute(text(f"DROP ROLE IF EXISTS {owner}"))
