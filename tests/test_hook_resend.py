"""Hook deliveries after their retries ran out: listed as failed with their last error, and sent
again (API, CLI, admin button, `rq requeue`) to a real local HTTP server; and the long schedule."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from redis import Redis
from rq.registry import FailedJobRegistry

from hub import create_app
from hub.cli import main as cli_main
from hub.config import HOOK_RETRY_INTERVALS, load_settings

from hub.hooks.delivery import JITTER, retry_delay
from hub.jobs.hooks import execute_delivery
from hub.jobs.reconcile import reconcile_deliveries
from hub.models import HookDelivery, utcnow
from tests.conftest import make_tenant
from tests.helpers import observer, rows, work
from tests.test_status_page import login
from tests.test_zapier_and_hooks import Receiver, api, settle_deliveries, zap


def failed_deliveries(client, tenant, receiver, days=("2025-01-06",)) -> list[dict]:
    """Subscribe the receiver, cause one event per day, and let every delivery use up its retries."""
    assert client.post("/api/v1/hooks", json={"target_url": receiver.url, "event": "etl.import_completed"},
                       headers=api(tenant)).status_code == 201
    for day in days:
        assert zap(client, tenant, json={"day": day, "episode_id": "e1", "source": "z"}).status_code == 202
        # Each import's dispatch runs before the next one is queued.
        settle_deliveries(load_settings().redis_url)
    listed = client.get("/api/v1/hooks/deliveries?status=failed", headers=api(tenant))
    assert listed.status_code == 200
    return listed.get_json()["deliveries"]


@pytest.fixture
def rq_hub(database_url, redis_url, tenant, hub_env):
    hub_env(database_url, redis_url, HUB_HOOK_RETRY_INTERVALS="0")  # two attempts, at once
    return create_app({"database_url": database_url, "redis_url": redis_url}).test_client()


def test_a_failed_delivery_is_listed_then_resent_by_the_api(rq_hub, database_url, redis_url, tenant):
    receiver = Receiver([500, 503])  # both attempts fail; the resend gets 200
    try:
        (failed,) = failed_deliveries(rq_hub, tenant, receiver)
        assert (failed["status"], failed["attempts"], failed["last_error"], failed["last_status_code"]) == (
            "failed", 2, "HTTP 503", 503)
        assert FailedJobRegistry("hub", connection=Redis.from_url(redis_url)).get_job_ids() == [f"deliver-{failed['id']}"]
        assert rq_hub.get("/api/v1/hooks/deliveries?status=delivered", headers=api(tenant)).get_json()["deliveries"] == []

        resent = rq_hub.post(f"/api/v1/hooks/deliveries/{failed['id']}/resend", headers=api(tenant))
        assert resent.status_code == 202 and resent.get_json() == {"resent": [{"id": failed["id"], "job": "queued"}]}
        assert FailedJobRegistry("hub", connection=Redis.from_url(redis_url)).get_job_ids() == []
        work(redis_url)
    finally:
        receiver.close()
    assert len(receiver.requests) == 3
    assert len({headers["X-Hub-Delivery"] for headers, _ in receiver.requests}) == 1, "the same event each time"
    (delivery,) = rows(database_url, HookDelivery)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 3, None)
    again = rq_hub.post(f"/api/v1/hooks/deliveries/{delivery.id}/resend", headers=api(tenant))
    assert again.status_code == 409 and "delivered" in again.get_json()["error"]


def test_all_failed_deliveries_of_a_subscription_are_resent(rq_hub, database_url, redis_url, tenant):
    receiver = Receiver([500] * 4)
    try:
        failed = failed_deliveries(rq_hub, tenant, receiver, days=("2025-01-06", "2025-01-07"))
        assert len(failed) == 2
        (subscription_id,) = {d["subscription_id"] for d in failed}
        resent = rq_hub.post(f"/api/v1/hooks/{subscription_id}/resend", headers=api(tenant))
        assert resent.status_code == 202
        assert sorted(d["id"] for d in resent.get_json()["resent"]) == sorted(d["id"] for d in failed)
        work(redis_url)
    finally:
        receiver.close()
    assert len(receiver.requests) == 6
    assert [d.status for d in rows(database_url, HookDelivery)] == ["delivered", "delivered"]


def test_the_cli_resends_one_delivery_or_a_subscriptions(rq_hub, database_url, redis_url, tenant):
    receiver = Receiver([500] * 4)
    try:
        first, second = failed_deliveries(rq_hub, tenant, receiver, days=("2025-01-06", "2025-01-07"))
        listed = CliRunner().invoke(cli_main, ["hooks", "deliveries", "--status", "failed"])
        assert listed.exit_code == 0 and len(json.loads(listed.output)["deliveries"]) == 2
        one = CliRunner().invoke(cli_main, ["hooks", "resend", str(first["id"])])
        assert one.exit_code == 0, one.output
        assert json.loads(one.output) == {"resent": [{"id": first["id"], "job": "queued"}]}
        work(redis_url)
        assert {d.id: d.status for d in rows(database_url, HookDelivery)} == {first["id"]: "delivered",
                                                                              second["id"]: "failed"}
        rest = CliRunner().invoke(cli_main, ["hooks", "resend", "--subscription", str(second["subscription_id"])])
        assert json.loads(rest.output) == {"resent": [{"id": second["id"], "job": "queued"}]}
        work(redis_url)
    finally:
        receiver.close()
    assert {d.status for d in rows(database_url, HookDelivery)} == {"delivered"}
    refused = CliRunner().invoke(cli_main, ["hooks", "resend", "999"])
    assert refused.exit_code == 1 and "no hook delivery 999" in refused.output


def test_rq_requeue_of_a_failed_delivery_job_sends_it_again(rq_hub, database_url, redis_url, tenant):
    receiver = Receiver([500, 500])
    try:
        (failed,) = failed_deliveries(rq_hub, tenant, receiver)
        # What `rq requeue deliver-<id>` and rq-dashboard's Requeue do.
        FailedJobRegistry("hub", connection=Redis.from_url(redis_url)).requeue(f"deliver-{failed['id']}")
        work(redis_url)
    finally:
        receiver.close()
    assert len(receiver.requests) == 3
    assert [(d.status, d.attempts) for d in rows(database_url, HookDelivery)] == [("delivered", 3)]


def test_the_admin_resend_buttons(rq_hub, database_url, redis_url, tenant):
    receiver = Receiver([500] * 4)
    try:
        first, second = failed_deliveries(rq_hub, tenant, receiver, days=("2025-01-06", "2025-01-07"))
        csrf = login(rq_hub)
        page = rq_hub.get("/admin").text
        assert f'id="resend-delivery-{first["id"]}"' in page and f'id="resend-subscription-{first["subscription_id"]}"' in page
        forged = rq_hub.post(f"/admin/hooks/deliveries/{first['id']}/resend", data={"csrf_token": "forged"})
        assert forged.status_code == 400
        done = rq_hub.post(f"/admin/hooks/deliveries/{first['id']}/resend", data={"csrf_token": csrf},
                           follow_redirects=True)
        assert f"Delivery {first['id']}: 1 delivery(ies) resent" in done.text
        work(redis_url)
        assert f'id="resend-delivery-{first["id"]}"' not in rq_hub.get("/admin").text
        rq_hub.post(f"/admin/hooks/{second['subscription_id']}/resend", data={"csrf_token": csrf})
        work(redis_url)
    finally:
        receiver.close()
    assert len(receiver.requests) == 6
    assert {d.status for d in rows(database_url, HookDelivery)} == {"delivered"}
    assert 'id="failed-deliveries"' not in rq_hub.get("/admin").text


def test_api_refusals(client, database_url, tenant):
    assert client.get("/api/v1/hooks/deliveries?status=lost", headers=api(tenant)).status_code == 400
    assert client.post("/api/v1/hooks/deliveries/1/resend", headers=api(tenant)).status_code == 404
    assert client.post("/api/v1/hooks/1/resend", headers=api(tenant)).status_code == 404
    other = make_tenant(database_url, "other")
    receiver = Receiver([400])  # no retry changes a 400: failed at once
    try:
        failed_deliveries_inline = client.post(
            "/api/v1/hooks", json={"target_url": receiver.url, "event": "etl.import_completed"}, headers=api(other))
        assert failed_deliveries_inline.status_code == 201
        zap(client, other, json={"day": "2025-01-06", "episode_id": "e1", "source": "z"})
    finally:
        receiver.close()
    (delivery,) = rows(database_url, HookDelivery)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "HTTP 400")
    assert client.post(f"/api/v1/hooks/deliveries/{delivery.id}/resend", headers=api(tenant)).status_code == 404, \
        "another tenant's delivery is as absent as none"


def test_the_schedule_spans_about_a_day_with_jitter():
    total = sum(HOOK_RETRY_INTERVALS)
    assert 23 * 3600 <= total <= 25 * 3600 and len(HOOK_RETRY_INTERVALS) + 1 == 10
    waits = [retry_delay(HOOK_RETRY_INTERVALS, 3) for _ in range(200)]
    assert all(600 * (1 - JITTER) <= w <= 600 * (1 + JITTER) for w in waits) and len(set(waits)) > 100
    assert retry_delay(HOOK_RETRY_INTERVALS, len(HOOK_RETRY_INTERVALS) + 1) is None


def test_a_retry_is_not_sent_before_it_is_due(database_url, redis_url, tenant, hub_env):
    hub_env(database_url, redis_url, HUB_HOOK_RETRY_INTERVALS="3600")
    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    receiver = Receiver([502, 200])
    try:
        client.post("/api/v1/hooks", json={"target_url": receiver.url, "event": "etl.import_completed"}, headers=api(tenant))
        zap(client, tenant, json={"day": "2025-01-06", "episode_id": "e1", "source": "z"})
        work(redis_url)
        (delivery,) = rows(database_url, HookDelivery)
        wait = (delivery.next_attempt_at - utcnow()).total_seconds()
        assert delivery.status == "pending" and 3600 * (1 - JITTER) - 5 <= wait <= 3600 * (1 + JITTER)
        assert reconcile_deliveries(load_settings()) == []
        assert execute_delivery(load_settings(), delivery.id) == "pending"  # a stray job sends nothing
        assert len(receiver.requests) == 1

        session = observer(database_url)
        session.get(HookDelivery, delivery.id).next_attempt_at = utcnow() - timedelta(seconds=1)  # an hour on
        session.commit()
        session.close()
        assert reconcile_deliveries(load_settings()) == [delivery.id]
        work(redis_url)
    finally:
        receiver.close()
    assert len(receiver.requests) == 2
    assert [(d.status, d.attempts) for d in rows(database_url, HookDelivery)] == [("delivered", 2)]
