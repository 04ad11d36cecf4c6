"""The Shopify backfill is a sync like every pull connector's: its pages are imports of the conversions
table (source `shopify`) through the pipeline, each stored with the cursor after it; a 429 is waited out;
a failure stops with the platform's words and the next sync resumes after the last whole page."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import responses

from connectors.shopify import ShopifyConnector
from hub.config import load_settings

from hub.jobs.connectors import SyncError, configure, run_sync
from hub.models import AttributionEvent, ConnectorState, EtlImport
from hub.tenants import read_secret, set_secret, tenant_by_slug
from tests.conftest import SECRET_KEY
from tests.helpers import import_text, observer, rows

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
ORDERS = "https://acme.myshopify.com/admin/api/2024-10/orders.json"
# Page shapes: GET /admin/api/2024-10/orders.json, Link-header pagination (see test_shopify_connector.py).
PAGE1 = json.loads((FIXTURES / "orders_page1.json").read_text())
PAGE2 = json.loads((FIXTURES / "orders_page2.json").read_text())
SINCE = date(2024, 10, 1)  # the fixtures' orders are from October 2024: backfill from then
NEXT = f'<{ORDERS}?limit=250&page_info=eyJsYXN0X2lkIjo1NTAxMjMwMDAyfQ>; rel="next"'


def settings_for(url):
    return load_settings({"HUB_ENV": "test", "HUB_SECRET_KEY": SECRET_KEY, "HUB_DATABASE_URL": url})


def add_shopify(url: str) -> None:
    session = observer(url)
    configure(session, tenant_by_slug(session, "acme"), "shopify",
              {"shop": "acme.myshopify.com", "access_token": "shpat_test"}, None, SECRET_KEY)
    session.commit()
    session.close()


def connector(waits) -> ShopifyConnector:
    return ShopifyConnector({"shop": "acme.myshopify.com", "access_token": "shpat_test"}, sleep=waits.append)


def state(url) -> ConnectorState:
    (found,) = rows(url, ConnectorState)
    return found


def test_backfill_pages_are_conversions_imports_and_keep_their_cursor(database_url, tenant):
    import_text(database_url, tenant["id"], "io_bookings",
                "io_id,flight_start,flight_end,episode_id,promo_code,status\nIO-1,2024-10-01,2024-10-31,ep-1,WELCOME10,live\n")
    add_shopify(database_url)
    waits = []
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ORDERS, json=PAGE1, headers={"Link": NEXT, "X-Shopify-Shop-Api-Call-Limit": "1/40"})
        wire.add(responses.GET, ORDERS, status=429, headers={"Retry-After": "2.0"}, json={"errors": "Exceeded 2 calls per second"})
        wire.add(responses.GET, ORDERS, json=PAGE2)
        result = run_sync(settings_for(database_url), tenant["id"], "shopify", SINCE, connector=connector(waits))
        assert wire.calls[0].request.headers["X-Shopify-Access-Token"] == "shpat_test"
    assert (result["pages"], result["rows"]) == (2, 3)
    assert waits == [2.0]
    events = {e.order_id: e for e in rows(database_url, AttributionEvent)}
    assert set(events) == {"5501230001", "5501230002", "5501230003"}
    assert {e.platform for e in events.values()} == {"shopify"}
    assert events["5501230002"].io_id == "IO-1"
    # The order as Shopify sent it is kept, so a later refunds/create webhook can rebuild it.
    assert events["5501230002"].payload["order"]["id"] == 5501230002
    pulls = [i for i in rows(database_url, EtlImport) if i.source == "shopify"]
    assert [(i.table_name, i.status) for i in pulls] == [("conversions", "completed")] * 2
    assert sum(i.rows_inserted for i in pulls) == 3
    assert state(database_url).cursor == {"updated_at_min": "2024-10-03T16:45:10-04:00"}
    assert state(database_url).status == "idle"


def test_a_sync_that_fails_midway_resumes_after_its_last_page(database_url, tenant):
    add_shopify(database_url)
    waits = []
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ORDERS, json=PAGE1, headers={"Link": NEXT})
        wire.add(responses.GET, ORDERS, status=401,
                 json={"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        with pytest.raises(SyncError, match="after 1 page") as stopped:
            run_sync(settings_for(database_url), tenant["id"], "shopify", SINCE, connector=connector(waits))
        assert len(wire.calls) == 2, "a 401 is not retried"
    assert stopped.value.retriable is False
    failed = state(database_url)
    assert failed.status == "failed" and "Invalid API key" in failed.last_error and "shpat_test" not in failed.last_error
    assert failed.cursor["updated_at_min"] == "2024-10-02T11:15:00-04:00"
    assert len(rows(database_url, AttributionEvent)) == 2

    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ORDERS, json=PAGE2)
        run_sync(settings_for(database_url), tenant["id"], "shopify", connector=connector(waits))
        assert "updated_at_min=2024-10-02T11%3A15%3A00-04%3A00" in wire.calls[0].request.url
    assert len(rows(database_url, AttributionEvent)) == 3
    assert state(database_url).status == "idle" and state(database_url).last_error is None


def test_the_backfill_token_is_not_the_webhook_signing_key(database_url, tenant):
    session = observer(database_url)
    set_secret(session, tenant_by_slug(session, "acme"), "shopify", "app-secret-that-signs-webhooks", SECRET_KEY)
    session.commit()
    session.close()
    add_shopify(database_url)
    session = observer(database_url)
    assert read_secret(session, tenant["id"], "shopify", SECRET_KEY) == "app-secret-that-signs-webhooks"
    session.close()


def test_a_sync_needs_its_connector_configured(database_url, tenant):
    with pytest.raises(SyncError, match="not configured: run 'python -m hub connector add shopify"):
        run_sync(settings_for(database_url), tenant["id"], "shopify")
