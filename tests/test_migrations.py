"""Migrations and `hub db verify`, through the real command line, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect, text

from hub.db import owner_engine as get_engine  # the operator inspects the tables, as the owner
from hub.models import Base


def hub(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HUB_DATABASE_URL=url)
    return subprocess.run([sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, input=stdin)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    return request.getfixturevalue("postgres_database_factory")()


def tables(url: str) -> set[str]:
    engine = get_engine(url)
    engine.dispose()
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade_round_trip(empty_url):
    assert hub(empty_url, "db", "upgrade").returncode == 0
    assert tables(empty_url) == set(Base.metadata.tables)
    again = hub(empty_url, "db", "upgrade")
    assert again.returncode == 0, "upgrading twice is safe"

    verify = hub(empty_url, "db", "verify")
    assert verify.returncode == 0, verify.stderr
    assert "schema ok" in verify.stdout and "metrics_daily" in verify.stdout

    assert hub(empty_url, "db", "downgrade", "base").returncode == 0
    assert tables(empty_url) == set()
    assert hub(empty_url, "db", "upgrade").returncode == 0
    assert hub(empty_url, "db", "verify").returncode == 0


def test_each_step_down_and_up_again_keeps_the_schema_whole(empty_url):
    assert hub(empty_url, "db", "upgrade").returncode == 0
    for steps in range(1, 4):
        assert hub(empty_url, "db", "downgrade", f"-{steps}").returncode == 0
        assert hub(empty_url, "db", "upgrade").returncode == 0
        verify = hub(empty_url, "db", "verify")
        assert verify.returncode == 0, f"after -{steps} and back: {verify.stderr}"


def test_verify_names_a_dropped_unique_key(empty_url):
    assert hub(empty_url, "db", "upgrade").returncode == 0
    engine = get_engine(empty_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE metrics_daily DROP CONSTRAINT ux_metrics_daily_tenant_day_episode_source"))
        else:
            # SQLite cannot drop a constraint: rebuild the table without it, as a careless hand would.
            conn.execute(text("DROP TABLE metrics_daily"))
            conn.execute(text("CREATE TABLE metrics_daily (id INTEGER PRIMARY KEY, tenant_id INTEGER, day DATE, "
                              "episode_id TEXT, podcast_id TEXT, source TEXT, downloads INTEGER, listeners INTEGER, "
                              "completion_rate REAL, ctr REAL, conversions INTEGER, revenue_cents INTEGER, "
                              "import_id TEXT, last_updated TIMESTAMP)"))
        conn.execute(text("DROP INDEX ix_events_name"))
    engine.dispose()
    verify = hub(empty_url, "db", "verify")
    assert verify.returncode == 1
    assert ("MISSING: unique key ux_metrics_daily_tenant_day_episode_source on metrics_daily "
            "(tenant_id, day, episode_id, source)") in verify.stderr
    assert "MISSING: index ix_events_name on events" in verify.stderr


def test_verify_before_any_migration_fails(empty_url):
    verify = hub(empty_url, "db", "verify")
    assert verify.returncode == 1
    assert "MISSING: table tenants" in verify.stderr


def test_tenant_cli_issues_secrets_and_stores_them_safely(empty_url):
    assert hub(empty_url, "db", "upgrade").returncode == 0
    created = hub(empty_url, "tenant", "create", "acme", "--name", "Acme Audio")
    assert created.returncode == 0, created.stderr
    out = json.loads(created.stdout)
    assert out["tenant"]["slug"] == "acme" and out["tenant"]["name"] == "Acme Audio"
    assert {"api", "sheets", "zapier"} <= set(out["secrets"])

    assert hub(empty_url, "tenant", "set-secret", "acme", "shopify", "-", stdin="shpss_abc123\n").returncode == 0
    refused = hub(empty_url, "tenant", "set-secret", "acme", "myspace", stdin="x\n")
    assert refused.returncode != 0 and "expected one of" in refused.stderr
    assert "already exists" in hub(empty_url, "tenant", "create", "acme").stderr
    assert "lowercase letters" in hub(empty_url, "tenant", "create", "Bad Slug").stderr

    engine = get_engine(empty_url)
    with engine.connect() as conn:
        stored = {row.source: row for row in conn.execute(text("SELECT * FROM tenant_secrets"))}
    engine.dispose()
    dump = repr(stored)
    for value in (*out["secrets"].values(), "shpss_abc123"):
        assert value not in dump, "no secret is stored in plain text"
    assert stored["api"].secret_hash and not stored["api"].secret_encrypted      # only verified: hashed
    assert stored["shopify"].secret_encrypted and not stored["shopify"].secret_hash  # signed with: encrypted


def test_the_whole_chain_up_and_down_keeps_every_tenants_rows(empty_url):
    """On SQLite a batch migration copies a table and drops the old one: with foreign keys on, dropping
    `tenants` used to cascade to every tenant's rows (0014's step down, and 0022 as first written)."""
    from hub.migrate import downgrade, upgrade

    upgrade(empty_url, "0013")
    engine = get_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 'acme', 'Acme', '2025-01-01')"))
        conn.execute(text(
            "INSERT INTO attribution_events (tenant_id, platform, order_id, io_id, episode_id, day, revenue_cents, "
            "status, created_at, updated_at) VALUES (1, 'shopify', 'o1', 'IO-1', 'ep-1', '2025-01-15', 10, 'open', "
            "'2025-01-15', '2025-01-15')"))
    for step in (lambda: upgrade(empty_url), lambda: downgrade(empty_url, "0013"), lambda: upgrade(empty_url)):
        step()
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM attribution_events")).scalar() == 1
            assert conn.execute(text("SELECT slug FROM tenants")).scalar() == "acme"
    engine.dispose()
