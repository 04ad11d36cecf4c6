"""Shopify orders as Shopify records them (tests/fixtures/shopify/README.md): its own figure for what
an order is worth now, test orders, codes in discount_applications, UTM data in note_attributes,
cancel_reason; the webhook and the Admin API backfill build the same Order."""
from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from connectors.shopify import ShopifyConnector, order_from_shopify
from hub.cli import main as cli_main
from hub.config import load_settings
from hub.jobs.connectors import configure, run_sync
from hub.models import AttributionEvent, MetricsDaily
from hub.tenants import tenant_by_slug
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import import_text, observer, rows
from tests.test_commerce_webhooks import SHOPIFY_SECRET, post_shopify, store_secret

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
# The order of Shopify's @shopify/shopify-api REST tests (2024-04, order 450789469), unchanged:
# total_price 598.94, a 209.00 refund, current_total_price 199.65, code TENOFF in discount_codes and
# discount_applications, note_attributes, source_name "web", test false; placed 2008-01-10.
RECORDED = json.loads((FIXTURES / "api_js_2024-04_order_450789469.json").read_text())["order"]
# Shopify's webhook test notification: test true, cancelled with cancel_reason "customer", 2024-06-26.
SAMPLE = json.loads((FIXTURES / "webhook_sample_orders_cancelled.json").read_text())
REFUND = json.loads((FIXTURES / "refund.json").read_text())  # refunds/create for order 450789469: 41.94

IOS = ("io_id,flight_start,flight_end,episode_id,promo_code,status,currency\n"
       "IO-TEN,2008-01-01,2008-01-31,ep-ten,TENOFF,live,USD\n"
       "IO-POD,2008-01-01,2008-01-31,ep-pod,PODCAST-JAN,live,USD\n"
       "IO-SAMPLE,2024-06-01,2024-06-30,ep-sample,SNOW,live,USD\n")


def recorded() -> dict:
    return copy.deepcopy(RECORDED)


@pytest.fixture
def shop(database_url, tenant):
    store_secret(database_url, tenant["slug"], "shopify", SHOPIFY_SECRET)
    assert import_text(database_url, tenant["id"], "io_bookings", IOS)["status"] == "completed"
    return tenant


def totals(url) -> dict:
    return {(r.day.isoformat(), r.episode_id): (r.conversions, r.revenue_cents)
            for r in rows(url, MetricsDaily) if r.source == "shopify"}


def event_of(url, order_id) -> AttributionEvent:
    (found,) = [e for e in rows(url, AttributionEvent) if e.order_id == str(order_id)]
    return found


def set_count_test_orders(slug: str, switch: str, hub_env, url) -> None:
    hub_env(url)
    result = CliRunner().invoke(cli_main, ["tenant", "set-count-test-orders", slug, switch])
    assert result.exit_code == 0, result.output


# -- the parser on Shopify's own bodies ---------------------------------------------------------------


def test_shopifys_current_total_price_is_the_orders_worth():
    order = order_from_shopify(recorded())
    # 598.94 - 209.00 = 389.94 is what subtracting the refunds gives; Shopify says 199.65 (a line item
    # was also removed), and Shopify's figure is the one its admin and the merchant see.
    assert order.total_cents == 19965
    assert order.currency == "USD" and order.test is False and order.cancel_reason is None
    assert order.codes == ["TENOFF"]
    assert order.payload["source_name"] == "web" and order.payload["presentment_currency"] == "USD"

    without = recorded()
    del without["current_total_price"]
    assert order_from_shopify(without).total_cents == 38994, "older payloads fall back to total minus refunds"


