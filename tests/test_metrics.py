"""/metrics (Prometheus text, read from the database and Redis at scrape time) and the structured logs."""
from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue, SimpleWorker, Worker
from sqlalchemy import func, select

from hub import create_app
from hub.db import make_session_factory
from hub.logging_setup import REDACTED, configure_logging, redact
from hub.models import EtlImport
from tests.helpers import import_text, observer
from tests.test_status_page import CSV, CSV_WITH_A_BAD_ROW, upload, work

EXPECTED_FAMILIES = {
    "hub_database_up", "hub_imports", "hub_import_rows", "hub_import_duration_seconds", "hub_events",
    "hub_webhook_deliveries", "hub_webhook_receipts", "hub_connectors", "hub_tenants", "hub_jobs_inline",
    "hub_webhook_requests",
}


def scrape(client) -> dict:
    """{family name: {(sample name, sorted label items): value}} from a real scrape, parsed as Prometheus does."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    families = {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
    return families


def value(families, family, sample=None, **labels) -> float | None:
    return families.get(family, {}).get((sample or family, tuple(sorted(labels.items()))))


def test_metrics_match_the_database(client, database_url, tenant):
    import_text(database_url, tenant["id"], "metrics_daily", CSV)
    import_text(database_url, tenant["id"], "metrics_daily", CSV_WITH_A_BAD_ROW, source="cli")
    import_text(database_url, tenant["id"], "io_bookings", "io_id,flight_start\nIO-1,2025-01-01\n")  # refused whole

    families = scrape(client)
    assert EXPECTED_FAMILIES <= set(families), EXPECTED_FAMILIES - set(families)
    assert value(families, "hub_database_up") == 1
    assert value(families, "hub_jobs_inline") == 1
    assert "hub_redis_up" not in families, "no Redis configured, nothing to report"

    session = observer(database_url)
    try:
        truth = session.execute(select(
            func.sum(EtlImport.rows_inserted), func.sum(EtlImport.rows_updated),
            func.sum(EtlImport.rows_unchanged), func.sum(EtlImport.rows_refused))).one()
        imports = session.scalars(select(EtlImport)).all()
    finally:
        session.close()
    assert tuple(truth) == (3, 2, 0, 1)
    for outcome, expected in zip(("inserted", "updated", "unchanged", "refused"), truth):
        assert value(families, "hub_import_rows", "hub_import_rows_total", outcome=outcome) == expected, outcome

    assert value(families, "hub_imports", status="completed", source="test") == 1
    assert value(families, "hub_imports", status="completed_with_errors", source="cli") == 1
    assert value(families, "hub_imports", status="failed", source="test") == 1
    assert sum(families["hub_imports"].values()) == len(imports) == 3

    # Durations: every import finished just now, each counted once in its source's histogram.
    durations = {}
    for imp in imports:
        durations.setdefault(imp.source, []).append((imp.finished_at - imp.started_at).total_seconds())
    for source, seconds in durations.items():
        assert value(families, "hub_import_duration_seconds", "hub_import_duration_seconds_count",
                     source=source) == len(seconds)
        # Counted by the database: SQLite's date functions keep milliseconds, so each duration may be
        # off by up to 2 ms there (each of its two ends rounded); PostgreSQL keeps microseconds.
        assert value(families, "hub_import_duration_seconds", "hub_import_duration_seconds_sum",
                     source=source) == pytest.approx(sum(seconds), abs=2e-3 * len(seconds))
        assert value(families, "hub_import_duration_seconds", "hub_import_duration_seconds_bucket",
                     source=source, le="+Inf") == len(seconds)

    assert value(families, "hub_events", "hub_events_total", name="etl.import_completed") == 2
    assert value(families, "hub_events", "hub_events_total", name="etl.error") == 2  # the refused row, the refused file
    assert value(families, "hub_tenants") == 1


def test_import_durations_are_a_cumulative_histogram_of_every_finished_import(database_url, tenant):
    """Counted in the database at each scrape, never a sliding window: an import of two days ago still
    counts, so the histogram only grows and rate() over it is right."""
    from datetime import timedelta

    from hub.config import load_settings
    from hub.status.metrics import HubCollector

    import_text(database_url, tenant["id"], "metrics_daily", CSV)
    old = import_text(database_url, tenant["id"], "metrics_daily", CSV.replace("10", "12"))
    session = observer(database_url)
    imp = session.get(EtlImport, old["import_id"])
    imp.finished_at = imp.finished_at - timedelta(days=2)
    imp.started_at = imp.finished_at - timedelta(seconds=90)  # ran 90 s, two days ago
    session.commit()
    session.close()

    settings = load_settings().with_overrides({"database_url": database_url, "redis_url": None})
    [histogram] = [f for f in HubCollector(settings, make_session_factory(database_url)).collect()
                   if f.name == "hub_import_duration_seconds"]
    samples = {(s.name, s.labels.get("le")): s.value for s in histogram.samples}
    assert samples[("hub_import_duration_seconds_count", None)] == 2
    assert samples[("hub_import_duration_seconds_bucket", "60.0")] == 1, "the quick one (well under a minute)"
    assert samples[("hub_import_duration_seconds_bucket", "120.0")] == 2, "and the 90-second one"
    assert samples[("hub_import_duration_seconds_bucket", "+Inf")] == 2
    assert 90 <= samples[("hub_import_duration_seconds_sum", None)] < 100


def test_queue_depths_and_workers_come_from_redis(database_url, redis_url, tenant, hub_env, batch_fault):
    hub_env(database_url, redis_url, HUB_JOB_RETRIES="0")
    client = create_app({"database_url": database_url, "redis_url": redis_url, "job_retries": 0}).test_client()
    upload(client, tenant["secrets"]["api"])
    upload(client, tenant["secrets"]["api"], CSV.replace("10", "11"))
    connection = Redis.from_url(redis_url)
    worker = Worker([Queue("hub", connection=connection)], connection=connection, name="metrics-test-worker")
    worker.register_birth()
    worker.set_state("idle")
    try:
        families = scrape(client)
    finally:
        worker.register_death()
    assert value(families, "hub_redis_up") == 1 and value(families, "hub_jobs_inline") == 0
    assert value(families, "hub_queue_jobs", queue="hub", registry="queued") == 2
    assert value(families, "hub_queue_jobs", queue="hub", registry="failed") == 0
    assert value(families, "hub_workers", queue="hub", state="idle") == 1
    assert value(families, "hub_imports", status="queued", source="upload") == 2

    batch_fault.fail()
    work(redis_url)
    batch_fault.heal()
    families = scrape(client)
    assert value(families, "hub_queue_jobs", queue="hub", registry="queued") == 0
    assert value(families, "hub_queue_jobs", queue="hub", registry="failed") == 2
    assert value(families, "hub_imports", status="failed", source="upload") == 2
    assert ("hub_workers", (("queue", "hub"), ("state", "idle"))) not in families.get("hub_workers", {}), \
        "the burst worker is gone and the registered one is dead"


def test_metrics_still_answer_when_redis_is_down(database_url, tenant):
    import_text(database_url, tenant["id"], "metrics_daily", CSV)
    client = create_app({"database_url": database_url, "redis_url": "redis://127.0.0.1:1/0"}).test_client()
    families = scrape(client)
    assert value(families, "hub_redis_up") == 0
    assert "hub_queue_jobs" not in families
    assert value(families, "hub_import_rows", "hub_import_rows_total", outcome="inserted") == 2


def test_webhook_requests_are_counted_by_source_and_status_code(client, database_url, tenant):
    from hub.sheets.local_push import signed_request

    def count(families, source, code):
        return value(families, "hub_webhook_requests", "hub_webhook_requests_total", source=source, code=code) or 0

    before = scrape(client)
    push = {"push_id": "p-1", "spreadsheet_id": "sheet-1", "sheet": "metrics_daily",
            "header": ["day", "episode_id", "source", "downloads"],
            "rows": [{"row_number": 2, "values": ["2025-01-06", "007", "buzzsprout", "10"]}]}
    body, headers = signed_request(tenant["secrets"]["sheets"], push)
    assert client.post("/webhooks/sheets/acme", data=body, headers=headers).status_code == 202
    bad = dict(headers, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert client.post("/webhooks/sheets/acme", data=body, headers=bad).status_code == 401
    assert client.post("/webhooks/sheets/acme", data=body, headers=bad).status_code == 401
    assert client.post("/webhooks/no-such-source/acme", data=b"{}").status_code == 404
    client.get("/healthz")  # not a webhook: not counted

    after = scrape(client)
    assert count(after, "sheets", "202") - count(before, "sheets", "202") == 1
    assert count(after, "sheets", "401") - count(before, "sheets", "401") == 2
    assert count(after, "unknown", "404") - count(before, "unknown", "404") == 1, "unrouted paths share one label"
    assert not any(dict(labels).get("source") == "no-such-source" for _, labels in after["hub_webhook_requests"])
    total = lambda fams: sum(fams.get("hub_webhook_requests", {}).values())  # noqa: E731
    assert total(after) - total(before) == 4


def test_receipts_connectors_and_deliveries_are_counted(client, database_url, tenant):
    from tests.test_status_page import add_platform_rows

    add_platform_rows(database_url, tenant["id"])
    families = scrape(client)
    assert value(families, "hub_webhook_receipts", platform="shopify", status="failed") == 1
    assert value(families, "hub_webhook_receipts", platform="shopify", status="processed") == 1
    assert value(families, "hub_connectors", connector="shopify", status="failed") == 1
    assert value(families, "hub_webhook_deliveries", status="failed") == 1


def test_metrics_need_no_token_and_show_no_tenant(client, database_url, tenant):
    import_text(database_url, tenant["id"], "metrics_daily", CSV)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "acme" not in response.text and tenant["secrets"]["api"] not in response.text


# --- structured logs ------------------------------------------------------------------------

@pytest.fixture
def json_log():
    """The root logger writing JSON lines into a buffer, as configure_logging() sets it up; restored after."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_logs_are_one_json_object_per_line_with_context(json_log):
    log = logging.getLogger("hub.test")
    log.info("import %s done", "abc", extra={"import_id": "abc", "tenant": "acme"})
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        log.exception("it failed", extra={"job_id": "import-abc"})
    first, second = json_log()
    assert set(first) == {"time", "level", "logger", "message", "import_id", "tenant"}
    assert (first["level"], first["logger"], first["message"], first["import_id"], first["tenant"]) == (
        "INFO", "hub.test", "import abc done", "abc", "acme")
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert second["level"] == "ERROR" and second["job_id"] == "import-abc"
    assert "ValueError: broken" in second["exc"]


