"""Shopify and Wix webhooks end to end: signatures, replays, updates, refunds, cancellations, totals."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from redis import Redis
from rq import Queue
from sqlalchemy import select
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hub import create_app
from hub.cli import main as cli_main

from hub.jobs.reconcile import reconcile_job
from hub.models import AttributionEvent, MetricsDaily, WebhookReceipt, utcnow
from hub.tenants import set_secret, tenant_by_slug
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import import_text, observer, rows, work

FIXTURES = Path(__file__).parent / "fixtures"
SHOPIFY_SECRET = "shpss_test_secret_1234"
# The documented order (tests/fixtures/shopify/order.json, see tests/test_shopify_connector.py for
# its source) was placed 2008-01-10 with code TENOFF; these IOs make it and the Wix ones attributable.
IOS = ("io_id,flight_start,flight_end,episode_id,promo_code,status,currency\n"
       "IO-SHOP,2008-01-01,2008-01-31,ep-shop,TENOFF,live,USD\n"
       "IO-WIX,2024-01-15,2024-01-31,ep-wix,WINTER10,live,USD\n")


def store_secret(url, slug, source, value):
    session = observer(url)
    set_secret(session, tenant_by_slug(session, slug), source, value, SECRET_KEY)
    session.commit()
    session.close()


@pytest.fixture
def shop(database_url, tenant):
    store_secret(database_url, tenant["slug"], "shopify", SHOPIFY_SECRET)
    assert import_text(database_url, tenant["id"], "io_bookings", IOS)["status"] == "completed"
    return tenant


def shopify_headers(body: bytes, topic: str, event_id: str, secret: str = SHOPIFY_SECRET, triggered_at=None) -> dict:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": digest,
               "X-Shopify-Shop-Domain": "acme.myshopify.com", "X-Shopify-API-Version": "2024-10",
               "X-Shopify-Webhook-Id": f"wh-{event_id}", "X-Shopify-Event-Id": event_id}
    if triggered_at:
        headers["X-Shopify-Triggered-At"] = triggered_at
    return headers


def post_shopify(client, slug, order: dict, topic="orders/create", event_id="ev-1", **kwargs):
    body = json.dumps(order).encode()
    return client.post(f"/webhooks/shopify/{slug}", data=body, headers=shopify_headers(body, topic, event_id, **kwargs))


def documented_order() -> dict:
    return json.loads((FIXTURES / "shopify" / "order.json").read_text())


def totals(url, source) -> dict:
    return {(r.day.isoformat(), r.episode_id): (r.conversions, r.revenue_cents)
            for r in rows(url, MetricsDaily) if r.source == source}


def test_shopify_order_lifecycle_converges(client, database_url, shop):
    order = documented_order()  # 598.94 with a 209.00 refund already in it
    response = post_shopify(client, shop["slug"], order)
    assert response.status_code == 200 and response.get_json()["replayed"] is False
    assert totals(database_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994)}
    (event,) = rows(database_url, AttributionEvent)
    assert (event.io_id, event.matched_by, event.currency) == ("IO-SHOP", "promo_code", "USD")

    # Shopify retries the same event: nothing happens twice.
    again = post_shopify(client, shop["slug"], order)
    assert again.get_json()["replayed"] is True
    assert totals(database_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994)}

    # A later refund (refunds/create, 41.94) lowers the revenue; its replay does not lower it twice.
    refund = json.loads((FIXTURES / "shopify" / "refund.json").read_text())
    post_shopify(client, shop["slug"], refund, topic="refunds/create", event_id="ev-2")
    assert totals(database_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994 - 4194)}
    post_shopify(client, shop["slug"], refund, topic="refunds/create", event_id="ev-2b")
    assert totals(database_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994 - 4194)}

    # An older orders/updated retry (triggered before the refund) must not bring the old total back.
    post_shopify(client, shop["slug"], order, topic="orders/updated", event_id="ev-old",
                 triggered_at="2009-01-01T00:00:00Z")
    assert totals(database_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994 - 4194)}

    # Cancelled: it counts for nothing.
    cancelled = dict(order, cancelled_at="2024-10-15T10:00:00-04:00", updated_at="2024-10-15T10:00:00-04:00")
    post_shopify(client, shop["slug"], cancelled, topic="orders/cancelled", event_id="ev-3")
    assert totals(database_url, "shopify") == {("2008-01-10", "ep-shop"): (0, 0)}
    assert {r.status for r in rows(database_url, WebhookReceipt)} == {"processed"}


def test_older_wrapped_shape_is_accepted(client, database_url, shop):
    legacy = json.loads((FIXTURES / "shopify" / "order_wrapped_legacy.json").read_text())
    assert post_shopify(client, shop["slug"], legacy).status_code == 200
    (event,) = rows(database_url, AttributionEvent)
    assert event.revenue_cents == 1999


@pytest.mark.parametrize("case", ["tampered", "wrong secret", "missing header", "other tenant"])
def test_shopify_signature_failures(client, database_url, shop, case):
    body = json.dumps(documented_order()).encode()
    headers = shopify_headers(body, "orders/create", "ev-1")
    if case == "tampered":
        body = body.replace(b"598.94", b"998.94")
    elif case == "wrong secret":
        headers = shopify_headers(body, "orders/create", "ev-1", secret="not-the-secret")
    elif case == "missing header":
        del headers["X-Shopify-Hmac-Sha256"]
    else:
        make_tenant(database_url, "globex")
        store_secret(database_url, "globex", "shopify", "globex-secret")
        headers = shopify_headers(body, "orders/create", "ev-1", secret="globex-secret")
    response = client.post(f"/webhooks/shopify/{shop['slug']}", data=body, headers=headers)
    assert response.status_code == 401
    assert rows(database_url, WebhookReceipt) == [] and rows(database_url, AttributionEvent) == []


def test_shopify_header_names_are_case_insensitive(client, database_url, shop):
    body = json.dumps(documented_order()).encode()
    headers = {k.lower(): v for k, v in shopify_headers(body, "orders/create", "ev-9").items()}
    assert client.post(f"/webhooks/shopify/{shop['slug']}", data=body, headers=headers).status_code == 200
    assert len(rows(database_url, AttributionEvent)) == 1


# --- Wix -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wix_keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def wix_body(private_pem: str, event: dict, event_type: str) -> bytes:
    # The documented envelope: the JWT's `data` is a JSON string holding eventType, instanceId and
    # `data`, itself a JSON string of the event (dev.wix.com, "webhook structure").
    data = {"eventType": event_type, "instanceId": "inst-1", "data": json.dumps(event), "identity": json.dumps({})}
    return jwt.encode({"data": json.dumps(data)}, private_pem, algorithm="RS256").encode()


def test_wix_order_approved_then_canceled(client, database_url, shop, wix_keys):
    store_secret(database_url, shop["slug"], "wix", wix_keys[1])
    approved = json.loads((FIXTURES / "wix" / "order_approved.json").read_text())
    body = wix_body(wix_keys[0], approved, "wix.ecom.v1.order_approved")
    assert client.post(f"/webhooks/wix/{shop['slug']}", data=body).status_code == 200
    assert totals(database_url, "wix") == {("2024-01-28", "ep-wix"): (1, 4897)}
    assert client.post(f"/webhooks/wix/{shop['slug']}", data=body).get_json()["replayed"] is True

    canceled = json.loads(json.dumps(approved))
    canceled["id"] = "evt-cancel-1"
    canceled["eventTime"] = "2024-02-10T00:00:00Z"
    canceled["actionEvent"]["body"]["order"]["status"] = "CANCELED"
    body = wix_body(wix_keys[0], canceled, "wix.ecom.v1.order_canceled")
    assert client.post(f"/webhooks/wix/{shop['slug']}", data=body).status_code == 200
    assert totals(database_url, "wix") == {("2024-01-28", "ep-wix"): (0, 0)}


def test_wix_refuses_other_keys(client, database_url, shop, wix_keys):
    store_secret(database_url, shop["slug"], "wix", wix_keys[1])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    approved = json.loads((FIXTURES / "wix" / "order_approved.json").read_text())
    response = client.post(f"/webhooks/wix/{shop['slug']}", data=wix_body(other, approved, "wix.ecom.v1.order_approved"))
    assert response.status_code == 401
    assert client.post(f"/webhooks/wix/{shop['slug']}", data=b"not a jwt").status_code == 401
    assert rows(database_url, WebhookReceipt) == []


# --- Redis unreachable: kept, answered, and processed once the reconciler finds them ----------

REDIS_DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def age_receipts(url: str, seconds: int) -> None:
    """As if the receipts had arrived `seconds` ago: the reconciler leaves fresh ones to their own job."""
    session = observer(url)
    for receipt in session.scalars(select(WebhookReceipt)).all():
        receipt.created_at = utcnow() - timedelta(seconds=seconds)
    session.commit()
    session.close()


def test_receipts_taken_while_redis_is_down_are_processed_once_by_the_reconciler(
        database_url, redis_url, shop, wix_keys, hub_env):
    hub_env(database_url, redis_url)
    store_secret(database_url, shop["slug"], "wix", wix_keys[1])
    down = create_app({"database_url": database_url, "redis_url": REDIS_DOWN}).test_client()
    answer = post_shopify(down, shop["slug"], documented_order())
    assert answer.status_code == 200 and answer.get_json()["replayed"] is False
    approved = json.loads((FIXTURES / "wix" / "order_approved.json").read_text())
    wix_answer = down.post(f"/webhooks/wix/{shop['slug']}", data=wix_body(wix_keys[0], approved, "wix.ecom.v1.order_approved"))
    assert wix_answer.status_code == 200
    assert {r.status for r in rows(database_url, WebhookReceipt)} == {"queued"}
    assert Queue("hub", connection=Redis.from_url(redis_url)).count == 0

    assert reconcile_job()["receipts"] == [], "inside the grace period a receipt is left to its own job"
    age_receipts(database_url, 61)
    ids = sorted(r.id for r in rows(database_url, WebhookReceipt))
    assert reconcile_job() == {"imports": [], "receipts": ids, "deliveries": []}
    assert reconcile_job()["receipts"] == [], "a receipt whose job is queued is not enqueued twice"
    work(redis_url)

    assert {r.status for r in rows(database_url, WebhookReceipt)} == {"processed"}
    assert totals(database_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994)}
    assert totals(database_url, "wix") == {("2024-01-28", "ep-wix"): (1, 4897)}
    assert len(rows(database_url, AttributionEvent)) == 2
    assert reconcile_job()["receipts"] == [] and Queue("hub", connection=Redis.from_url(redis_url)).count == 0


def test_shopifys_retry_of_a_waiting_receipt_is_enqueued(database_url, redis_url, shop, hub_env):
    hub_env(database_url, redis_url)
    order = documented_order()
    down = create_app({"database_url": database_url, "redis_url": REDIS_DOWN}).test_client()
    first = post_shopify(down, shop["slug"], order).get_json()
    # Shopify retries the delivery (same event id); Redis is back by then.
    up = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    again = post_shopify(up, shop["slug"], order)
    assert again.status_code == 200 and again.get_json() == {"receipt_id": first["receipt_id"], "replayed": True}
    queue = Queue("hub", connection=Redis.from_url(redis_url))
    assert queue.job_ids == [f"receipt-{first['receipt_id']}"]
    post_shopify(up, shop["slug"], order)
    assert queue.job_ids == [f"receipt-{first['receipt_id']}"], "the job id dedupes a second retry"
    work(redis_url)
    assert [r.status for r in rows(database_url, WebhookReceipt)] == ["processed"]
    assert totals(database_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994)}

    post_shopify(up, shop["slug"], order)
    assert queue.count == 0, "a processed receipt's replay is answered and not run again"


def test_hub_reconcile_command_reports_receipts_and_deliveries(database_url, redis_url, shop, hub_env):
    hub_env(database_url, redis_url)
    down = create_app({"database_url": database_url, "redis_url": REDIS_DOWN}).test_client()
    receipt_id = post_shopify(down, shop["slug"], documented_order()).get_json()["receipt_id"]
    age_receipts(database_url, 120)
    result = CliRunner().invoke(cli_main, ["reconcile"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"requeued": [], "receipts": [receipt_id], "deliveries": []}
    work(redis_url)
    assert [r.status for r in rows(database_url, WebhookReceipt)] == ["processed"]
