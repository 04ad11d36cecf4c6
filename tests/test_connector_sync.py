"""Host connectors wired in: settings stored safely, syncs run by RQ's cron through the pipeline, status kept."""
from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import responses
from redis import Redis
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler
from sqlalchemy import text

from connectors.base import ConnectorError
from connectors.transistor import TransistorConnector
from hub.config import load_settings
from hub.db import owner_engine
from connectors.registry import get_connector
from hub.jobs import connectors as connector_jobs
from hub.jobs.connectors import configure, due_connectors, run_sync
from hub.jobs.connectors import SyncError
from hub.models import ConnectorState, EtlImport, MetricsDaily
from hub.tenants import tenant_by_slug
from tests.conftest import SECRET_KEY
from tests.helpers import observer, rows

FIXTURES = Path(__file__).parent / "fixtures" / "hosts"
# Transistor's episodes analytics (developers.transistor.fm, see tests/test_connector_transistor.py).
ANALYTICS = json.loads((FIXTURES / "transistor_episodes_analytics.json").read_text())
ANALYTICS_URL = re.compile(r"https://api\.transistor\.fm/v1/analytics/54321/episodes.*")


def add_transistor(url, slug, every=None):
    session = observer(url)
    configure(session, tenant_by_slug(session, slug), "transistor", {"show_id": "54321", "api_key": "tr-secret-key"},
              every, SECRET_KEY)
    session.commit()
    session.close()


def test_settings_are_checked_and_the_secret_is_not_stored_in_plain(database_url, tenant):
    session = observer(database_url)
    with pytest.raises(ConnectorError, match="show_id"):
        configure(session, tenant_by_slug(session, "acme"), "transistor", {"api_key": "k"}, None, SECRET_KEY)
    session.rollback()
    session.close()
    add_transistor(database_url, "acme", every=60)
    (state,) = rows(database_url, ConnectorState)
    assert state.config == {"show_id": "54321"} and state.interval_minutes == 60
    with owner_engine(database_url).connect() as conn:
        stored = conn.execute(text("SELECT secret_encrypted FROM tenant_secrets WHERE source = 'connector:transistor'")).scalar()
    assert stored and "tr-secret-key" not in stored


def test_the_schedule_runs_a_sync_through_the_pipeline(database_url, redis_url, tenant, hub_env, monkeypatch):
    hub_env(database_url, redis_url)
    add_transistor(database_url, "acme", every=60)
    # The documented analytics body is from May 2024: let the connector's "today" be then.
    real_build = connector_jobs.build
    monkeypatch.setattr(connector_jobs, "build", lambda session, state, key, **options: get_connector(state.connector)(
        real_build(session, state, key).config, today=lambda: date(2024, 5, 10)))
    connection = Redis.from_url(redis_url)
    cron = CronScheduler(connection=connection)
    cron.load_config_from_file("hub.jobs.cron")  # the hub's own schedule, as `python -m hub scheduler` runs it
    assert "sync-due-connectors" in [job.name for job in cron.get_jobs()]
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ANALYTICS_URL, json=ANALYTICS)
        cron.enqueue_jobs()
        SimpleWorker([Queue("hub", connection=connection)], connection=connection).work(burst=True)
        assert wire.calls, "the sync called Transistor"
        assert wire.calls[0].request.headers["x-api-key"] == "tr-secret-key"
    stored = {(r.day, r.episode_id): r.downloads for r in rows(database_url, MetricsDaily) if r.source == "transistor"}
    assert stored[(date(2024, 5, 7), "1000012")] == 91 and stored[(date(2024, 5, 9), "1000011")] == 3
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "idle" and state.last_sync_at is not None and state.cursor.get("last_day")
    assert {i.source for i in rows(database_url, EtlImport)} == {"transistor"}
    # Just synced: not due again until its interval has passed.
    session = observer(database_url)
    assert due_connectors(session) == []
    session.close()


def test_a_failed_sync_keeps_its_error_and_resumes_from_its_cursor(database_url, tenant):
    add_transistor(database_url, "acme")
    settings = load_settings({"HUB_ENV": "test", "HUB_SECRET_KEY": SECRET_KEY, "HUB_DATABASE_URL": database_url})
    waits = []
    client = TransistorConnector({"show_id": "54321", "api_key": "tr-secret-key", "lookback_days": 40},
                                 sleep=waits.append, today=lambda: date(2024, 6, 20))
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ANALYTICS_URL, json=ANALYTICS)  # first 31-day window
        wire.add(responses.GET, ANALYTICS_URL, status=401, json={"errors": [{"title": "Unauthorized"}]})
        with pytest.raises(SyncError, match="after 1 page"):
            run_sync(settings, tenant["id"], "transistor", connector=client)
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "failed" and "Unauthorized" in state.last_error and "tr-secret-key" not in state.last_error
    first_window_end = state.cursor["last_day"]
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ANALYTICS_URL, json=ANALYTICS)
        run_sync(settings, tenant["id"], "transistor", connector=client)
        started = re.search(r"start_date=([0-9-]+)", wire.calls[0].request.url).group(1)
    day, month, year = started.split("-")
    assert date(int(year), int(month), int(day)) == date.fromisoformat(first_window_end) + timedelta(days=1)
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "idle" and state.last_error is None


def test_connectors_api_shows_each_ones_status(client, database_url, tenant):
    add_transistor(database_url, "acme", every=30)
    listed = client.get("/api/v1/connectors", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"}).get_json()
    (state,) = rows(database_url, ConnectorState)
    # Scheduled and never synced: due since it was configured (the scheduler looks every minute).
    assert listed["connectors"] == [{"connector": "transistor", "status": "idle", "every_minutes": 30, "last_sync_at": None,
                                     "next_sync_at": state.updated_at.isoformat(),
                                     "cursor": {}, "last_error": None, "config": {"show_id": "54321"}}]


def test_anchor_export_upload_lands_in_metrics_daily(client, database_url, tenant):
    export = (FIXTURES / "anchor_daily_with_ids.csv").read_bytes()
    response = client.post("/api/v1/etl/upload", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"},
                           data={"table": "metrics_daily", "format": "anchor", "podcast_id": "pod-anchor",
                                 "file": (io.BytesIO(export), "anchor.csv")}, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    stored = [r for r in rows(database_url, MetricsDaily) if r.source == "anchor"]
    assert stored and {r.podcast_id for r in stored} == {"pod-anchor"}
    bad = client.post("/api/v1/etl/upload", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"},
                      data={"table": "metrics_daily", "format": "anchor", "podcast_id": "p",
                            "file": (io.BytesIO((FIXTURES / "anchor_bad_plays.csv").read_bytes()), "bad.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 400 and "row" in bad.get_json()["error"] and "Plays" in bad.get_json()["error"]
