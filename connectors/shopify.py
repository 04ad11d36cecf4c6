"""Shopify: order payloads -> Order (webhooks and backfill alike), and the pull connector that
backfills orders through the Admin REST API as rows of the hub's `conversions` table.

Written against the Shopify Admin REST API 2024-10:
  - Order resource: https://shopify.dev/docs/api/admin-rest/2024-10/resources/order
  - Refund resource: https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund
  - Webhooks (HTTPS delivery, HMAC): https://shopify.dev/docs/apps/build/webhooks/subscribe/https
  - Cursor pagination (Link header, page_info): https://shopify.dev/docs/api/usage/pagination-rest
  - REST rate limits (leaky bucket, 429 + Retry-After, X-Shopify-Shop-Api-Call-Limit):
    https://shopify.dev/docs/api/usage/rate-limits
  - Admin API access tokens (X-Shopify-Access-Token): https://shopify.dev/docs/api/usage/authentication

Webhook request headers Shopify sends with each delivery (what an endpoint reads):
  X-Shopify-Topic (e.g. "orders/updated"), X-Shopify-Hmac-Sha256 (base64 HMAC of the raw body),
  X-Shopify-Shop-Domain ("shop.myshopify.com"), X-Shopify-API-Version ("2024-10"),
  X-Shopify-Webhook-Id (one per delivery attempt set; dedupe key), X-Shopify-Event-Id (the event;
  the same event can arrive under several topics), X-Shopify-Triggered-At (when the event fired).
The signature check itself is on the push side (webhooks/signatures.py, verify_shopify_hmac); this
module only interprets payloads (order_from_shopify, refund_from_shopify, topic_mismatch).

Backfill (ShopifyConnector): GET /admin/api/{version}/orders.json?status=any&limit=250&order=updated_at
asc&updated_at_min=..., then the Link header's rel="next" page_info; each page is a Page of conversions
rows whose cursor is {"updated_at_min": the newest updated_at seen}. Retries are the shared policy
(connectors.base); a bucket X-Shopify-Shop-Api-Call-Limit at 80% or more pauses before the next call.
"""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import requests

from connectors.base import DEFAULT_MAX_RETRIES, Connector, ConnectorError, Page
from connectors.http import parse_datetime, to_cents, to_decimal
from connectors.orders import Order

PLATFORM = "shopify"
DEFAULT_API_VERSION = "2024-10"
PAGE_LIMIT = 250                 # the most the REST orders endpoint returns per page
CALL_LIMIT_THRESHOLD = 0.8       # bucket at least 80% full ...
CALL_LIMIT_PAUSE_SECONDS = 1.0   # ... -> pause this long before the next call (the bucket leaks 2 calls/s)


class ShopifyPayloadError(ConnectorError, ValueError):
    """A webhook or API payload that lacks what an order needs (id, created_at, total_price ...)."""


# ---------------------------------------------------------------------------------------------
# Payload -> Order


def _unwrap(payload: dict, key: str) -> dict:
    """Older shapes (and single-resource REST responses) wrap the object: {"order": {...}}."""
    if not isinstance(payload, dict):
        raise ShopifyPayloadError(f"expected a JSON object, got {type(payload).__name__}")
    inner = payload.get(key)
    if "id" not in payload and isinstance(inner, dict):
        return inner
    return payload


def _field_datetime(obj: dict, name: str) -> datetime:
    try:
        return parse_datetime(obj.get(name), name)
    except ValueError as exc:
        raise ShopifyPayloadError(str(exc)) from None


def _cents(value, what: str) -> int:
    try:
        return to_cents(value, what)
    except ValueError as exc:
        raise ShopifyPayloadError(str(exc)) from None