def test_secrets_are_masked_in_logs(json_log):
    log = logging.getLogger("hub.test")
    log.warning("refused %s", "Authorization: Bearer abcdef0123456789 X-Hub-Signature-256: sha256=" + "a" * 64,
                extra={"tenant": "acme", "import_id": "password=hunter2"})
    log.info("config", extra={"job_id": {"token": "t0k3n", "other": "fine"}})
    log.info('body {"secret": "s3cr3t", "api_key": "k3y", "rows": 2} url postgresql://hub:pw1234@db/hub')
    lines = json_log()
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in ("abcdef0123456789", "a" * 64, "hunter2", "t0k3n", "s3cr3t", "k3y", "pw1234"):
        assert secret not in text, secret
    assert lines[0]["message"] == f"refused Authorization: Bearer {REDACTED} X-Hub-Signature-256: sha256={REDACTED}"
    assert lines[0]["import_id"] == f"password={REDACTED}"
    assert lines[1]["job_id"] == {"token": REDACTED, "other": "fine"}
    assert '"rows": 2' in lines[2]["message"] and "postgresql://hub:" in lines[2]["message"]
    assert redact("nothing to hide: 42 rows, token count is fine") == "nothing to hide: 42 rows, token count is fine"


def log_inside_a_job():
    logging.getLogger("hub.test.job").info("working", extra={"import_id": "imp-1"})
    return "ok"


