"""Shopify: payload -> Order, the webhook HMAC (push side), and ShopifyConnector's backfill at the wire.

No database and no network: HTTP is answered by `responses`. Fixture sources are cited above each
loader; all are Admin REST API 2024-10 shapes.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from connectors.base import ConnectorError, Page
from connectors.registry import get_connector
from connectors.shopify import (
    ShopifyConnector,
    ShopifyPayloadError,
    conversion_row,
    order_from_shopify,
    refund_from_shopify,
)
from webhooks.signatures import verify_shopify_hmac

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
SHOP = "jsmith.myshopify.com"
ORDERS_URL = f"https://{SHOP}/admin/api/2024-10/orders.json"
EST = timezone(timedelta(hours=-5))
EDT = timezone(timedelta(hours=-4))


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# Source: Shopify Admin REST API 2024-10, Order resource, "The Order resource" example object
# (order 450789469, https://shopify.dev/docs/api/admin-rest/2024-10/resources/order), trimmed of
# addresses, customer, shipping lines and most line-item detail. A webhook orders/create|updated
# body is this same bare order object (https://shopify.dev/docs/api/webhooks?reference=toml, topic
# orders/create). It carries discount_codes (TENOFF), landing_site, referring_site and one refund
# whose transaction (kind "refund", status "success") returned 209.00.
def order_fixture() -> dict:
    return load("order.json")


# Source: the same Order resource fields, in the older wrapped form {"order": {...}} that early API
# versions' webhooks and GET /orders/{id}.json return, with discount_codes entries lacking "type"
# (the "type" attribute was added later). landing_site is a path + query, as real shops send it.
def legacy_fixture() -> dict:
    return load("order_wrapped_legacy.json")


# Source: Order resource 2024-10 fields (financial_status "partially_refunded", refunds[] each with
# transactions[] as in the Refund resource, https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund).
# Values are ours: total 100.10; refunds of 0.10 (success), 50.00 (failure) and 25.05 (success).
def refunded_fixture() -> dict:
    return load("order_refunded.json")


# Source: Refund resource 2024-10 (https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund),
# the object the refunds/create webhook topic delivers; modelled on the "Create a refund" example
# (refund 929361464 of order 450789469, one successful "bogus" gateway refund transaction of 41.94).
def refund_fixture() -> dict:
    return load("refund.json")


# Source: GET /admin/api/2024-10/orders.json response body {"orders": [...]}, Order resource 2024-10,
# trimmed to the fields the connector reads; pagination per
# https://shopify.dev/docs/api/usage/pagination-rest (Link header with page_info).
def page_fixture(n: int) -> dict:
    return load(f"orders_page{n}.json")


# ---------------------------------------------------------------------------------------------
# order_from_shopify


def test_documented_order_example_normalizes():
    order = order_from_shopify(order_fixture())
    assert order.platform == "shopify"
    assert order.order_id == "450789469"
    assert order.occurred_at == datetime(2008, 1, 10, 11, 0, tzinfo=EST)
    assert order.occurred_at.utcoffset() == timedelta(hours=-5)
    assert order.version_at == datetime(2008, 1, 10, 16, 0, tzinfo=timezone.utc)
    assert order.currency == "USD"
    # total_price 598.94 minus the successful refund transaction of 209.00
    assert order.total_cents == 59894 - 20900 == 38994
    assert order.codes == ["TENOFF"]
    assert order.urls == ["http://www.example.com?source=abc", "http://www.otherexample.com"]
    assert order.cancelled is False
    assert order.kind == "order"
    assert order.payload["name"] == "#1001"


def test_wrapped_legacy_order_without_discount_type():
    order = order_from_shopify(legacy_fixture())
    assert order.order_id == "5730981511"
    assert order.total_cents == 1999            # "19.99", never 1998 from a float
    assert order.currency == "EUR"
    assert order.codes == ["SPRING15"]
    assert order.urls == ["/products/linen-tote?ref=newsletter&utm_source=newsletter", "https://www.google.com/"]
    assert order.occurred_at == datetime(2017, 6, 21, 7, 14, 3, tzinfo=timezone.utc)
    assert order.version_at == datetime(2017, 6, 21, 7, 20, 41, tzinfo=timezone.utc)
    assert order.payload["id"] == 5730981511  # the unwrapped order is kept


def test_refunds_subtract_only_successful_refund_transactions_exactly():
    order = order_from_shopify(refunded_fixture())
    assert order.order_id == "820982911946154508"
    # 100.10 - 0.10 - 25.05 (the 50.00 "failure" moved no money) = 74.95
    assert order.total_cents == 7495
    assert order.codes == ["FALL20", "fall24"]  # the typed code, then the landing URL's utm_campaign
    assert order.urls == ["/collections/fall?utm_source=instagram&utm_campaign=fall24"]  # empty referring_site skipped
    assert order.cancelled is False


def test_cents_are_exact_where_floats_drift():
    payload = copy.deepcopy(refunded_fixture())
    payload["total_price"] = "0.30"
    del payload["current_total_price"]  # the computation used when Shopify's own figure is absent
    payload["refunds"] = [{"transactions": [
        {"kind": "refund", "status": "success", "amount": "0.10", "currency": "USD"},
        {"kind": "refund", "status": "success", "amount": "0.20", "currency": "USD"},
        {"kind": "sale", "status": "success", "amount": "0.30", "currency": "USD"},     # not a refund
        {"kind": "refund", "status": "pending", "amount": "0.30", "currency": "USD"},   # not yet money
    ]}]
    assert 0.30 - 0.10 - 0.20 != 0  # the float trap this avoids
    assert order_from_shopify(payload).total_cents == 0

    payload["total_price"] = "19.99"
    payload["refunds"] = [{"transactions": [{"kind": "refund", "status": "success", "amount": "0.10"}]}]
    assert order_from_shopify(payload).total_cents == 1989


def test_financial_status_refunded_is_worth_nothing_and_voided_is_cancelled():
    refunded = copy.deepcopy(order_fixture())
    refunded["financial_status"] = "refunded"
    assert order_from_shopify(refunded).total_cents == 0
    assert order_from_shopify(refunded).cancelled is False

    voided = copy.deepcopy(order_fixture())
    voided["financial_status"] = "voided"
    voided["refunds"] = []
    order = order_from_shopify(voided)
    assert order.cancelled is True
    assert order.total_cents == 59894


def test_cancelled_at_and_cancelled_topic():
    page2 = page_fixture(2)["orders"][0]
    order = order_from_shopify(page2)
    assert order.cancelled is True
    assert order.total_cents == 40300
    assert order.urls == []

    lagging = copy.deepcopy(order_fixture())
    assert lagging["cancelled_at"] is None
    # The topic header is unsigned: only the body's cancelled_at cancels (issue 15).
    assert order_from_shopify(lagging, topic="orders/cancelled").cancelled is False
    assert order_from_shopify(lagging, topic="orders/updated").cancelled is False


def test_triggered_at_is_version_only_when_newer():
    newer = "2008-01-10T17:30:00.123Z"
    order = order_from_shopify(order_fixture(), topic="orders/updated", triggered_at=newer)
    assert order.version_at == datetime(2008, 1, 10, 17, 30, 0, 123000, tzinfo=timezone.utc)

    older = datetime(2008, 1, 10, 15, 0, tzinfo=timezone.utc)
    order = order_from_shopify(order_fixture(), triggered_at=older)
    assert order.version_at == datetime(2008, 1, 10, 16, 0, tzinfo=timezone.utc)


def test_foreign_currency_refund_falls_back_to_current_total_price():
    payload = copy.deepcopy(refunded_fixture())
    payload["refunds"][1]["transactions"][1]["currency"] = "CAD"   # presentment currency refund
    assert order_from_shopify(payload).total_cents == 7495          # current_total_price "74.95"
    del payload["current_total_price"]
    assert order_from_shopify(payload).total_cents == 10000         # only the USD 0.10 subtracted


def test_duplicate_codes_and_urls_are_kept_once():
    payload = copy.deepcopy(legacy_fixture())
    payload["order"]["discount_codes"].append({"code": "SPRING15", "amount": "0.00"})
    payload["order"]["referring_site"] = payload["order"]["landing_site"]
    order = order_from_shopify(payload)
    assert order.codes == ["SPRING15"]
    assert order.urls == ["/products/linen-tote?ref=newsletter&utm_source=newsletter"]


@pytest.mark.parametrize("mutate, message", [
    (lambda o: o.pop("id"), "no id"),
    (lambda o: o.pop("total_price"), "total_price"),
    (lambda o: o.__setitem__("created_at", "2008-01-10T11:00:00"), "no UTC offset"),
    (lambda o: o.__setitem__("total_price", "12,50"), "not a decimal"),
])
def test_bad_payloads_raise_clearly(mutate, message):
    payload = copy.deepcopy(order_fixture())
    mutate(payload)
    with pytest.raises(ShopifyPayloadError, match=message):
        order_from_shopify(payload)


def test_refund_webhook():
    order_id, cents, processed_at = refund_from_shopify(refund_fixture())
    assert order_id == "450789469"
    assert cents == 4194
    assert processed_at == datetime(2024, 10, 14, 10, 34, 56, tzinfo=EDT)

    no_processed = copy.deepcopy(refund_fixture())
    no_processed["processed_at"] = None
    no_processed["transactions"].append(dict(no_processed["transactions"][0], status="failure", amount="99.00"))
    no_processed["transactions"].append(dict(no_processed["transactions"][0], amount="0.06"))
    order_id, cents, processed_at = refund_from_shopify({"refund": no_processed})
    assert cents == 4200
    assert processed_at == datetime(2024, 10, 14, 10, 34, 55, tzinfo=EDT)


# ---------------------------------------------------------------------------------------------
# HMAC


def shopify_signature(secret: str, body: bytes) -> str:
    # As documented: base64 of the HMAC-SHA256 digest of the raw body, keyed by the app's client secret.
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_hmac_verification():
    secret = "hush-app-client-secret"
    body = (FIXTURES / "order.json").read_bytes()
    good = shopify_signature(secret, body)
    assert verify_shopify_hmac(secret, body, good) is True
    assert verify_shopify_hmac(secret, body, f"  {good}\n") is True          # header whitespace
    assert verify_shopify_hmac(secret, body + b" ", good) is False           # tampered body
    assert verify_shopify_hmac(secret, body.replace(b"598.94", b"998.94"), good) is False
    assert verify_shopify_hmac("another-secret", body, good) is False        # wrong secret
    assert verify_shopify_hmac(secret, body, None) is False                  # missing header
    assert verify_shopify_hmac(secret, body, "") is False
    assert verify_shopify_hmac(secret, body, good[:-4] + "AAA=") is False
    assert verify_shopify_hmac(secret, body, "ñ" + good) is False            # non-ASCII header
    # the re-serialised JSON is not what Shopify signed
    assert verify_shopify_hmac(secret, json.dumps(json.loads(body)).encode(), good) is False


# ---------------------------------------------------------------------------------------------
# Order -> conversions row


def test_conversion_row_is_json_safe_and_keeps_shopifys_values():
    row = conversion_row(order_from_shopify(order_fixture()))
    assert row == {
        "order_id": "450789469",
        "occurred_at": "2008-01-10T11:00:00-05:00",
        "updated_at": "2008-01-10T11:00:00-05:00",
        "revenue_cents": 38994,                 # 598.94 - the 209.00 refund
        "currency": "USD",
        "promo_code": "TENOFF",
        "landing_url": "http://www.example.com?source=abc",
        "referring_url": "http://www.otherexample.com",
        "status": "paid",
        "kind": "order",
        "payload": order_fixture(),              # the order as Shopify sent it, for a later refund
    }
    assert json.loads(json.dumps(row)) == row

    legacy = conversion_row(order_from_shopify(legacy_fixture()))
    assert legacy["landing_url"] == "/products/linen-tote?ref=newsletter&utm_source=newsletter"  # as sent
    assert legacy["revenue_cents"] == 1999 and legacy["currency"] == "EUR"

    two_codes = copy.deepcopy(order_fixture())
    two_codes["discount_codes"].append({"code": "FREESHIP", "amount": "5.00", "type": "shipping"})
    two_codes["referring_site"] = None
    row = conversion_row(order_from_shopify(two_codes))
    assert row["promo_code"] == "TENOFF,FREESHIP" and row["referring_url"] is None


def test_cancelled_order_row():
    row = conversion_row(order_from_shopify(page_fixture(2)["orders"][0]))
    assert row["status"] == "cancelled" and row["revenue_cents"] == 40300
    assert row["promo_code"] is None and row["landing_url"] is None and row["referring_url"] is None


# ---------------------------------------------------------------------------------------------
# ShopifyConnector at the wire

TOKEN = "shpat_test_token"
NOW = datetime(2024, 10, 20, 12, 0, 30, tzinfo=timezone.utc)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(sleeps: Sleeps, **config) -> ShopifyConnector:
    return ShopifyConnector({"shop": SHOP, "access_token": TOKEN, **config}, session=requests.Session(),
                            sleep=sleeps, now=lambda: NOW)


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def next_link(page_info: str) -> str:
    # Shape per https://shopify.dev/docs/api/usage/pagination-rest
    return (f'<https://{SHOP}/admin/api/2024-10/orders.json?limit=250&page_info={page_info}>; rel="next"')


def test_registered_with_its_schema():
    assert get_connector("shopify") is ShopifyConnector
    built = ShopifyConnector({"shop": "https://JSmith.myshopify.com/", "access_token": TOKEN})
    assert built.config == {"shop": SHOP, "access_token": TOKEN, "api_version": "2024-10", "lookback_days": 30}
    assert built.orders_url == ORDERS_URL
    assert TOKEN not in repr(built)
    assert ShopifyConnector({"shop": SHOP, "access_token": "t", "api_version": "2025-01"}).orders_url.endswith(
        "/admin/api/2025-01/orders.json")


@pytest.mark.parametrize("config, message", [
    ({"shop": SHOP}, "shopify: config field 'access_token' is required"),
    ({"access_token": TOKEN}, "shopify: config field 'shop' is required"),
    ({"shop": "jsmith.myshopify.com/admin", "access_token": TOKEN}, "shopify: config field 'shop' does not look right"),
    ({"shop": "jsmith.example.com", "access_token": TOKEN}, "shopify: config field 'shop' does not look right"),
])
def test_config_errors(config, message):
    with pytest.raises(ConnectorError) as caught:
        ShopifyConnector(config)
    assert str(caught.value).startswith(message) and caught.value.retriable is False


@responses.activate
def test_two_pages_follow_link_page_info_with_a_cursor_after_each():
    responses.get(ORDERS_URL, json=page_fixture(1), headers={
        "Link": next_link("eyJsYXN0X2lkIjo1NTAxMjMwMDAyfQ"),
        "X-Shopify-Shop-Api-Call-Limit": "1/40"})
    responses.get(ORDERS_URL, json=page_fixture(2), headers={
        "Link": (f'<https://{SHOP}/admin/api/2024-10/orders.json?limit=250&page_info=cHJldg>; rel="previous"'),
        "X-Shopify-Shop-Api-Call-Limit": "2/40"})
    sleeps = Sleeps()
    pages = list(connector(sleeps).sync({"updated_at_min": "2024-10-01T00:00:00+00:00"}))

    assert all(isinstance(page, Page) and page.table == "conversions" for page in pages)
    assert [[row["order_id"] for row in page.rows] for page in pages] == [["5501230001", "5501230002"], ["5501230003"]]
    assert [page.cursor for page in pages] == [{"updated_at_min": "2024-10-02T11:15:00-04:00"},
                                               {"updated_at_min": "2024-10-03T16:45:10-04:00"}]
    assert pages[0].rows[1] == {
        "order_id": "5501230002", "occurred_at": "2024-10-01T09:30:00-04:00",
        "updated_at": "2024-10-02T11:15:00-04:00", "revenue_cents": 1999, "currency": "USD",
        "promo_code": "WELCOME10", "landing_url": "/products/mug?ref=podcast", "referring_url": None,
        "status": "paid", "kind": "order", "payload": page_fixture(1)["orders"][1]}
    assert [row["revenue_cents"] for page in pages for row in page.rows] == [4200, 1999, 40300]
    assert pages[1].rows[0]["status"] == "cancelled"

    assert len(responses.calls) == 2
    first, second = responses.calls
    assert query(first) == {"status": "any", "limit": "250", "order": "updated_at asc",
                            "updated_at_min": "2024-10-01T00:00:00+00:00"}
    assert query(second) == {"limit": "250", "page_info": "eyJsYXN0X2lkIjo1NTAxMjMwMDAyfQ"}
    for call in responses.calls:
        assert call.request.headers["X-Shopify-Access-Token"] == TOKEN
    assert sleeps == []


@responses.activate
def test_start_is_since_then_cursor_then_lookback():
    responses.get(ORDERS_URL, json={"orders": []})
    pages = list(connector(Sleeps()).sync(None))                       # lookback_days (30) back from now
    assert query(responses.calls[0])["updated_at_min"] == "2024-09-20T12:00:30+00:00"
    assert pages == [Page(rows=[], cursor={"updated_at_min": "2024-09-20T12:00:30+00:00"}, table="conversions")]

    list(connector(Sleeps(), lookback_days=7).sync({}))
    assert query(responses.calls[1])["updated_at_min"] == "2024-10-13T12:00:30+00:00"

    stored = {"updated_at_min": "2024-10-02T11:15:00-04:00"}
    pages = list(connector(Sleeps()).sync(stored))                     # resume: nothing new, the cursor stays
    assert query(responses.calls[2])["updated_at_min"] == "2024-10-02T11:15:00-04:00"
    assert pages[0].cursor == stored

    list(connector(Sleeps()).sync(stored, since=date(2024, 9, 1)))    # an explicit backfill wins
    assert query(responses.calls[3])["updated_at_min"] == "2024-09-01T00:00:00+00:00"


@responses.activate
def test_test_connection_reads_one_order():
    responses.get(ORDERS_URL, json={"orders": [{"id": 450789469}]})
    connector(Sleeps()).test_connection()
    assert query(responses.calls[0]) == {"status": "any", "limit": "1", "fields": "id"}


@responses.activate
def test_429_waits_retry_after_then_succeeds():
    responses.get(ORDERS_URL, status=429, json={"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."},
                  headers={"Retry-After": "2.0"})
    responses.get(ORDERS_URL, json=page_fixture(2))
    sleeps = Sleeps()
    pages = list(connector(sleeps).sync(None))
    assert sleeps == [2.0]
    assert pages[0].rows[0]["order_id"] == "5501230003"
    assert len(responses.calls) == 2
    assert query(responses.calls[0]) == query(responses.calls[1])   # the same request again


@responses.activate
def test_429_without_retry_after_waits_rate_limit_wait():
    responses.get(ORDERS_URL, status=429, json={"errors": "Exceeded 2 calls per second for api client."})
    responses.get(ORDERS_URL, json=page_fixture(2))
    sleeps = Sleeps()
    list(connector(sleeps).sync(None))
    assert sleeps == [ShopifyConnector.rate_limit_wait] == [2.0]


@responses.activate
def test_503_backs_off_then_succeeds():
    responses.get(ORDERS_URL, status=503, body="Service Unavailable")
    responses.get(ORDERS_URL, status=502, body="Bad Gateway")
    responses.get(ORDERS_URL, json=page_fixture(1))
    sleeps = Sleeps()
    pages = list(connector(sleeps).sync(None))
    assert sleeps == [1.0, 2.0]
    assert len(pages[0].rows) == 2 and len(responses.calls) == 3


@responses.activate
def test_5xx_that_never_heals_is_retriable_after_max_retries():
    responses.get(ORDERS_URL, status=500, json={"errors": "Internal Server Error"})
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as info:
        list(connector(sleeps).sync(None))
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert len(responses.calls) == 6                                  # max_retries (5) + 1
    assert info.value.status == 500 and info.value.retriable is True
    assert str(info.value) == f"Shopify: GET {ORDERS_URL} failed after 5 retries: HTTP 500: Internal Server Error"


@responses.activate
def test_401_raises_at_once_with_shopifys_message():
    responses.get(ORDERS_URL, status=401, json={
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as info:
        list(connector(sleeps).sync(None))
    assert info.value.status == 401 and info.value.retriable is False
    assert str(info.value) == (f"Shopify: GET {ORDERS_URL} failed: HTTP 401: "
                               "[API] Invalid API key or access token (unrecognized login or wrong password)")
    assert len(responses.calls) == 1 and sleeps == []


@pytest.mark.parametrize("status, body, message", [
    (403, {"errors": "[API] This action requires merchant approval for read_orders scope."},
     "HTTP 403: [API] This action requires merchant approval for read_orders scope."),
    (404, {"errors": "Not Found"}, "HTTP 404: Not Found"),
    (422, {"errors": {"updated_at_min": ["is invalid"]}}, "HTTP 422: updated_at_min: is invalid"),
])
@responses.activate
def test_other_fatal_statuses_are_not_retried(status, body, message):
    responses.get(ORDERS_URL, status=status, json=body)
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as info:
        connector(sleeps).test_connection()
    assert str(info.value).endswith(message)
    assert info.value.status == status and info.value.retriable is False
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_the_token_never_shows_in_an_error():
    responses.get(ORDERS_URL, status=403, json={"errors": f"token {TOKEN} lacks read_orders"})
    with pytest.raises(ConnectorError) as info:
        connector(Sleeps()).test_connection()
    assert TOKEN not in str(info.value) and "token [redacted] lacks read_orders" in str(info.value)
    responses.replace(responses.GET, ORDERS_URL, status=503, body=f"upstream said {TOKEN}")
    with pytest.raises(ConnectorError) as info:
        connector(Sleeps()).test_connection()
    assert TOKEN not in str(info.value) and info.value.retriable is True


@responses.activate
def test_call_limit_header_pauses_before_next_call():
    responses.get(ORDERS_URL, json=page_fixture(1), headers={
        "Link": next_link("p2"), "X-Shopify-Shop-Api-Call-Limit": "39/40"})
    responses.get(ORDERS_URL, json=page_fixture(2), headers={"X-Shopify-Shop-Api-Call-Limit": "39/40"})
    sleeps = Sleeps()
    pages = connector(sleeps).sync(None)
    next(pages)
    assert sleeps == []                 # no pause until there is a next call
    next(pages)
    assert sleeps == [1.0]              # paused before page 2
    assert list(pages) == []
    assert sleeps == [1.0]              # no call after the last page, so no pause


@responses.activate
def test_call_limit_below_threshold_does_not_pause():
    responses.get(ORDERS_URL, json=page_fixture(1), headers={
        "Link": next_link("p2"), "X-Shopify-Shop-Api-Call-Limit": "31/40"})
    responses.get(ORDERS_URL, json=page_fixture(2))
    sleeps = Sleeps()
    assert len(list(connector(sleeps).sync(None))) == 2
    assert sleeps == []


@responses.activate
def test_an_order_without_total_price_stops_the_sync_naming_it():
    broken = page_fixture(1)
    del broken["orders"][1]["total_price"]
    responses.get(ORDERS_URL, json=broken)
    with pytest.raises(ConnectorError) as info:
        list(connector(Sleeps()).sync(None))
    assert str(info.value) == ("Shopify: order 5501230002: order 5501230002: total_price: expected a decimal amount "
                              "such as \"19.99\", found nothing")
    assert info.value.retriable is False


def test_naive_cursor_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next(connector(Sleeps()).order_pages(datetime(2024, 10, 1)))