def _successful_refund_transactions(refund: dict) -> list[dict]:
    # A refund's money is in its transactions: only kind "refund" with status "success" moved money
    # back ("pending", "failure", "error" did not).
    return [t for t in (refund.get("transactions") or [])
            if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") == "success"]


def _total_minus_refunds(order: dict, order_id: str, currency: str | None) -> int:
    """The fallback for payloads without current_total_price (older API versions): total_price (the
    original total, shop currency, which does not shrink with refunds) minus the successful refund
    transactions in the shop currency. A refund in another currency (a multi-currency presentment
    refund) cannot be subtracted exactly and is left out."""
    if order.get("total_price") in (None, ""):
        raise ShopifyPayloadError(f"order {order_id}: total_price: expected a decimal amount such as \"19.99\", found nothing")
    total_cents = _cents(order["total_price"], "total_price")
    refunded = Decimal(0)
    for refund in order.get("refunds") or []:
        if not isinstance(refund, dict):
            continue
        for transaction in _successful_refund_transactions(refund):
            tx_currency = transaction.get("currency")
            if currency and tx_currency and tx_currency != currency:
                continue
            try:
                refunded += to_decimal(transaction.get("amount"), "refund amount")
            except ValueError as exc:
                raise ShopifyPayloadError(str(exc)) from None
    return total_cents - _cents(refunded, "refunds")


def _discount_codes(order: dict) -> list[str]:
    """discount_codes[].code, then discount_applications[] of type "discount_code" (their `code`):
    a code that only the applications list carries (Shopify's newer payloads, some apps) still counts.
    Each code once, as typed."""
    codes: list[str] = []
    entries = list(order.get("discount_codes") or [])
    entries += [a for a in order.get("discount_applications") or []
                if isinstance(a, dict) and a.get("type") == "discount_code"]
    for entry in entries:
        code = entry.get("code") if isinstance(entry, dict) else entry
        if isinstance(code, str) and code.strip() and code.strip() not in codes:
            codes.append(code.strip())
    return codes


def _utm_parameters(order: dict) -> dict[str, str]:
    """utm_* parameters from landing_site's query (the first page the buyer saw), then from
    note_attributes ([{"name": "utm_campaign", "value": "..."}], where cart scripts and apps keep
    them). The landing page's value wins where both say."""
    utm: dict[str, str] = {}
    landing = order.get("landing_site")
    if isinstance(landing, str) and "?" in landing:
        for name, values in parse_qs(urlsplit(landing.strip()).query).items():
            if name.lower().startswith("utm_") and values and values[0].strip():
                utm.setdefault(name.lower(), values[0].strip())
    for attribute in order.get("note_attributes") or []:
        if not isinstance(attribute, dict):
            continue
        name, value = attribute.get("name"), attribute.get("value")
        if isinstance(name, str) and name.strip().lower().startswith("utm_") and isinstance(value, str) and value.strip():
            utm.setdefault(name.strip().lower(), value.strip())
    return utm


def order_from_shopify(payload: dict, topic: str | None = None, triggered_at: datetime | str | None = None) -> Order:
    """A Shopify order object (webhook orders/create|updated|paid|cancelled, or one item of
    GET /admin/api/2024-10/orders.json) -> Order.

    Only the signed body decides what the order is: the unsigned X-Shopify-Topic and
    X-Shopify-Triggered-At headers could be replayed with any value over a captured body (issue 15).
    `topic` is accepted for callers and ignored; `triggered_at` is a time taken from a signed body
    (a refund's processed_at), used as version_at when newer than the order's updated_at."""
    order = _unwrap(payload, "order")
    if order.get("id") in (None, ""):
        raise ShopifyPayloadError("order has no id")
    order_id = str(order["id"])

    # created_at: when the order was placed (ISO 8601 with the shop's offset).
    occurred_at = _field_datetime(order, "created_at")

    # updated_at is Shopify's "as of"; a signed refund's processed_at wins when newer.
    version_at = _field_datetime(order, "updated_at") if order.get("updated_at") else None
    if triggered_at is not None:
        try:
            triggered = parse_datetime(triggered_at, "X-Shopify-Triggered-At")
        except ValueError as exc:
            raise ShopifyPayloadError(str(exc)) from None
        if version_at is None or triggered > version_at:
            version_at = triggered

    # currency: the shop currency, which total_price and (normally) refund transactions are in.
    currency = order.get("currency") or None

    # current_total_price: Shopify's own figure, in the shop currency, for what the order is worth now
    # (after refunds, order edits and removed items). It is what Shopify's admin shows, so it wins
    # when present (the 2023+ API versions and every webhook carry it).
    if order.get("current_total_price") not in (None, ""):
        total_cents = _cents(order["current_total_price"], "current_total_price")
    else:
        total_cents = _total_minus_refunds(order, order_id, currency)

    financial_status = (order.get("financial_status") or "").lower()
    # financial_status "refunded": everything went back, whatever the figures say.
    if financial_status == "refunded":
        total_cents = 0
    total_cents = max(total_cents, 0)

    # cancelled_at not null or financial_status "voided" (authorisation voided, no money taken)
    # -> cancelled. Never the topic header: it is not signed.
    cancelled = bool(order.get("cancelled_at")) or financial_status == "voided"

    # Codes from discount_codes and discount_applications; a utm_campaign (landing URL or note
    # attributes) that names a code counts as that code, after the codes typed at checkout.
    codes = _discount_codes(order)
    utm = _utm_parameters(order)
    campaign = utm.get("utm_campaign")
    if campaign and campaign not in codes:
        codes.append(campaign)

    # landing_site first (often a path and query such as "/products/x?ref=abc"; kept as sent,
    # the attribution code joins relative paths with the shop domain), then referring_site.
    urls: list[str] = []
    for key in ("landing_site", "referring_site"):
        value = order.get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in urls:
            urls.append(value.strip())

    return Order(
        platform=PLATFORM,
        order_id=order_id,
        occurred_at=occurred_at,
        total_cents=total_cents,
        currency=currency,
        codes=codes,
        utm=utm,
        urls=urls,
        cancelled=cancelled,
        # cancel_reason: customer, fraud, inventory, declined, staff or other (null while not cancelled).
        cancel_reason=order.get("cancel_reason") or None,
        # test: placed through a test gateway (Bogus Gateway, Shopify Payments test mode).
        test=order.get("test") is True,
        kind="order",
        version_at=version_at,
        payload=order,
    )


ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")


def topic_mismatch(topic: str, payload) -> str | None:
    """Why the X-Shopify-Topic header does not fit the signed body, or None when it does.

    The header is not signed, so it may only choose among readings the body itself supports."""
    if topic in ORDER_TOPICS:
        order = _unwrap(payload, "order") if isinstance(payload, dict) else None
        if not isinstance(order, dict) or "order_id" in order or "total_price" not in order:
            return f"X-Shopify-Topic is {topic} but the body is not an order (expected total_price and no order_id)"
        if topic == "orders/cancelled" and not order.get("cancelled_at"):
            return "X-Shopify-Topic is orders/cancelled but the body's cancelled_at is null"
    elif topic == "refunds/create":
        refund = _unwrap(payload, "refund") if isinstance(payload, dict) else None
        if not isinstance(refund, dict) or refund.get("order_id") in (None, "") or "total_price" in refund:
            return "X-Shopify-Topic is refunds/create but the body is not a refund (expected order_id and no total_price)"
    return None


def refund_from_shopify(payload: dict) -> tuple[str, int, datetime]:
    """A refunds/create webhook body (a Refund object) -> (order_id, refund_cents, processed_at).

    refund_cents sums the transactions of kind "refund" with status "success"; processed_at falls
    back to created_at when absent."""
    refund = _unwrap(payload, "refund")
    if refund.get("order_id") in (None, ""):
        raise ShopifyPayloadError("refund has no order_id")
    total = Decimal(0)
    for transaction in _successful_refund_transactions(refund):
        try:
            total += to_decimal(transaction.get("amount"), "refund amount")
        except ValueError as exc:
            raise ShopifyPayloadError(str(exc)) from None
    when = "processed_at" if refund.get("processed_at") else "created_at"
    return str(refund["order_id"]), _cents(total, "refund"), _field_datetime(refund, when)



def order_with_refund(order_payload: dict, refund_payload: dict) -> dict:
    """The order as it stands after a refunds/create webhook: the refund added to its refunds (once:
    a replay adds nothing) and, when the order carries Shopify's current_total_price, that figure
    lowered by the refund's successful transactions in the shop currency. Shopify's next
    orders/updated brings its own figure, which then wins by its newer updated_at."""
    order = dict(_unwrap(order_payload, "order"))
    refund = _unwrap(refund_payload, "refund")
    refunds = list(order.get("refunds") or [])
    if any(isinstance(r, dict) and str(r.get("id")) == str(refund.get("id")) for r in refunds):
        return order
    order["refunds"] = refunds + [refund]
    current = order.get("current_total_price")
    if current not in (None, ""):
        currency = order.get("currency")
        refunded = Decimal(0)
        for transaction in _successful_refund_transactions(refund):
            if currency and transaction.get("currency") and transaction.get("currency") != currency:
                continue  # a presentment-currency amount cannot be taken from a shop-currency total
            try:
                refunded += to_decimal(transaction.get("amount"), "refund amount")
            except ValueError as exc:
                raise ShopifyPayloadError(str(exc)) from None
        try:
            remaining = max(to_decimal(current, "current_total_price") - refunded, Decimal(0))
        except ValueError as exc:
            raise ShopifyPayloadError(str(exc)) from None
        order["current_total_price"] = f"{remaining:.2f}"
    return order

# ---------------------------------------------------------------------------------------------
# Order -> a conversions row


def _text(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def conversion_row(order: Order) -> dict:
    """An Order from order_from_shopify as a record of the hub's `conversions` table, JSON-safe
    (text and integers only): times in ISO 8601 with their offset, money in integer cents after
    refunds, the discount codes comma-separated, the landing and referring URLs as Shopify sent them."""
    landing = _text(order.payload.get("landing_site"))
    referring = _text(order.payload.get("referring_site"))
    return {
        "order_id": order.order_id,
        "occurred_at": order.occurred_at.isoformat(),
        "updated_at": order.version_at.isoformat() if order.version_at else None,
        "revenue_cents": order.total_cents,
        "currency": order.currency,
        "promo_code": ",".join(order.codes) or None,
        "landing_url": landing,
        "referring_url": referring if referring != landing else None,
        "status": "cancelled" if order.cancelled else "paid",
        "kind": order.kind,
        # The order as Shopify sent it, kept with its attribution so a later refunds/create can rebuild it.
        "payload": order.payload,
    }


# ---------------------------------------------------------------------------------------------
# The backfill connector


def normalise_shop(value: str) -> str:
    """"https://JSmith.myshopify.com/" -> "jsmith.myshopify.com"."""
    domain = value.strip().lower()
    for prefix in ("https://", "http://"):
        domain = domain.removeprefix(prefix)
    return domain.strip("/")


def _format_cursor(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        parse_datetime(value, "updated_at_min")  # refuse a cursor Shopify would misread
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("updated_at_min must be timezone-aware")
    return value.isoformat()


def _next_page_info(response: requests.Response) -> str | None:
    # Link: <https://shop/admin/api/2024-10/orders.json?limit=250&page_info=abc>; rel="next", <...>; rel="previous"
    link = response.links.get("next")
    if not link or not link.get("url"):
        return None
    values = parse_qs(urlsplit(link["url"]).query).get("page_info")
    return values[0] if values else None


class ShopifyConnector(Connector):
    """Orders, oldest update first, as conversions rows. 401 (bad token), 402 (shop frozen),
    403 (missing read_orders scope), 404 (no such shop or API version) and 422 fail at once."""

    name = "shopify"
    title = "Shopify"
    rate_limit_wait = 2.0  # a 429 without Retry-After (Shopify's REST 429s carry "Retry-After: 2.0")
    config_schema = {
        "type": "object",
        "properties": {
            "shop": {"type": "string", "pattern": r"[a-z0-9][a-z0-9-]*\.myshopify\.com",
                     "description": "the shop's permanent domain, <name>.myshopify.com"},
            "access_token": {"type": "string",
                             "description": "Admin API access token (shpat_...) with the read_orders scope"},
            "api_version": {"type": "string", "pattern": r"\d{4}-\d{2}|unstable", "default": DEFAULT_API_VERSION,
                            "description": "Admin API version, e.g. 2024-10"},
            "lookback_days": {"type": "integer", "minimum": 1, "maximum": 3660, "default": 30},
        },
        "required": ["shop", "access_token"],
        "secret": ["access_token"],
        "additionalProperties": False,
    }

    def __init__(self, config: dict, *args, **kwargs):
        if isinstance(config, dict) and isinstance(config.get("shop"), str):
            config = {**config, "shop": normalise_shop(config["shop"])}
        super().__init__(config, *args, **kwargs)
        self._pause_before_next = 0.0

    @property
    def orders_url(self) -> str:
        return f"https://{self.config['shop']}/admin/api/{self.config['api_version']}/orders.json"

    def auth_headers(self) -> dict:
        return {"X-Shopify-Access-Token": self.config["access_token"]}

    # -- call-limit pacing --------------------------------------------------------------------------

    def after_response(self, response: requests.Response) -> None:
        # X-Shopify-Shop-Api-Call-Limit: "39/40" = calls in the bucket / bucket size.
        header = response.headers.get("X-Shopify-Shop-Api-Call-Limit")
        if not header or "/" not in header:
            return
        used, _, size = header.partition("/")
        try:
            used_n, size_n = int(used.strip()), int(size.strip())
        except ValueError:
            return
        if size_n > 0 and used_n / size_n >= CALL_LIMIT_THRESHOLD:
            self._pause_before_next = CALL_LIMIT_PAUSE_SECONDS

    def before_request(self) -> None:
        if self._pause_before_next:
            pause, self._pause_before_next = self._pause_before_next, 0.0
            self.sleep(pause)

    # -- the contract -------------------------------------------------------------------------------

    def test_connection(self) -> None:
        """One order's id: proves the shop, the token and the read_orders scope the sync needs."""
        body = self.json(self.get(self.orders_url, params={"status": "any", "limit": 1, "fields": "id"}), "orders")
        if not isinstance(body, dict) or not isinstance(body.get("orders"), list):
            raise self.fail(f"orders: unexpected body {str(body)[:200]!r}")

    def sync(self, cursor: dict | None, since: date | None = None) -> Iterator[Page]:
        """Pages of conversions rows from `since` (midnight UTC; an explicit backfill wins), else the
        cursor's updated_at_min, else `lookback_days` back. updated_at_min is inclusive, so on resume
        the boundary order comes again; the same version changes nothing."""
        for orders, page_cursor in self.order_pages(self.start(cursor, since)):
            rows = []
            for raw in orders:
                try:
                    rows.append(conversion_row(order_from_shopify(raw)))
                except ShopifyPayloadError as exc:
                    shown = raw.get("id") if isinstance(raw, dict) else None
                    raise self.fail(f"order {shown}: {exc}") from None
            yield Page(rows=rows, cursor={"updated_at_min": page_cursor} if page_cursor else {}, table="conversions")

    def start(self, cursor: dict | None, since: date | None) -> str:
        if since is not None:
            return datetime(since.year, since.month, since.day, tzinfo=timezone.utc).isoformat()
        stored = (cursor or {}).get("updated_at_min")
        if stored:
            return stored
        lookback = timedelta(days=int(self.config["lookback_days"]))
        return (self.now().astimezone(timezone.utc) - lookback).replace(microsecond=0).isoformat()

    def order_pages(self, updated_at_min: datetime | str | None = None) -> Iterator[tuple[list[dict], str | None]]:
        """Yield (raw orders, cursor after the page). The cursor is the newest updated_at seen so far
        (Shopify's text, offset included), or updated_at_min while nothing newer has come."""
        cursor = _format_cursor(updated_at_min)
        params: dict = {"status": "any", "limit": PAGE_LIMIT, "order": "updated_at asc"}
        if cursor is not None:
            params["updated_at_min"] = cursor
        newest: datetime | None = parse_datetime(cursor) if cursor else None
        while True:
            response = self.get(self.orders_url, params=params)
            body = self.json(response, "orders")
            orders = body.get("orders") if isinstance(body, dict) else None
            if not isinstance(orders, list):
                raise self.fail(f"orders: unexpected body {response.text[:200]!r}", status=response.status_code)
            for order in orders:
                stamp = order.get("updated_at") if isinstance(order, dict) else None
                if stamp:
                    try:
                        when = parse_datetime(stamp, "updated_at")
                    except ValueError as exc:
                        raise self.fail(f"order {order.get('id')}: {exc}") from None
                    if newest is None or when >= newest:
                        newest, cursor = when, stamp
            yield orders, cursor
            page_info = _next_page_info(response)
            if not page_info:
                return
            # With page_info, Shopify refuses every other filter: only limit (and fields) may go along.
            params = {"limit": PAGE_LIMIT, "page_info": page_info}