def test_logs_inside_an_rq_job_carry_its_id(json_log, redis_url):
    connection = Redis.from_url(redis_url)
    queue = Queue("hub", connection=connection)
    queue.enqueue(log_inside_a_job, job_id="logging-job-1")
    logging.getLogger("hub.test").info("outside any job")
    SimpleWorker([queue], connection=connection).work(burst=True)
    lines = json_log()
    [inside] = [line for line in lines if line["message"] == "working"]
    assert (inside["job_id"], inside["import_id"], inside["logger"]) == ("logging-job-1", "imp-1", "hub.test.job")
    [outside] = [line for line in lines if line["message"] == "outside any job"]
    assert "job_id" not in outside
    assert any(line["logger"].startswith("rq.") for line in lines), "RQ's own lines come out as JSON too"


def test_webhook_counts_add_up_over_several_gunicorn_workers(postgres_url):
    """prometheus_client's multiprocess mode under deploy/gunicorn.conf.py: whichever of the 3 workers
    answers a scrape, it reports what all of them served (the first wave's counter reset on every scrape)."""
    import requests

    from tests.live_server import gunicorn

    with gunicorn(postgres_url, workers=3) as (base, _master):
        for _ in range(30):
            assert requests.post(f"{base}/webhooks/sheets/acme", data=b"{}", timeout=5).status_code == 401
        seen = set()
        for _ in range(12):
            families = {f.name: f for f in text_string_to_metric_families(requests.get(f"{base}/metrics", timeout=5).text)}
            counted = {s.labels["code"]: s.value for s in families["hub_webhook_requests"].samples
                       if s.name == "hub_webhook_requests_total" and s.labels["source"] == "sheets"}
            seen.add(counted.get("401"))
    assert seen == {30.0}, f"every scrape adds up all workers' counts: {seen}"
