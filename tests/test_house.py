"""The house: one table registry that every list of tables reads, what follows an import run alike from every
path, job ids from one module, fatal connector errors left unretried by RQ. Each test is a bug the
structure used to allow."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import responses
from redis import Redis
from rq import Queue, Retry, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from hub import create_app
from hub.config import FeatureFlags

from hub.ingest.tables import SHEET_TABLES, TABLES
from connectors.registry import get_connector
from hub.jobs import connectors as connector_jobs
from hub.jobs.connectors import SYNC_JOB, configure, sync_connector_job
from hub.jobs.kinds import KINDS
from hub.models import AttributionEvent, Campaign, ConnectorState, Event
from hub.status.monitor import job_kind
from hub.tenants import tenant_by_slug
from tests.conftest import SECRET_KEY
from tests.helpers import observer, rows, upload_csv

ROOT = Path(__file__).resolve().parent.parent
TRANSISTOR_ANALYTICS = re.compile(r"https://api\.transistor\.fm/v1/analytics/54321/episodes.*")


def test_the_apps_script_pushes_exactly_the_registry_s_sheet_tables():
    config = (ROOT / "appscript" / "src" / "config.js").read_text()
    listed = re.search(r"const HUB_TABLES = \[([^\]]*)\]", config).group(1)
    assert tuple(re.findall(r"'([a-z_]+)'", listed)) == SHEET_TABLES
    assert "conversions" in TABLES and "conversions" not in SHEET_TABLES  # orders come from shops and zaps


def test_the_cli_imports_every_table_deals_included(database_url, tenant, tmp_path):
    deals = tmp_path / "deals.csv"
    deals.write_text("campaign_id,name,stage\ncamp-1,Spring push,proposal\n")
    env = dict(os.environ, HUB_DATABASE_URL=database_url)
    done = subprocess.run([sys.executable, "-m", "hub", "import", str(deals), "--tenant", "acme", "--table", "deals"],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["counts"]["inserted"] == 1
    assert [(c.campaign_id, c.stage) for c in rows(database_url, Campaign)] == [("camp-1", "proposal")]


def test_the_status_page_names_every_kind_of_job():
    examples = {"import": ("3f2a",), "write-back": ("3f2a",), "results": (7,), "mirror": (7, "deals"),
                "sync": (7, "buzzsprout"), "receipt": (12,), "delivery": (40,), "dispatch": (), "match": (7,),
                "reattribute": (7,)}
    assert {kind.name for kind in KINDS} == set(examples)
    for kind in KINDS:
        assert job_kind(kind.job_id(*examples[kind.name])) == kind.name
    assert job_kind("something-else-1") == "other"


def test_a_csv_order_and_a_zapped_order_with_the_same_id_are_two_orders(client, database_url, tenant):
    csv = "order_id,occurred_at,revenue,currency\nA-100,2025-03-01T10:00:00Z,40.00,USD\n"
    upload_csv(client, tenant["secrets"]["api"], csv, table="conversions")
    zapped = client.post("/webhooks/zapier/acme/conversions", headers={"Authorization": f"Bearer {tenant['secrets']['zapier']}"},
                         json={"order_id": "A-100", "occurred_at": "2025-03-02T09:00:00Z", "revenue": "15.00", "currency": "USD"})
    assert zapped.status_code == 202, zapped.get_json()
    kept = sorted((e.platform, e.order_id, e.revenue_cents) for e in rows(database_url, AttributionEvent))
    assert kept == [("upload", "A-100", 4000), ("zapier", "A-100", 1500)]


def test_an_io_created_through_the_api_is_announced_at_once(client, database_url, tenant):
    api = {"Authorization": f"Bearer {tenant['secrets']['api']}"}
    hook = client.post("/api/v1/hooks", json={"target_url": "https://93.184.215.14/hook", "event": "io.scheduled"},
                       headers=api)
    assert hook.status_code == 201
    created = client.post("/api/v1/io", headers=api, json={
        "io_id": "io-9", "flight_start": "2025-04-01", "flight_end": "2025-04-30", "status": "scheduled"})
    assert created.status_code == 201, created.get_json()
    (event,) = [e for e in rows(database_url, Event) if e.name == "io.scheduled"]
    # Dispatched by the request itself (as after any import), not left for the next cron tick.
    assert event.dispatched_at is not None


def test_a_switched_off_table_is_refused_on_every_path(database_url, tenant):
    app = create_app({"database_url": database_url, "redis_url": None,
                      "flags": replace(FeatureFlags(), io_bookings=False)})
    client = app.test_client()
    body = "io_id,flight_start,flight_end\nio-1,2025-04-01,2025-04-30\n"
    upload = client.post("/api/v1/etl/upload", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"},
                         data={"table": "io_bookings", "file": (io.BytesIO(body.encode()), "io.csv")},
                         content_type="multipart/form-data")
    zap = client.post("/webhooks/zapier/acme/io_bookings", headers={"Authorization": f"Bearer {tenant['secrets']['zapier']}"},
                      json={"io_id": "io-1", "flight_start": "2025-04-01", "flight_end": "2025-04-30"})
    for response in (upload, zap):
        assert response.status_code == 404 and "ENABLE_IO_BOOKINGS=false" in response.get_json()["error"]


def _worker_runs_sync(redis_url: str, status: int, tenant_id: int) -> tuple[Job, int]:
    """Enqueue the tenant's Transistor sync with RQ retries, as the schedule does, and let a real worker
    (in this process, so the platform is answered at the wire) run it once."""
    connection = Redis.from_url(redis_url)
    queue = Queue("hub", connection=connection)
    job = queue.enqueue(sync_connector_job, tenant_id, "transistor", job_id=SYNC_JOB.job_id(tenant_id, "transistor"),
                        retry=Retry(max=3, interval=[600]))
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, TRANSISTOR_ANALYTICS, status=status, json={"errors": [{"title": "Platform says no"}]})
        SimpleWorker([queue], connection=connection).work(burst=True)
        calls = len(wire.calls)
    job.refresh()
    return job, calls


def test_a_rejected_token_is_not_retried_but_a_platform_outage_is(database_url, redis_url, tenant, hub_env, monkeypatch):
    hub_env(database_url, redis_url, HUB_SECRET_KEY=SECRET_KEY)
    real_build = connector_jobs.build  # the stored settings, with no waiting between the connector's own retries
    monkeypatch.setattr(connector_jobs, "build", lambda session, state, key, **options: get_connector(state.connector)(
        real_build(session, state, key).config, max_retries=1, sleep=lambda seconds: None))
    session = observer(database_url)
    configure(session, tenant_by_slug(session, "acme"), "transistor", {"show_id": "54321", "api_key": "tr-key"}, None,
              SECRET_KEY)
    session.commit()
    session.close()
    connection = Redis.from_url(redis_url)

    refused, calls = _worker_runs_sync(redis_url, 401, tenant["id"])
    assert refused.get_status() == JobStatus.FAILED and calls >= 1
    assert refused.id in FailedJobRegistry("hub", connection=connection).get_job_ids()
    assert refused.id not in ScheduledJobRegistry("hub", connection=connection).get_job_ids()
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "failed" and "Platform says no" in state.last_error
    refused.delete()

    outage, _ = _worker_runs_sync(redis_url, 503, tenant["id"])
    assert outage.get_status() == JobStatus.SCHEDULED and outage.retries_left == 2, "a 503 is worth RQ's retry"
