"""Zapier both ways: catch hooks into the pipeline, and REST-hook subscriptions delivered from the outbox."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from hub import create_app
from hub.config import load_settings

from hub.events import emit
from hub.hooks.target_guard import TargetRefused, check_target
from hub.jobs.reconcile import reconcile_deliveries
from hub.models import Event, HookDelivery, HookSubscription, IoBooking, MetricsDaily
from tests.conftest import make_tenant
from tests.helpers import observer, rows, work


def zap(client, tenant, stream="metrics_daily", token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token or tenant['secrets']['zapier']}", **kwargs.pop("headers", {})}
    return client.post(f"/webhooks/zapier/{tenant['slug']}/{stream}", headers=headers, **kwargs)


# --- in: catch hooks ---------------------------------------------------------------------------

def test_a_json_object_is_one_row(client, database_url, tenant):
    response = zap(client, tenant, json={"day": "2025-01-06", "episode_id": "007", "source": "zapier", "downloads": "1,204"})
    assert response.status_code == 202
    assert response.get_json()["status"] == "completed"
    (row,) = rows(database_url, MetricsDaily)
    assert (row.episode_id, row.downloads, row.source) == ("007", 1204, "zapier")


def test_a_json_array_is_one_row_each(client, database_url, tenant):
    body = [{"day": f"2025-01-0{d}", "episode_id": "e1", "source": "zapier", "downloads": d} for d in (1, 2, 3)]
    assert zap(client, tenant, json=body).status_code == 202
    assert [r.downloads for r in rows(database_url, MetricsDaily, MetricsDaily.day)] == [1, 2, 3]


def test_form_encoded_fields_are_one_row(client, database_url, tenant):
    response = zap(client, tenant, stream="io_bookings",
                   data={"io_id": "IO-9", "flight_start": "2025-02-01", "flight_end": "2025-02-28", "status": "scheduled"})
    assert response.status_code == 202
    (io,) = rows(database_url, IoBooking)
    assert (io.io_id, io.status) == ("IO-9", "scheduled")


def test_nested_and_flattened_keys_are_understood(client, database_url, tenant):
    nested = {"row": {"day": "2025-01-06", "episode_id": "e1"}, "source": "zapier", "stats__downloads": "7"}
    assert zap(client, tenant, json=nested).status_code == 202
    (row,) = rows(database_url, MetricsDaily)
    assert (row.episode_id, row.downloads) == ("e1", 7)


def test_refused_rows_are_reported_on_the_import(client, tenant):
    accepted = zap(client, tenant, json=[{"day": "2025-01-06", "episode_id": "e1", "source": "z", "downloads": "-1"}]).get_json()
    status = client.get(accepted["status_url"], headers={"Authorization": f"Bearer {tenant['secrets']['api']}"}).get_json()
    assert status["row_errors"][0]["message"] == "row 1, downloads: expected a whole number >= 0, found -1"


def test_zapier_auth(client, database_url, tenant):
    body = {"day": "2025-01-06", "episode_id": "e1", "source": "z"}
    assert client.post("/webhooks/zapier/acme/metrics_daily", json=body).status_code == 401
    assert zap(client, tenant, token="wrong", json=body).status_code == 401
    assert zap(client, tenant, token=tenant["secrets"]["api"], json=body).status_code == 401, "the API token is not the zapier token"
    other = make_tenant(database_url, "globex")
    assert zap(client, tenant, token=other["secrets"]["zapier"], json=body).status_code == 401
    ok = client.post("/webhooks/zapier/acme/metrics_daily", json=body, headers={"X-Hub-Token": tenant["secrets"]["zapier"]})
    assert ok.status_code == 202
    assert zap(client, tenant, stream="sponsors", json=body).status_code == 404


def test_bad_bodies_say_why(client, tenant):
    assert "not valid JSON" in zap(client, tenant, data="{nope", headers={"Content-Type": "application/json"}).get_json()["error"]
    assert "expected a JSON object" in zap(client, tenant, json=[1, 2]).get_json()["error"]


def test_idempotency_key_makes_a_retried_zap_a_no_op(client, database_url, tenant):
    body = {"day": "2025-01-06", "episode_id": "e1", "source": "z", "downloads": 1}
    first = zap(client, tenant, json=body, headers={"Idempotency-Key": "zap-run-1"}).get_json()
    body["downloads"] = 999
    second = zap(client, tenant, json=body, headers={"Idempotency-Key": "zap-run-1"}).get_json()
    assert first["import_id"] == second["import_id"]
    assert [r.downloads for r in rows(database_url, MetricsDaily)] == [1]


# --- out: the outbox and REST hooks ----------------------------------------------------------

def test_an_event_exists_exactly_when_its_change_committed(database_url, tenant):
    session = observer(database_url)
    emit(session, tenant["id"], "etl.error", {"n": 1})
    session.rollback()
    assert rows(database_url, Event) == []
    emit(session, tenant["id"], "etl.error", {"n": 2})
    session.commit()
    session.close()
    assert [e.payload for e in rows(database_url, Event)] == [{"n": 2}]
    with pytest.raises(ValueError, match="event name: expected one of"):
        emit(observer(database_url), tenant["id"], "io.exploded", {})


def api(tenant):
    return {"Authorization": f"Bearer {tenant['secrets']['api']}"}


def test_subscribe_list_sample_unsubscribe(client, tenant):
    literal = client.post("/api/v1/hooks", json={"target_url": "https://93.184.215.14/hook", "event": "etl.import_completed"},
                          headers=api(tenant))
    assert literal.status_code == 201
    hook_id = literal.get_json()["id"]
    listed = client.get("/api/v1/hooks", headers=api(tenant)).get_json()["hooks"]
    assert {"id": hook_id, "event": "etl.import_completed", "target_url": "https://93.184.215.14/hook"}.items() <= listed[-1].items()
    sample = client.get("/api/v1/hooks/sample/etl.import_completed", headers=api(tenant)).get_json()
    assert isinstance(sample, list) and sample[0]["event"] == "etl.import_completed" and "inserted" in sample[0]["data"]
    assert client.delete(f"/api/v1/hooks/{hook_id}", headers=api(tenant)).status_code == 200
    assert client.get("/api/v1/hooks", headers=api(tenant)).get_json()["hooks"][-1]["active"] is False
    bad = client.post("/api/v1/hooks", json={"target_url": "https://93.184.215.14/", "event": "nope"}, headers=api(tenant))
    assert bad.status_code == 422 and "event: expected one of" in bad.get_json()["error"]
    assert client.post("/api/v1/hooks", json={"target_url": "https://93.184.215.14/", "event": "etl.error"}).status_code == 401


def test_other_tenants_hooks_are_invisible(client, database_url, tenant):
    hook_id = client.post("/api/v1/hooks", json={"target_url": "https://93.184.215.14/h", "event": "etl.error"},
                          headers=api(tenant)).get_json()["id"]
    other = make_tenant(database_url, "globex")
    assert client.get("/api/v1/hooks", headers=api(other)).get_json()["hooks"] == []
    assert client.delete(f"/api/v1/hooks/{hook_id}", headers=api(other)).status_code == 404


@pytest.mark.parametrize("url, reason", [
    ("http://93.184.215.14/h", "expected https://"),
    ("https://127.0.0.1/h", "private, loopback"),
    ("https://10.1.2.3/h", "private, loopback"),
    ("https://192.168.0.10/h", "private, loopback"),
    ("https://169.254.169.254/latest/meta-data", "private, loopback"),   # cloud metadata
    ("https://[::1]/h", "private, loopback"),
    ("https://[::ffff:10.0.0.1]/h", "private, loopback"),
    ("ftp://93.184.215.14/h", "expected an https:// URL"),
    ("https://user:pw@93.184.215.14/h", "credentials in the URL"),
])
def test_target_guard_refuses_what_the_hub_must_not_call(url, reason):
    with pytest.raises(TargetRefused, match=reason):
        check_target(url, allow_loopback=False)


def test_target_guard_allows_public_https_and_loopback_only_when_asked():
    assert check_target("https://93.184.215.14/h") == "https://93.184.215.14/h"
    assert check_target("http://127.0.0.1:9/h", allow_loopback=True) == "http://127.0.0.1:9/h"


class Receiver:
    """A real local HTTP server that answers from a script and records what it was sent."""

    def __init__(self, answers):
        self.answers, self.requests = list(answers), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()



def settle_deliveries(redis_url: str, rounds: int = 10) -> None:
    """Work the queue, then let the reconciler enqueue the retries that are due, until none is."""
    for _ in range(rounds):
        work(redis_url)
        if not reconcile_deliveries(load_settings()):
            return
    raise AssertionError(f"deliveries still due after {rounds} rounds")


def test_delivery_retries_on_5xx_and_signs_each_attempt(database_url, redis_url, tenant, hub_env):
    receiver = Receiver([503, 502, 200])
    try:
        hub_env(database_url, redis_url, HUB_HOOK_RETRY_INTERVALS="0,0,0")
        client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
        assert client.post("/api/v1/hooks", json={"target_url": receiver.url, "event": "etl.import_completed"},
                           headers=api(tenant)).status_code == 201
        accepted = zap(client, tenant, json={"day": "2025-01-06", "episode_id": "e1", "source": "z"}).get_json()
        work(redis_url)  # import -> dispatch -> delivery (503)
        assert len(receiver.requests) == 1, "a retry waits for the reconciler, not for RQ's scheduler"
        settle_deliveries(redis_url)  # 502, then 200
    finally:
        receiver.close()
    assert len(receiver.requests) == 3
    headers, body = receiver.requests[-1]
    payload = json.loads(body)
    assert payload["event"] == "etl.import_completed" and payload["data"]["import_id"] == accepted["import_id"]
    assert headers["X-Hub-Event"] == "etl.import_completed" and headers["X-Hub-Delivery"] == payload["id"]
    expected = hmac.new(tenant["secrets"]["hooks"].encode(), headers["X-Hub-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    (delivery,) = rows(database_url, HookDelivery)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert FailedJobRegistry("hub", connection=Redis.from_url(redis_url)).get_job_ids() == []


def test_delivery_that_keeps_failing_is_recorded_failed(database_url, redis_url, tenant, hub_env):
    receiver = Receiver([500] * 10)
    try:
        hub_env(database_url, redis_url, HUB_HOOK_RETRY_INTERVALS="0")
        client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
        client.post("/api/v1/hooks", json={"target_url": receiver.url, "event": "etl.import_completed"}, headers=api(tenant))
        zap(client, tenant, json={"day": "2025-01-06", "episode_id": "e1", "source": "z"})
        settle_deliveries(redis_url)
    finally:
        receiver.close()
    (delivery,) = rows(database_url, HookDelivery)
    assert (delivery.status, delivery.attempts, delivery.last_error, delivery.next_attempt_at) == (
        "failed", 2, "HTTP 500", None)
    # RQ sees it failed too (not a finished job that swallowed the error).
    (job_id,) = FailedJobRegistry("hub", connection=Redis.from_url(redis_url)).get_job_ids()
    job = Job.fetch(job_id, connection=Redis.from_url(redis_url))
    assert job_id == f"deliver-{delivery.id}" and "DeliveryFailed" in job.latest_result().exc_string


def test_410_unsubscribes(database_url, tenant):
    receiver = Receiver([410])
    try:
        client = create_app({"database_url": database_url}).test_client()  # inline jobs
        client.post("/api/v1/hooks", json={"target_url": receiver.url, "event": "etl.import_completed"}, headers=api(tenant))
        zap(client, tenant, json={"day": "2025-01-06", "episode_id": "e1", "source": "z"})
        zap(client, tenant, json={"day": "2025-01-07", "episode_id": "e1", "source": "z"})
    finally:
        receiver.close()
    assert len(receiver.requests) == 1, "nothing is sent after a 410"
    (subscription,) = rows(database_url, HookSubscription)
    assert subscription.unsubscribed_at is not None
    assert [d.status for d in rows(database_url, HookDelivery)] == ["gone"]