def test_codes_from_discount_applications_and_utm_campaign_from_note_attributes():
    applications_only = recorded()
    applications_only["discount_codes"] = []
    assert order_from_shopify(applications_only).codes == ["TENOFF"]

    manual = recorded()
    manual["discount_applications"][0]["type"] = "manual"  # a manual discount names no code
    manual["discount_codes"] = []
    assert order_from_shopify(manual).codes == []

    utm = recorded()
    utm["note_attributes"].append({"name": "utm_campaign", "value": "PODCAST-JAN"})
    utm["landing_site"] = "/collections/all?utm_source=podcast&utm_medium=audio"
    order = order_from_shopify(utm)
    assert order.codes == ["TENOFF", "PODCAST-JAN"], "typed codes first, then the campaign"
    assert order.utm == {"utm_source": "podcast", "utm_medium": "audio", "utm_campaign": "PODCAST-JAN"}


def test_shopifys_test_notification_is_a_test_order_with_its_cancel_reason():
    order = order_from_shopify(copy.deepcopy(SAMPLE))
    assert order.test is True
    assert order.cancelled is True and order.cancel_reason == "customer"
    assert order.total_cents == 158590  # current_total_price, not total_price 1575.90


# -- end to end through the webhook -------------------------------------------------------------------


def test_webhook_order_is_worth_shopifys_current_total(client, database_url, shop):
    assert post_shopify(client, shop["slug"], recorded()).status_code == 200
    assert totals(database_url) == {("2008-01-10", "ep-ten"): (1, 19965)}
    event = event_of(database_url, 450789469)
    assert (event.status, event.io_id, event.revenue_cents) == ("open", "IO-TEN", 19965)
    assert event.payload["order"]["source_name"] == "web" and event.payload["test"] is False


def test_a_refund_lowers_shopifys_current_total(client, database_url, shop):
    post_shopify(client, shop["slug"], recorded())
    assert post_shopify(client, shop["slug"], REFUND, topic="refunds/create", event_id="ev-refund").status_code == 200
    assert totals(database_url) == {("2008-01-10", "ep-ten"): (1, 15771)}  # 199.65 - 41.94
    post_shopify(client, shop["slug"], REFUND, topic="refunds/create", event_id="ev-refund-again")
    assert totals(database_url) == {("2008-01-10", "ep-ten"): (1, 15771)}, "the same refund twice lowers it once"


def test_discount_applications_code_attributes_to_its_io(client, database_url, shop):
    body = recorded()
    body["discount_codes"] = []  # the code only in discount_applications
    post_shopify(client, shop["slug"], body)
    event = event_of(database_url, 450789469)
    assert (event.io_id, event.matched_by) == ("IO-TEN", "promo_code")


def test_note_attributes_utm_campaign_attributes_to_the_io_it_names(client, database_url, shop):
    body = recorded()
    body["discount_codes"], body["discount_applications"] = [], []  # no code typed at checkout
    body["note_attributes"].append({"name": "utm_campaign", "value": "podcast-jan"})
    post_shopify(client, shop["slug"], body)
    event = event_of(database_url, 450789469)
    assert (event.io_id, event.matched_by, event.status) == ("IO-POD", "promo_code", "open")
    assert event.payload["utm"] == {"utm_campaign": "podcast-jan"}
    assert totals(database_url) == {("2008-01-10", "ep-pod"): (1, 19965)}


def test_test_orders_are_kept_but_not_counted_unless_the_tenant_counts_them(client, database_url, shop, hub_env):
    body = recorded()
    body["test"] = True  # the same order placed through Shopify's Bogus Gateway
    post_shopify(client, shop["slug"], body, event_id="ev-test-1")
    event = event_of(database_url, 450789469)
    assert (event.status, event.io_id, event.revenue_cents) == ("test", "IO-TEN", 19965)
    assert totals(database_url) == {}, "no credit, so no shop row: the test order counts for nothing"

    set_count_test_orders(shop["slug"], "on", hub_env, database_url)
    post_shopify(client, shop["slug"], body, event_id="ev-test-2")  # Shopify's orders/updated for it
    assert event_of(database_url, 450789469).status == "open"
    assert totals(database_url) == {("2008-01-10", "ep-ten"): (1, 19965)}

    set_count_test_orders(shop["slug"], "off", hub_env, database_url)
    post_shopify(client, shop["slug"], body, event_id="ev-test-3")
    assert event_of(database_url, 450789469).status == "test"
    assert totals(database_url) == {("2008-01-10", "ep-ten"): (0, 0)}


