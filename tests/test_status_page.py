"""The admin status page, its JSON twin and the probes: who gets in, CSRF, real data, and the Retry button
against a real Redis and a real RQ worker."""
from __future__ import annotations

import html
import re

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.registry import FailedJobRegistry

from hub import create_app
from hub.config import load_settings

from hub.ingest.intake import create_import
from hub.jobs.imports import execute_import
from hub.jobs.kinds import IMPORT
from hub.models import EtlImport
from tests.helpers import import_text, load_import, observer, upload_csv, work

ADMIN_TOKEN = "test-admin-token-0123456789"
CSV = "day,episode_id,source,downloads\n2025-01-06,007,buzzsprout,10\n2025-01-07,007,buzzsprout,20\n"
CSV_WITH_A_BAD_ROW = (
    "day,episode_id,source,downloads,listeners\n"
    "2025-01-06,007,buzzsprout,10,5\n"
    "2025-01-07,007,buzzsprout,20,8\n"
    "2025-01-08,007,buzzsprout,30,31\n"  # listeners > downloads: refused
    "2025-01-09,007,buzzsprout,40,20\n"
)


# --- helpers --------------------------------------------------------------------------------

def csrf_from(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client) -> str:
    """Log in through the form like a person; returns the session's CSRF token for later POSTs."""
    form = client.get("/admin/login")
    assert form.status_code == 200
    response = client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf_from(form.text),
                                                 "next": "/admin"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin"
    page = client.get("/admin")
    assert page.status_code == 200
    return csrf_from(page.text)


def text_of(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


def import_row(page: str, import_id: str) -> list[str]:
    """The cells of an import's row in the recent imports table, as text."""
    row = re.search(rf'<tr data-import-id="{import_id}">(.*?)</tr>', page, re.S)
    assert row, f"import {import_id} is not on the page"
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]



def upload(client, token, body=CSV):
    return upload_csv(client, token, body)



def explode():
    raise RuntimeError("kaboom: not an import")


# --- probes ---------------------------------------------------------------------------------

