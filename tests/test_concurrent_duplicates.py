"""Fifty copies of one request at once, against a real threaded server on PostgreSQL: every copy is
answered like the first (same import or receipt id), none with a 5xx, and the work happens once."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from hub import create_app

from hub.models import EtlImport, MetricsDaily, WebhookReceipt
from hub.tenants import set_secret, tenant_by_slug
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import observer, work

COPIES = 50
ROW = {"day": "2025-03-01", "episode_id": "ep-1", "source": "dup", "downloads": "7"}


@pytest.fixture
def server(postgres_url, redis_url, hub_env):
    hub_env(postgres_url, redis_url)
    app = create_app({"database_url": postgres_url, "redis_url": redis_url})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


def at_once(send) -> list[requests.Response]:
    """Each thread waits at a barrier so the copies really overlap."""
    barrier = threading.Barrier(COPIES)

    def one(_):
        with requests.Session() as http:
            barrier.wait()
            return send(http)

    with ThreadPoolExecutor(COPIES) as pool:
        return list(pool.map(one, range(COPIES)))


def count(url: str, model, *where) -> int:
    session = observer(url)
    try:
        return session.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        session.close()


def assert_one_answer(responses, key: str, expected_codes=(202,)) -> str:
    codes = sorted(r.status_code for r in responses)
    assert all(code in expected_codes for code in codes), f"answers: {codes}; bodies: " + \
        "; ".join(r.text[:200] for r in responses if r.status_code not in expected_codes)
    ids = {r.json()[key] for r in responses}
    assert len(ids) == 1, f"{len(ids)} different {key}s: {ids}"
    return ids.pop()


def assert_one_effect(url: str, redis_url: str, import_id: str) -> None:
    assert count(url, EtlImport) == 1
    work(redis_url)
    session = observer(url)
    try:
        imp = session.get(EtlImport, import_id)
        assert (imp.status, imp.rows_inserted, imp.rows_total) == ("completed", 1, 1)
        assert session.scalar(select(func.count()).select_from(MetricsDaily)) == 1
    finally:
        session.close()


def test_fifty_copies_of_one_sheet_push(server, postgres_url, redis_url):
    tenant = make_tenant(postgres_url)
    body = json.dumps({"push_id": "push-dup-1", "spreadsheet_id": "sheet-1", "sheet": "metrics_daily",
                       "header": list(ROW), "rows": [{"row_number": 2, "values": list(ROW.values())}]})
    timestamp = str(int(time.time()))
    digest = hmac.new(tenant["secrets"]["sheets"].encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Timestamp": timestamp,
               "X-Hub-Signature-256": f"sha256={digest}"}
    responses = at_once(lambda http: http.post(f"{server}/webhooks/sheets/{tenant['slug']}", data=body,
                                               headers=headers, timeout=60))
    import_id = assert_one_answer(responses, "import_id")
    assert sum(1 for r in responses if r.json()["replayed"] is False) == 1
    assert_one_effect(postgres_url, redis_url, import_id)


def test_fifty_copies_of_one_zap(server, postgres_url, redis_url):
    tenant = make_tenant(postgres_url)
    headers = {"Authorization": f"Bearer {tenant['secrets']['zapier']}", "Idempotency-Key": "zap-dup-1"}
    responses = at_once(lambda http: http.post(f"{server}/webhooks/zapier/{tenant['slug']}/metrics_daily",
                                               json=ROW, headers=headers, timeout=60))
    assert_one_effect(postgres_url, redis_url, assert_one_answer(responses, "import_id"))


def test_fifty_copies_of_one_upload(server, postgres_url, redis_url):
    tenant = make_tenant(postgres_url)
    csv = ",".join(ROW) + "\n" + ",".join(ROW.values()) + "\n"
    headers = {"Authorization": f"Bearer {tenant['secrets']['api']}", "Idempotency-Key": "upload-dup-1"}
    responses = at_once(lambda http: http.post(f"{server}/api/v1/etl/upload", data={"table": "metrics_daily"},
                                               files={"file": ("m.csv", csv.encode())}, headers=headers, timeout=60))
    assert_one_effect(postgres_url, redis_url, assert_one_answer(responses, "import_id"))


def test_fifty_copies_of_one_shopify_webhook(server, postgres_url, redis_url):
    tenant = make_tenant(postgres_url)
    session = observer(postgres_url)
    set_secret(session, tenant_by_slug(session, tenant["slug"]), "shopify", "shpss_dup", SECRET_KEY)
    session.commit()
    session.close()
    # Shopify's documented order (see tests/test_shopify_connector.py for its source).
    body = (Path(__file__).parent / "fixtures" / "shopify" / "order.json").read_bytes()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Event-Id": "ev-dup-1", "X-Shopify-Webhook-Id": "wh-dup-1",
               "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(b"shpss_dup", body, hashlib.sha256).digest()).decode()}
    responses = at_once(lambda http: http.post(f"{server}/webhooks/shopify/{tenant['slug']}", data=body,
                                               headers=headers, timeout=60))
    receipt_id = assert_one_answer(responses, "receipt_id", expected_codes=(200,))
    assert sum(1 for r in responses if r.json()["replayed"] is False) == 1
    assert count(postgres_url, WebhookReceipt) == 1
    work(redis_url)
    session = observer(postgres_url)
    try:
        assert session.get(WebhookReceipt, receipt_id).status == "processed"
    finally:
        session.close()