def test_shopifys_test_notification_is_stored_as_test_with_its_cancel_reason(client, database_url, shop, hub_env):
    body = copy.deepcopy(SAMPLE)
    body["discount_codes"] = [{"code": "SNOW", "amount": "20.00", "type": "fixed_amount"}]  # attributable
    post_shopify(client, shop["slug"], body, topic="orders/cancelled", event_id="ev-sample-1")
    event = event_of(database_url, SAMPLE["id"])
    assert (event.status, event.io_id) == ("test", "IO-SAMPLE")
    assert event.payload["cancel_reason"] == "customer" and event.payload["order"]["cancel_reason"] == "customer"
    assert totals(database_url) == {}, "no credit, so no shop row: the test order counts for nothing"

    set_count_test_orders(shop["slug"], "on", hub_env, database_url)
    post_shopify(client, shop["slug"], body, topic="orders/cancelled", event_id="ev-sample-2")
    event = event_of(database_url, SAMPLE["id"])
    assert event.status == "cancelled", "counted as a real order, the cancellation still counts for nothing"
    assert event.payload["cancel_reason"] == "customer"
    assert totals(database_url) == {}


def test_the_tenant_setting_command_refuses_an_unknown_tenant_and_a_bad_switch(database_url, tenant, hub_env):
    hub_env(database_url)
    unknown = CliRunner().invoke(cli_main, ["tenant", "set-count-test-orders", "nobody", "on"])
    assert unknown.exit_code != 0 and "no tenant 'nobody'" in unknown.output
    bad = CliRunner().invoke(cli_main, ["tenant", "set-count-test-orders", tenant["slug"], "yes"])
    assert bad.exit_code != 0 and "'yes' is not one of 'on', 'off'" in bad.output


# -- the backfill builds the same Order as the webhook -------------------------------------------------


def test_backfill_and_webhook_store_the_same_order(client, database_url, shop):
    other = make_tenant(database_url, "other")
    assert import_text(database_url, other["id"], "io_bookings", IOS)["status"] == "completed"
    session = observer(database_url)
    configure(session, tenant_by_slug(session, "other"), "shopify",
              {"shop": "other.myshopify.com", "access_token": "shpat_test"}, None, SECRET_KEY)
    session.commit()
    session.close()
    body = recorded()
    body["test"] = True
    body["discount_codes"], body["discount_applications"] = [], []
    body["note_attributes"].append({"name": "utm_campaign", "value": "PODCAST-JAN"})

    post_shopify(client, shop["slug"], body)  # tenant acme: the webhook
    orders_url = "https://other.myshopify.com/admin/api/2024-10/orders.json"
    settings = load_settings({"HUB_ENV": "test", "HUB_SECRET_KEY": SECRET_KEY, "HUB_DATABASE_URL": database_url})
    with responses.RequestsMock() as wire:  # tenant other: the Admin API backfill of the same order
        wire.add(responses.GET, orders_url, json={"orders": [body]})
        run_sync(settings, other["id"], "shopify", date(2008, 1, 1),
                 connector=ShopifyConnector({"shop": "other.myshopify.com", "access_token": "shpat_test"}))

    by_tenant = {e.tenant_id: e for e in rows(database_url, AttributionEvent)}
    hooked, pulled = by_tenant[shop["id"]], by_tenant[other["id"]]
    same = ("order_id", "status", "io_id", "matched_by", "revenue_cents", "currency", "day", "payload")
    assert {name: getattr(pulled, name) for name in same} == {name: getattr(hooked, name) for name in same}
    assert (hooked.status, hooked.io_id, hooked.revenue_cents) == ("test", "IO-POD", 19965)