def test_healthz_and_readyz_answer(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert (ready.status_code, ready.get_json()) == (200, {"status": "ready"})


def test_readyz_is_503_naming_redis_when_redis_is_down(database_url):
    client = create_app({"database_url": database_url, "redis_url": "redis://127.0.0.1:1/0"}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert list(body["down"]) == ["redis"], "the database is up; only Redis is named"
    assert client.get("/healthz").status_code == 200, "liveness does not depend on Redis"


def test_readyz_is_503_naming_the_database_when_it_is_down():
    client = create_app({"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/nothing",
                         "redis_url": None}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert list(response.get_json()["down"]) == ["database"]


# --- who gets in ----------------------------------------------------------------------------

def test_anonymous_callers_are_refused_everywhere(client, database_url, tenant):
    summary = import_text(database_url, tenant["id"], "metrics_daily", CSV)
    import_id = summary["import_id"]

    page = client.get("/admin")
    assert page.status_code == 302 and page.headers["Location"] == "/admin/login?next=/admin"
    detail = client.get(f"/admin/imports/{import_id}")
    assert detail.status_code == 302 and detail.headers["Location"].startswith("/admin/login?next=/admin/imports/")
    assert "metrics_daily" not in detail.text, "nothing of the import leaks into the redirect"

    for path in (f"/admin/jobs/{IMPORT.job_id(import_id)}/retry", f"/admin/imports/{import_id}/retry"):
        refused = client.post(path, data={"csrf_token": "anything"})
        assert refused.status_code == 302 and refused.headers["Location"].startswith("/admin/login")

    api = client.get("/api/v1/status")
    assert api.status_code == 401 and "admin token required" in api.get_json()["error"]
    assert client.get("/api/v1/status", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    # A tenant's own API token is not an admin token.
    assert client.get("/api/v1/status", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"}).status_code == 401
    wrong_basic = client.get("/admin", auth=("admin", "wrong-token"))
    assert wrong_basic.status_code == 302


def test_login_form_sets_a_session_cookie_and_logout_ends_it(client):
    form = client.get("/admin/login")
    bad = client.post("/admin/login", data={"token": "not-the-token", "csrf_token": csrf_from(form.text)})
    assert bad.status_code == 401 and "not the admin token" in bad.text
    assert client.get("/admin").status_code == 302

    form = client.get("/admin/login")
    good = client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf_from(form.text),
                                             "next": "/admin"})
    assert good.status_code == 302 and good.headers["Location"] == "/admin"
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie, "tests run over plain HTTP (HUB_ENV=test)"
    assert ADMIN_TOKEN not in cookie, "the session holds an HMAC of the token, never the token"
    page = client.get("/admin")
    assert page.status_code == 200 and "Hub status" in page.text

    assert client.post("/admin/logout").status_code == 400, "logout without the CSRF token is refused"
    out = client.post("/admin/logout", data={"csrf_token": csrf_from(page.text)})
    assert out.status_code == 302 and out.headers["Location"] == "/admin/login"
    assert client.get("/admin").status_code == 302


def test_login_refuses_a_post_without_csrf_token_and_never_redirects_off_site(client):
    refused = client.post("/admin/login", data={"token": ADMIN_TOKEN})
    assert refused.status_code == 400
    assert client.get("/admin").status_code == 302, "no session came of it"

    form = client.get("/admin/login?next=https://evil.example/admin")
    response = client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf_from(form.text),
                                                 "next": "https://evil.example/admin"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin"
    form = client.get("/admin/login")  # logged in now: the form sends us on
    assert form.status_code == 302


def test_session_cookie_is_secure_outside_development(database_url):
    client = create_app({"database_url": database_url, "redis_url": None, "env": "production"}).test_client()
    form = client.get("/admin/login")
    assert "Secure" in form.headers["Set-Cookie"]


def test_basic_auth_and_bearer_still_work(client, database_url, tenant):
    import_text(database_url, tenant["id"], "metrics_daily", CSV)
    page = client.get("/admin", auth=("admin", ADMIN_TOKEN))
    assert page.status_code == 200 and "metrics_daily" in page.text
    api = client.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert api.status_code == 200 and api.get_json()["imports_by_status"] == {"completed": 1}


def test_posts_without_the_csrf_token_are_refused(client, database_url, tenant, monkeypatch):
    summary = import_text(database_url, tenant["id"], "metrics_daily", CSV)
    session = observer(database_url)
    imp = session.get(EtlImport, summary["import_id"])
    imp.status = "failed"  # so that a retry would do something
    session.commit()
    session.close()
    login(client)
    ran = []
    monkeypatch.setattr("hub.status.views.retry_import", lambda *args: ran.append(args) or "inline")

    missing = client.post(f"/admin/imports/{summary['import_id']}/retry")
    assert missing.status_code == 400 and "CSRF" in missing.text
    wrong = client.post(f"/admin/imports/{summary['import_id']}/retry", data={"csrf_token": "forged"})
    assert wrong.status_code == 400
    # Basic auth does not excuse a POST from the CSRF token: a browser re-sends it by itself.
    basic = client.post(f"/admin/jobs/{IMPORT.job_id(summary['import_id'])}/retry", auth=("admin", ADMIN_TOKEN))
    assert basic.status_code == 400
    assert ran == [] and load_import(database_url, summary["import_id"]).status == "failed"


# --- what the page shows --------------------------------------------------------------------

def test_page_shows_counts_row_errors_events_and_the_database(client, database_url, tenant):
    good = import_text(database_url, tenant["id"], "metrics_daily", CSV)
    mixed = import_text(database_url, tenant["id"], "metrics_daily", CSV_WITH_A_BAD_ROW, source="cli")
    # 06 and 07 get their listeners (updated), 08 is refused, 09 is new.
    assert mixed["counts"] == {"rows": 4, "inserted": 1, "updated": 2, "unchanged": 0, "refused": 1}
    message = mixed["row_errors"][0]["message"]
    assert "listeners" in message

    login(client)
    page = client.get("/admin")
    cells = import_row(page.text, mixed["import_id"])
    # import, tenant, source, table, file/tab, status, rows, inserted, updated, unchanged, refused, row errors, ...
    assert cells[1:12] == ["acme", "cli", "metrics_daily", "", "completed_with_errors", "4", "1", "2", "0", "1", "1"]
    assert import_row(page.text, good["import_id"])[5:11] == ["completed", "2", "2", "0", "0", "0"]
    text = text_of(page)
    assert message in text
    assert "etl.import_completed" in text and "etl.error" in text
    assert "jobs inline (no Redis)" in text
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert dialect in re.search(r'<dd id="database">(.*?)</dd>', page.text, re.S).group(1)
    assert "No connectors configured" in text
    # The chart counts rows written, finished within the last hour or two: 2 inserted, then 1 inserted
    # and 2 updated; the refused row changed nothing.
    bars = [int(n) for n in re.findall(r'<rect class="bar"[^>]*data-rows="(\d+)"', page.text)]
    assert len(bars) == 24 and sum(bars) == 5 and bars[-1] > 0

    detail = client.get(f"/admin/imports/{mixed['import_id']}")
    assert detail.status_code == 200
    detail_text = text_of(detail)
    assert message in detail_text
    # The refused row's raw values are shown as the row was, in the input's column order.
    assert ('day: "2025-01-08" , episode_id: "007" , source: "buzzsprout" , downloads: "30" , listeners: "31"'
            in " ".join(detail_text.split()))
    assert "4 rows: 1 inserted, 2 updated, 0 unchanged, 1 refused" in " ".join(detail_text.split())
    assert client.get("/admin/imports/no-such-import").status_code == 404


def test_json_status_carries_the_same_data(client, database_url, tenant):
    mixed = import_text(database_url, tenant["id"], "metrics_daily", CSV_WITH_A_BAD_ROW)
    data = client.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()
    assert data["jobs"]["mode"] == "inline" and data["queue"] is None
    assert data["database"]["dialect"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert data["imports_by_status"] == {"completed_with_errors": 1}
    [recent] = data["recent_imports"]
    assert (recent["import_id"], recent["tenant"], recent["inserted"], recent["refused"], recent["row_errors"]) == (
        mixed["import_id"], "acme", 3, 1, 1)
    assert data["recent_row_errors"][0]["message"] == mixed["row_errors"][0]["message"]
    assert sorted(e["name"] for e in data["recent_events"]) == ["etl.error", "etl.import_completed"]
    [acme] = data["tenants"]
    assert acme["rows"] == {"inserted": 3, "updated": 0, "unchanged": 0, "refused": 1}
    assert acme["imports"] == {"completed_with_errors": 1}
    assert sum(p["rows"] for p in data["rows_per_hour"]) == 3 and len(data["rows_per_hour"]) == 24  # not the refused one
    assert data["connectors"] == []
    assert data["webhook_deliveries"] == {"subscriptions": 0, "by_status": {}, "recent": [], "failed": [],
                                          "failed_by_subscription": []}
    assert data["webhook_receipts"] == {"by_platform": [], "recent_failed": []}


def test_database_url_is_shown_without_its_password(client, database_url):
    login(client)
    page = client.get("/admin")
    shown = html.unescape(re.search(r'<dd id="database">(.*?)</dd>', page.text, re.S).group(1))
    if "@" in database_url and ":" in database_url.split("://", 1)[1].split("@", 1)[0]:
        assert database_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1] not in shown
    from hub.status.monitor import hide_password
    assert hide_password("postgresql+psycopg://hub:s3cret@db:5432/hub") == "postgresql+psycopg://hub:***@db:5432/hub"
    assert hide_password("redis://:pw@redis.internal:6379/0") == "redis://:***@redis.internal:6379/0"


def test_inline_retry_runs_a_failed_import_again(client, database_url, tenant, batch_fault):
    session = observer(database_url)
    imp, _ = create_import(session, tenant_id=tenant["id"], source="test", table_name="metrics_daily",
                           input_format="csv", payload=CSV.encode())
    session.commit()
    session.close()
    batch_fault.fail()
    settings = load_settings().with_overrides({"database_url": database_url, "redis_url": None})
    with pytest.raises(ConnectionError):
        execute_import(settings, imp.id)
    assert load_import(database_url, imp.id).status == "failed"
    batch_fault.heal()

    csrf = login(client)
    page = client.get("/admin")
    assert import_row(page.text, imp.id)[5].startswith("failed")
    assert "ConnectionError: database went away" in text_of(page)
    done = client.post(f"/admin/imports/{imp.id}/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert done.status_code == 200 and f"Import {imp.id} ran again: completed." in done.text
    after = load_import(database_url, imp.id)
    assert (after.status, after.rows_inserted, after.error) == ("completed", 2, None)
    # A completed import is not retried.
    again = client.post(f"/admin/imports/{imp.id}/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert "only failed or stuck imports are retried" in again.text


# --- with Redis and a real worker -----------------------------------------------------------

def test_retry_button_reenqueues_a_failed_import_job(database_url, redis_url, tenant, hub_env, batch_fault):
    hub_env(database_url, redis_url, HUB_JOB_RETRIES="0")
    client = create_app({"database_url": database_url, "redis_url": redis_url, "job_retries": 0}).test_client()
    accepted = upload(client, tenant["secrets"]["api"])
    import_id, job_id = accepted["import_id"], IMPORT.job_id(accepted["import_id"])
    connection = Redis.from_url(redis_url)

    batch_fault.fail()
    work(redis_url)
    batch_fault.heal()
    failed = FailedJobRegistry("hub", connection=connection)
    assert failed.get_job_ids() == [job_id]
    assert load_import(database_url, import_id).status == "failed"

    data = client.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()
    assert data["jobs"]["mode"] == "rq" and data["jobs"]["redis_ok"] is True
    assert data["queue"]["failed"] == 1 and data["queue"]["queued"] == 0
    [job] = data["failed_jobs"]
    assert (job["job_id"], job["import_id"], job["tenant"], job["error"]) == (
        job_id, import_id, "acme", "ConnectionError: database went away")
    assert data["tenants"][0]["jobs"]["failed"] == 1

    csrf = login(client)
    page = client.get("/admin")
    failed_row = re.search(rf'<tr class="failed-job" data-job-id="{job_id}">(.*?)</tr>', page.text, re.S)
    assert failed_row and "ConnectionError: database went away" in failed_row.group(1)
    assert f'id="retry-{job_id}"' in failed_row.group(1)

    retried = client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert retried.status_code == 200 and f"re-enqueued as job {job_id}" in retried.text
    assert failed.get_job_ids() == [], "the old failure is gone from the failed registry"
    assert Queue("hub", connection=connection).job_ids == [job_id], "re-enqueued under its deterministic id"
    assert load_import(database_url, import_id).status == "queued"
    assert "No failed jobs." in retried.text

    work(redis_url)
    done = load_import(database_url, import_id)
    assert (done.status, done.rows_inserted, done.error) == ("completed", 2, None)
    page = client.get("/admin")
    assert import_row(page.text, import_id)[5:8] == ["completed", "2", "2"]
    assert "No failed jobs." in page.text


def test_retry_button_requeues_a_job_that_is_not_an_import(database_url, redis_url, hub_env):
    hub_env(database_url, redis_url)
    connection = Redis.from_url(redis_url)
    queue = Queue("hub", connection=connection)
    queue.enqueue(explode, job_id="custom-job-1")
    work(redis_url)
    failed = FailedJobRegistry("hub", connection=connection)
    assert failed.get_job_ids() == ["custom-job-1"]

    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    csrf = login(client)
    page = client.get("/admin")
    assert "RuntimeError: kaboom: not an import" in text_of(page)
    response = client.post("/admin/jobs/custom-job-1/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Job custom-job-1 requeued." in response.text
    assert failed.get_job_ids() == [] and queue.job_ids == ["custom-job-1"]
    again = client.post("/admin/jobs/custom-job-1/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert "not in the failed jobs any more" in again.text


def test_workers_and_queue_depth_are_shown(database_url, redis_url, tenant, hub_env):
    hub_env(database_url, redis_url)
    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    first = upload(client, tenant["secrets"]["api"])
    upload(client, tenant["secrets"]["api"], CSV.replace("10", "11"))
    connection = Redis.from_url(redis_url)
    worker = Worker([Queue("hub", connection=connection)], connection=connection, name="status-page-test-worker")
    worker.register_birth()
    worker.set_state("idle")
    try:
        data = client.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()
        assert data["queue"]["queued"] == 2
        [shown] = data["workers"]
        assert (shown["name"], shown["state"], shown["current_job"]) == ("status-page-test-worker", "idle", None)
        assert shown["last_heartbeat"] is not None
        assert data["tenants"][0]["jobs"]["queued"] == 2
        login(client)
        page = client.get("/admin")
        assert "status-page-test-worker" in page.text
        assert re.search(r'data-registry="queued">2<', page.text)
        assert first["import_id"] in page.text
    finally:
        worker.register_death()


def test_page_says_when_redis_is_unreachable(database_url, tenant):
    client = create_app({"database_url": database_url, "redis_url": "redis://127.0.0.1:1/0"}).test_client()
    import_text(database_url, tenant["id"], "metrics_daily", CSV)
    login(client)
    page = client.get("/admin")
    assert page.status_code == 200
    assert "Redis unreachable" in page.text
    data = client.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()
    assert data["jobs"]["redis_ok"] is False and data["jobs"]["redis_error"]
    assert data["imports_by_status"] == {"completed": 1}, "the database part still shows"


def add_platform_rows(url: str, tenant_id: int) -> None:
    """A failed and a processed Shopify receipt, a failed Shopify sync, a failed REST-hook delivery."""
    from hub.models import ConnectorState, Event, HookDelivery, HookSubscription, WebhookReceipt

    session = observer(url)
    session.add(Event(id="e" * 32, tenant_id=tenant_id, name="etl.import_completed", payload={"import_id": "x"}))
    subscription = HookSubscription(tenant_id=tenant_id, event="etl.import_completed",
                                    target_url="https://hooks.zapier.com/hooks/catch/123/s3cr3tpath/")
    session.add(subscription)
    session.flush()
    session.add(HookDelivery(tenant_id=tenant_id, subscription_id=subscription.id, event_id="e" * 32,
                             status="failed", attempts=5, last_status_code=502, last_error="HTTP 502 from target"))
    session.add(WebhookReceipt(tenant_id=tenant_id, platform="shopify", topic="orders/create", event_id="ev-1",
                               body=b"{}", status="failed", error="KeyError: 'line_items'"))
    session.add(WebhookReceipt(tenant_id=tenant_id, platform="shopify", topic="orders/create", event_id="ev-2",
                               body=b"{}", status="processed"))
    session.add(ConnectorState(tenant_id=tenant_id, connector="shopify", status="failed", cursor={},
                               last_error="Traceback...\nShopifyError: 401 Unauthorized"))
    session.commit()
    session.close()


def test_connectors_receipts_and_deliveries_are_shown(client, database_url, tenant):
    add_platform_rows(database_url, tenant["id"])
    login(client)
    page = client.get("/admin")
    text = " ".join(text_of(page).split())

    hooks = text.split("Webhook deliveries (REST hooks)", 1)[1].split("Connectors", 1)[0]
    assert "1 active subscription." in hooks
    assert "failed 1" in hooks and "502" in hooks and "HTTP 502 from target" in hooks
    assert "https://hooks.zapier.com/…" in hooks
    assert "s3cr3tpath" not in page.text, "a REST hook's URL path is its secret"

    connectors = text.split("Connectors", 1)[1].split("Platform webhooks received", 1)[0]
    assert "No connectors configured" not in connectors
    assert "acme shopify failed" in connectors and "ShopifyError: 401 Unauthorized" in connectors

    receipts = text.split("Platform webhooks received", 1)[1]
    assert "shopify failed 1" in receipts and "shopify processed 1" in receipts
    assert "orders/create KeyError: 'line_items'" in receipts

    data = client.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()
    assert [(c["tenant"], c["connector"], c["status"]) for c in data["connectors"]] == [("acme", "shopify", "failed")]
    assert data["webhook_deliveries"]["by_status"] == {"failed": 1}
    assert data["webhook_receipts"]["recent_failed"][0]["error"] == "KeyError: 'line_items'"


def test_import_page_warns_of_ignored_columns(client, database_url, tenant):
    summary = import_text(database_url, tenant["id"], "metrics_daily",
                          "day,episode_id,source,downloads,notes\n2025-01-06,007,manual,3,fine\n")
    login(client)
    detail = client.get(f"/admin/imports/{summary['import_id']}")
    assert "column 'notes' is not a column of metrics_daily; its values were ignored" in text_of(detail)


def test_retry_is_not_offered_for_an_input_refused_as_a_whole(client, database_url, tenant):
    summary = import_text(database_url, tenant["id"], "metrics_daily", "day,episode_id,downlaods\n2025-01-06,e,3\n")
    assert summary["status"] == "failed"
    csrf = login(client)
    assert "Retry" not in " ".join(import_row(client.get("/admin").text, summary["import_id"]))
    assert 'id="retry-import"' not in client.get(f"/admin/imports/{summary['import_id']}").text
    refused = client.post(f"/api/v1/etl/imports/{summary['import_id']}/retry",
                          headers={"Authorization": f"Bearer {tenant['secrets']['api']}"})
    assert refused.status_code == 409 and "running it again cannot change that" in refused.get_json()["error"]
    forced = client.post(f"/admin/imports/{summary['import_id']}/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert "running it again cannot change that" in forced.text
