"""Shopify: the signed body decides what an order is, not the unsigned headers (issue 15). Against the
hub served by werkzeug on loopback, with jobs on a real Redis run by a real RQ worker."""
from __future__ import annotations

import json
import threading

import pytest
import requests
from werkzeug.serving import make_server

from hub import create_app

from hub.models import AttributionEvent, Tenant, WebhookReceipt
from tests.conftest import make_tenant
from tests.helpers import import_text, observer, rows, work
from tests.test_commerce_webhooks import IOS, SHOPIFY_SECRET, documented_order, shopify_headers, store_secret, totals

SHOP = "acme.myshopify.com"


@pytest.fixture
def live_shop(postgres_url, redis_url, hub_env):
    hub_env(postgres_url, redis_url, HUB_JOB_RETRIES="0")
    tenant = make_tenant(postgres_url)
    store_secret(postgres_url, "acme", "shopify", SHOPIFY_SECRET)
    session = observer(postgres_url)
    session.get(Tenant, tenant["id"]).shopify_shop_domain = SHOP
    session.commit()
    session.close()
    assert import_text(postgres_url, tenant["id"], "io_bookings", IOS)["status"] == "completed"
    app = create_app({"database_url": postgres_url, "redis_url": redis_url, "job_retries": 0})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/shopify/acme"
    finally:
        server.shutdown()


def send(url: str, body: dict, topic: str, event_id: str, shop: str = SHOP, **kwargs) -> requests.Response:
    raw = json.dumps(body).encode()
    headers = shopify_headers(raw, topic, event_id, **kwargs)
    headers["X-Shopify-Shop-Domain"] = shop
    return requests.post(url, data=raw, headers=headers, timeout=10)


def test_a_replayed_body_with_forged_headers_changes_nothing(live_shop, postgres_url, redis_url):
    order = documented_order()  # updated_at 2008-01-10T11:00:00-05:00, not cancelled
    assert send(live_shop, order, "orders/updated", "ev-1").status_code == 200
    work(redis_url)
    assert totals(postgres_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994)}

    # The captured body again, a fresh event id, a forged topic and trigger time far in the future.
    forged = send(live_shop, order, "orders/cancelled", "ev-forged", triggered_at="2099-01-01T00:00:00Z")
    assert forged.status_code == 400
    assert forged.json()["error"].startswith("X-Shopify-Topic is orders/cancelled but the body's cancelled_at is null")
    # Under a topic that fits the body, the forged trigger time buys nothing: the body's updated_at rules.
    assert send(live_shop, order, "orders/updated", "ev-forged-2", triggered_at="2099-01-01T00:00:00Z").status_code == 200
    work(redis_url)
    assert totals(postgres_url, "shopify") == {("2008-01-10", "ep-shop"): (1, 38994)}

    # The shop's genuine later update (a newer updated_at) is applied, not ignored as stale.
    later = dict(order, updated_at="2008-01-12T09:00:00-05:00", total_price="698.94")
    assert send(live_shop, later, "orders/updated", "ev-2").status_code == 200
    work(redis_url)
    (event,) = rows(postgres_url, AttributionEvent)
    assert event.revenue_cents == 48994 and event.status != "cancelled"
    # And a genuine cancellation, from the body's cancelled_at, still cancels.
    cancelled = dict(later, cancelled_at="2008-01-13T10:00:00-05:00", updated_at="2008-01-13T10:00:00-05:00")
    assert send(live_shop, cancelled, "orders/cancelled", "ev-3").status_code == 200
    work(redis_url)
    assert totals(postgres_url, "shopify") == {("2008-01-10", "ep-shop"): (0, 0)}


def test_an_order_body_under_a_refund_topic_is_refused(live_shop, postgres_url):
    refused = send(live_shop, documented_order(), "refunds/create", "ev-1")
    assert refused.status_code == 400
    assert "X-Shopify-Topic is refunds/create but the body is not a refund" in refused.json()["error"]
    refund = json.loads((__import__("pathlib").Path(__file__).parent / "fixtures/shopify/refund.json").read_text())
    refused = send(live_shop, refund, "orders/updated", "ev-2")
    assert refused.status_code == 400 and "is orders/updated but the body is not an order" in refused.json()["error"]
    assert rows(postgres_url, WebhookReceipt) == []


def test_another_shop_signed_with_the_same_app_secret_is_refused(live_shop, postgres_url):
    refused = send(live_shop, documented_order(), "orders/create", "ev-1", shop="evil.myshopify.com")
    assert refused.status_code == 401 and "is not this tenant's shop" in refused.json()["error"]
    assert rows(postgres_url, WebhookReceipt) == []
