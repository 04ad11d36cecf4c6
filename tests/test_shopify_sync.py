"""The Shopify backfill as a sync: pages applied with their cursor, a 429 waited out, a failure resumed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from connectors.shopify import ShopifyOrdersClient
from hub.config import load_settings
from hub.jobs.sync import SyncError, sync_shopify
from hub.models import AttributionEvent, ConnectorState
from tests.helpers import import_text, rows

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
ORDERS = "https://acme.myshopify.com/admin/api/2024-10/orders.json"
# Page shapes: GET /admin/api/2024-10/orders.json, Link-header pagination (see test_shopify_connector.py).
PAGE1 = json.loads((FIXTURES / "orders_page1.json").read_text())
PAGE2 = json.loads((FIXTURES / "orders_page2.json").read_text())
NEXT = f'<{ORDERS}?limit=250&page_info=eyJsYXN0X2lkIjo1NTAxMjMwMDAyfQ>; rel="next"'


def settings_for(url):
    return load_settings({"HUB_ENV": "test", "HUB_SECRET_KEY": "x" * 40, "HUB_DATABASE_URL": url})


def client(waits):
    return ShopifyOrdersClient("acme.myshopify.com", "shpat_test", sleep=waits.append)


def state(url) -> ConnectorState:
    (found,) = rows(url, ConnectorState)
    return found


def test_backfill_pages_through_orders_and_keeps_its_cursor(database_url, tenant):
    import_text(database_url, tenant["id"], "io_bookings",
                "io_id,flight_start,flight_end,episode_id,promo_code,status\nIO-1,2024-10-01,2024-10-31,ep-1,WELCOME10,live\n")
    waits = []
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ORDERS, json=PAGE1, headers={"Link": NEXT, "X-Shopify-Shop-Api-Call-Limit": "1/40"})
        wire.add(responses.GET, ORDERS, status=429, headers={"Retry-After": "2.0"}, json={"errors": "Exceeded 2 calls per second"})
        wire.add(responses.GET, ORDERS, json=PAGE2)
        result = sync_shopify(settings_for(database_url), tenant["slug"], "acme.myshopify.com", client=client(waits))
    assert (result["pages"], result["orders"]) == (2, 3)
    assert waits == [2.0]
    events = {e.order_id: e for e in rows(database_url, AttributionEvent)}
    assert set(events) == {"5501230001", "5501230002", "5501230003"}
    assert events["5501230002"].io_id == "IO-1"
    assert state(database_url).cursor == {"shop": "acme.myshopify.com", "updated_at_min": "2024-10-03T16:45:10-04:00"}
    assert state(database_url).status == "idle"


def test_a_sync_that_fails_midway_resumes_after_its_last_page(database_url, tenant):
    waits = []
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ORDERS, json=PAGE1, headers={"Link": NEXT})
        wire.add(responses.GET, ORDERS, status=401,
                 json={"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        with pytest.raises(SyncError, match="after 1 page"):
            sync_shopify(settings_for(database_url), tenant["slug"], "acme.myshopify.com", client=client(waits))
    failed = state(database_url)
    assert failed.status == "failed" and "Invalid API key" in failed.last_error
    assert failed.cursor["updated_at_min"] == "2024-10-02T11:15:00-04:00"
    assert len(rows(database_url, AttributionEvent)) == 2

    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ORDERS, json=PAGE2)
        sync_shopify(settings_for(database_url), tenant["slug"], client=client(waits))
        assert "updated_at_min=2024-10-02T11%3A15%3A00-04%3A00" in wire.calls[0].request.url
    assert len(rows(database_url, AttributionEvent)) == 3
    assert state(database_url).status == "idle" and state(database_url).last_error is None


def test_sync_needs_a_shop_and_a_token(database_url, tenant):
    with pytest.raises(SyncError, match="no shop domain"):
        sync_shopify(settings_for(database_url), tenant["slug"])
    with pytest.raises(SyncError, match="no Admin API token"):
        sync_shopify(settings_for(database_url), tenant["slug"], "acme.myshopify.com")
