"""Shopify connector: payload -> Order, webhook HMAC, and the REST backfill client at the wire.

No database and no network: HTTP is answered by `responses`. Fixture sources are cited above each
loader; all are Admin REST API 2024-10 shapes.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from connectors.shopify import (
    ShopifyError,
    ShopifyOrdersClient,
    ShopifyPayloadError,
    order_from_shopify,
    refund_from_shopify,
    verify_shopify_hmac,
)

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
    assert order.codes == ["FALL20"]
    assert order.urls == ["/collections/fall?utm_source=instagram&utm_campaign=fall24"]  # empty referring_site skipped
    assert order.cancelled is False


def test_cents_are_exact_where_floats_drift():
    payload = copy.deepcopy(refunded_fixture())
    payload["total_price"] = "0.30"
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
# Backfill client at the wire


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(sleeps: Sleeps, **kwargs) -> ShopifyOrdersClient:
    return ShopifyOrdersClient(SHOP, "shpat_test_token", session=requests.Session(), sleep=sleeps, **kwargs)


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def next_link(page_info: str) -> str:
    # Shape per https://shopify.dev/docs/api/usage/pagination-rest
    return (f'<https://{SHOP}/admin/api/2024-10/orders.json?limit=250&page_info={page_info}>; rel="next"')


@responses.activate
def test_two_pages_follow_link_page_info_with_only_limit():
    responses.get(ORDERS_URL, json=page_fixture(1), headers={
        "Link": next_link("eyJsYXN0X2lkIjo1NTAxMjMwMDAyfQ"),
        "X-Shopify-Shop-Api-Call-Limit": "1/40"})
    responses.get(ORDERS_URL, json=page_fixture(2), headers={
        "Link": (f'<https://{SHOP}/admin/api/2024-10/orders.json?limit=250&page_info=cHJldg>; rel="previous"'),
        "X-Shopify-Shop-Api-Call-Limit": "2/40"})
    sleeps = Sleeps()
    since = datetime(2024, 10, 1, 0, 0, tzinfo=timezone.utc)
    pages = list(client(sleeps).iter_pages(updated_at_min=since))

    assert [[o["id"] for o in orders] for orders, _ in pages] == [[5501230001, 5501230002], [5501230003]]
    assert [cursor for _, cursor in pages] == ["2024-10-02T11:15:00-04:00", "2024-10-03T16:45:10-04:00"]
    assert len(responses.calls) == 2
    first, second = responses.calls
    assert query(first) == {"status": "any", "limit": "250", "order": "updated_at asc",
                            "updated_at_min": "2024-10-01T00:00:00+00:00"}
    assert query(second) == {"limit": "250", "page_info": "eyJsYXN0X2lkIjo1NTAxMjMwMDAyfQ"}
    for call in responses.calls:
        assert call.request.headers["X-Shopify-Access-Token"] == "shpat_test_token"
    assert sleeps == []


@responses.activate
def test_iter_orders_marks_cursor_only_at_page_end():
    responses.get(ORDERS_URL, json=page_fixture(1), headers={"Link": next_link("p2")})
    responses.get(ORDERS_URL, json=page_fixture(2))
    items = list(client(Sleeps()).iter_orders(updated_at_min=None))
    assert [(o["id"], c) for o, c in items] == [
        (5501230001, None),
        (5501230002, "2024-10-02T11:15:00-04:00"),
        (5501230003, "2024-10-03T16:45:10-04:00"),
    ]
    assert "updated_at_min" not in query(responses.calls[0])
    # and the raw orders normalise
    assert [order_from_shopify(o).total_cents for o, _ in items] == [4200, 1999, 40300]


@responses.activate
def test_resume_sends_stored_cursor_as_updated_at_min():
    responses.get(ORDERS_URL, json={"orders": []})
    pages = list(client(Sleeps()).iter_pages(updated_at_min="2024-10-02T11:15:00-04:00"))
    assert pages == [([], "2024-10-02T11:15:00-04:00")]   # nothing new: the cursor stays
    assert query(responses.calls[0])["updated_at_min"] == "2024-10-02T11:15:00-04:00"


def test_naive_cursor_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next(client(Sleeps()).iter_pages(updated_at_min=datetime(2024, 10, 1)))


@responses.activate
def test_429_waits_retry_after_then_succeeds():
    responses.get(ORDERS_URL, status=429, json={"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."},
                  headers={"Retry-After": "2.0"})
    responses.get(ORDERS_URL, json=page_fixture(2))
    sleeps = Sleeps()
    pages = list(client(sleeps).iter_pages(None))
    assert sleeps == [2.0]
    assert pages[0][0][0]["id"] == 5501230003
    assert len(responses.calls) == 2
    assert query(responses.calls[0]) == query(responses.calls[1])   # the same request again


@responses.activate
def test_429_without_retry_after_waits_default():
    responses.get(ORDERS_URL, status=429, json={"errors": "Exceeded 2 calls per second for api client."})
    responses.get(ORDERS_URL, json=page_fixture(2))
    sleeps = Sleeps()
    list(client(sleeps).iter_pages(None))
    assert sleeps == [2.0]


@responses.activate
def test_503_backs_off_then_succeeds():
    responses.get(ORDERS_URL, status=503, body="Service Unavailable")
    responses.get(ORDERS_URL, status=502, body="Bad Gateway")
    responses.get(ORDERS_URL, json=page_fixture(1))
    sleeps = Sleeps()
    pages = list(client(sleeps).iter_pages(None))
    assert sleeps == [1, 2]
    assert len(pages[0][0]) == 2


@responses.activate
def test_connection_error_backs_off_then_succeeds():
    responses.get(ORDERS_URL, body=requests.ConnectionError("connection reset"))
    responses.get(ORDERS_URL, json=page_fixture(2))
    sleeps = Sleeps()
    assert len(list(client(sleeps).iter_pages(None))) == 1
    assert sleeps == [1]


@responses.activate
def test_5xx_gives_up_after_max_retries():
    for _ in range(6):
        responses.get(ORDERS_URL, status=500, json={"errors": "Internal Server Error"})
    sleeps = Sleeps()
    with pytest.raises(ShopifyError) as info:
        list(client(sleeps).iter_pages(None))
    assert sleeps == [1, 2, 4, 8, 16]
    assert len(responses.calls) == 6
    assert info.value.status == 500
    assert "HTTP 500" in str(info.value) and "Internal Server Error" in str(info.value)
    assert "after 5 retries" in str(info.value)


@responses.activate
def test_401_raises_at_once_with_shopifys_message():
    responses.get(ORDERS_URL, status=401, json={
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
    sleeps = Sleeps()
    with pytest.raises(ShopifyError) as info:
        list(client(sleeps).iter_pages(None))
    assert info.value.status == 401
    assert "HTTP 401" in str(info.value)
    assert "[API] Invalid API key or access token (unrecognized login or wrong password)" in str(info.value)
    assert "shpat_test_token" not in str(info.value)
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_403_scope_error_dict_form():
    responses.get(ORDERS_URL, status=403, json={
        "errors": "[API] This action requires merchant approval for read_orders scope."})
    with pytest.raises(ShopifyError, match="HTTP 403: .*read_orders scope"):
        list(client(Sleeps()).iter_pages(None))
    responses.replace(responses.GET, ORDERS_URL, status=422, json={"errors": {"updated_at_min": ["is invalid"]}})
    with pytest.raises(ShopifyError, match="HTTP 422: updated_at_min: is invalid"):
        list(client(Sleeps()).iter_pages(None))


@responses.activate
def test_call_limit_header_pauses_before_next_call():
    responses.get(ORDERS_URL, json=page_fixture(1), headers={
        "Link": next_link("p2"), "X-Shopify-Shop-Api-Call-Limit": "39/40"})
    responses.get(ORDERS_URL, json=page_fixture(2), headers={"X-Shopify-Shop-Api-Call-Limit": "39/40"})
    sleeps = Sleeps()
    pages = client(sleeps).iter_pages(None)
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
    assert len(list(client(sleeps).iter_pages(None))) == 2
    assert sleeps == []


def test_shop_domain_is_normalised_and_checked():
    assert ShopifyOrdersClient("https://JSmith.myshopify.com/", "t").orders_url == ORDERS_URL
    assert ShopifyOrdersClient(SHOP, "t", api_version="2025-01").orders_url.endswith("/admin/api/2025-01/orders.json")
    with pytest.raises(ValueError):
        ShopifyOrdersClient("jsmith.myshopify.com/admin", "t")
