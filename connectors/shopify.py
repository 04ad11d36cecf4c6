"""Shopify: order webhooks -> Order, webhook HMAC check, and the REST backfill client.

Written against the Shopify Admin REST API 2024-10:
  - Order resource: https://shopify.dev/docs/api/admin-rest/2024-10/resources/order
  - Refund resource: https://shopify.dev/docs/api/admin-rest/2024-10/resources/refund
  - Webhooks (HTTPS delivery, HMAC): https://shopify.dev/docs/apps/build/webhooks/subscribe/https
  - Cursor pagination (Link header, page_info): https://shopify.dev/docs/api/usage/pagination-rest
  - REST rate limits (leaky bucket, 429 + Retry-After): https://shopify.dev/docs/api/usage/rate-limits

Webhook request headers Shopify sends with each delivery (what an endpoint reads):
  X-Shopify-Topic (e.g. "orders/updated"), X-Shopify-Hmac-Sha256 (base64 HMAC of the raw body),
  X-Shopify-Shop-Domain ("shop.myshopify.com"), X-Shopify-API-Version ("2024-10"),
  X-Shopify-Webhook-Id (one per delivery attempt set; dedupe key), X-Shopify-Event-Id (the event;
  the same event can arrive under several topics), X-Shopify-Triggered-At (when the event fired).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime
from decimal import Decimal
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import requests

from connectors.http import backoff_seconds, parse_datetime, retry_after_delay, to_cents, to_decimal
from connectors.orders import Order

PLATFORM = "shopify"
DEFAULT_API_VERSION = "2024-10"
PAGE_LIMIT = 250                 # the most the REST orders endpoint returns per page
CALL_LIMIT_THRESHOLD = 0.8       # bucket at least 80% full ...
CALL_LIMIT_PAUSE_SECONDS = 1.0   # ... -> pause this long before the next call (the bucket leaks 2 calls/s)
REQUEST_TIMEOUT_SECONDS = 30


class ShopifyError(RuntimeError):
    """A Shopify call that failed for good (after retries, or a 4xx that retrying cannot fix)."""

    def __init__(self, message: str, status: int | None = None, errors=None):
        super().__init__(message)
        self.status = status
        self.errors = errors


class ShopifyPayloadError(ShopifyError, ValueError):
    """A webhook or API payload that lacks what an order needs (id, created_at, total_price ...)."""


# ---------------------------------------------------------------------------------------------
# Webhook HMAC


def verify_shopify_hmac(secret: str, raw_body: bytes, header_value: str | None) -> bool:
    """True when X-Shopify-Hmac-Sha256 is base64(HMAC-SHA256(app secret, raw body)).

    Use the body bytes exactly as received (before any JSON parsing). Compared in constant time."""
    if not header_value or not secret:
        return False
    if isinstance(raw_body, str):
        raw_body = raw_body.encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    try:
        given = header_value.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)


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

    # total_price: a decimal string in the shop currency, the original total (it does not shrink
    # when money is refunded, which is why the refunds are subtracted below).
    if order.get("total_price") in (None, ""):
        raise ShopifyPayloadError(f"order {order_id} has no total_price")
    total_cents = _cents(order["total_price"], "total_price")

    # refunds[].transactions[] with kind "refund" and status "success": subtract, exactly.
    # A transaction in another currency (a multi-currency presentment refund) cannot be subtracted
    # exactly from a shop-currency total; then Shopify's own current_total_price (shop currency,
    # reflects refunds) is used when present, else that transaction is left out.
    refunded = Decimal(0)
    foreign_refund = False
    for refund in order.get("refunds") or []:
        if not isinstance(refund, dict):
            continue
        for transaction in _successful_refund_transactions(refund):
            tx_currency = transaction.get("currency")
            if currency and tx_currency and tx_currency != currency:
                foreign_refund = True
                continue
            try:
                refunded += to_decimal(transaction.get("amount"), "refund amount")
            except ValueError as exc:
                raise ShopifyPayloadError(str(exc)) from None
    if foreign_refund and order.get("current_total_price") not in (None, ""):
        total_cents = _cents(order["current_total_price"], "current_total_price")
    else:
        total_cents -= _cents(refunded, "refunds")

    financial_status = (order.get("financial_status") or "").lower()
    # financial_status "refunded": everything went back, whatever the transactions say.
    if financial_status == "refunded":
        total_cents = 0
    total_cents = max(total_cents, 0)

    # cancelled_at not null or financial_status "voided" (authorisation voided, no money taken)
    # -> cancelled. Never the topic header: it is not signed.
    cancelled = bool(order.get("cancelled_at")) or financial_status == "voided"

    # discount_codes: [{code, amount, type}]; older payloads omit "type". Keep each code once.
    codes: list[str] = []
    for entry in order.get("discount_codes") or []:
        code = entry.get("code") if isinstance(entry, dict) else entry
        if isinstance(code, str) and code.strip() and code.strip() not in codes:
            codes.append(code.strip())

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
        urls=urls,
        cancelled=cancelled,
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


# ---------------------------------------------------------------------------------------------
# Backfill client


def _errors_text(response: requests.Response):
    """Shopify's error body: {"errors": "text"} or {"errors": {"field": ["msg"]}} or {"error": ...}."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or "").strip()[:500] or response.reason
    if isinstance(body, dict):
        errors = body.get("errors", body.get("error"))
        if errors is not None:
            return errors
    return body


def _format_errors(errors) -> str:
    if isinstance(errors, dict):
        parts = []
        for key, value in errors.items():
            value = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(value if key == "base" else f"{key}: {value}")
        return "; ".join(parts)
    if isinstance(errors, list):
        return "; ".join(map(str, errors))
    return str(errors)


def _format_cursor(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        parse_datetime(value, "updated_at_min")  # refuse a cursor Shopify would misread
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("updated_at_min must be timezone-aware")
    return value.isoformat()


class ShopifyOrdersClient:
    """Pages through GET /admin/api/{version}/orders.json oldest update first, for backfills and
    catch-up syncs. Retries 429 (after Retry-After) and 5xx / connection errors (1, 2, 4, 8, 16 s);
    raises ShopifyError on anything else or once `max_retries` retries are spent."""

    def __init__(self, shop_domain: str, access_token: str, api_version: str = DEFAULT_API_VERSION,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_retries: int = 5):
        domain = shop_domain.strip().lower()
        for prefix in ("https://", "http://"):
            if domain.startswith(prefix):
                domain = domain[len(prefix):]
        domain = domain.strip("/")
        if not domain or "/" in domain:
            raise ValueError(f"shop_domain should look like 'shop.myshopify.com', got {shop_domain!r}")
        self.shop_domain = domain
        self.api_version = api_version
        self.session = session or requests.Session()
        self.sleep = sleep
        self.max_retries = max_retries
        self._access_token = access_token
        self._pause_before_next = 0.0

    @property
    def orders_url(self) -> str:
        return f"https://{self.shop_domain}/admin/api/{self.api_version}/orders.json"

    def iter_pages(self, updated_at_min: datetime | str | None = None) -> Iterator[tuple[list[dict], str | None]]:
        """Yield (orders, cursor_after_page) per page. Store the cursor after handling each page and
        pass it back as `updated_at_min` to resume. The cursor is the newest updated_at seen so far
        (Shopify's text, offset included); updated_at_min is inclusive, so on resume the boundary
        order comes again, and an order with the same version_at changes nothing."""
        cursor = _format_cursor(updated_at_min)
        params: dict = {"status": "any", "limit": PAGE_LIMIT, "order": "updated_at asc"}
        if cursor is not None:
            params["updated_at_min"] = cursor
        newest: datetime | None = parse_datetime(cursor) if cursor else None
        while True:
            response = self._get(self.orders_url, params)
            try:
                orders = response.json()["orders"]
            except (ValueError, KeyError, TypeError):
                raise ShopifyError(f"Shopify returned an unexpected orders body: {response.text[:200]!r}",
                                   status=response.status_code) from None
            for order in orders:
                stamp = order.get("updated_at") if isinstance(order, dict) else None
                if stamp:
                    when = parse_datetime(stamp, "updated_at")
                    if newest is None or when >= newest:
                        newest, cursor = when, stamp
            yield orders, cursor
            page_info = self._next_page_info(response)
            if not page_info:
                return
            # With page_info, Shopify refuses every other filter: only limit (and fields) may go along.
            params = {"limit": PAGE_LIMIT, "page_info": page_info}

    def iter_orders(self, updated_at_min: datetime | str | None = None) -> Iterator[tuple[dict, str | None]]:
        """Yield (order, cursor) for every order. The cursor is None except on the last order of
        each page, where it is that page's cursor: store it only when it is not None."""
        for orders, cursor in self.iter_pages(updated_at_min):
            for index, order in enumerate(orders):
                yield order, (cursor if index == len(orders) - 1 else None)

    # -- transport ------------------------------------------------------------------------------

    @staticmethod
    def _next_page_info(response: requests.Response) -> str | None:
        # Link: <https://shop/admin/api/2024-10/orders.json?limit=250&page_info=abc>; rel="next", <...>; rel="previous"
        link = response.links.get("next")
        if not link or not link.get("url"):
            return None
        values = parse_qs(urlsplit(link["url"]).query).get("page_info")
        return values[0] if values else None

    def _get(self, url: str, params: dict) -> requests.Response:
        headers = {"X-Shopify-Access-Token": self._access_token, "Accept": "application/json"}
        retries = 0
        while True:
            if self._pause_before_next:
                self.sleep(self._pause_before_next)
                self._pause_before_next = 0.0
            try:
                response = self.session.get(url, params=params, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if retries >= self.max_retries:
                    raise ShopifyError(f"Shopify GET {url} failed after {retries} retries: {exc.__class__.__name__}: {exc}") from exc
                self.sleep(backoff_seconds(retries))
                retries += 1
                continue

            status = response.status_code
            if status == 429 or status >= 500:
                if retries >= self.max_retries:
                    errors = _errors_text(response)
                    raise ShopifyError(f"Shopify GET {url} failed after {retries} retries: HTTP {status}: "
                                       f"{_format_errors(errors)}", status=status, errors=errors)
                if status == 429:
                    delay = retry_after_delay(response.headers.get("Retry-After"), default=2.0)
                else:
                    delay = backoff_seconds(retries)
                self.sleep(delay)
                retries += 1
                continue
            if status >= 400:
                # 401 (bad token), 402 (shop frozen), 403 (missing scope), 404 (no such shop/version) ...:
                # retrying will not help. Keep Shopify's own words.
                errors = _errors_text(response)
                raise ShopifyError(f"Shopify GET {url} failed: HTTP {status}: {_format_errors(errors)}",
                                   status=status, errors=errors)

            self._note_call_limit(response.headers.get("X-Shopify-Shop-Api-Call-Limit"))
            return response

    def _note_call_limit(self, header: str | None) -> None:
        # X-Shopify-Shop-Api-Call-Limit: "39/40" = calls in the bucket / bucket size.
        if not header or "/" not in header:
            return
        used, _, size = header.partition("/")
        try:
            used_n, size_n = int(used.strip()), int(size.strip())
        except ValueError:
            return
        if size_n > 0 and used_n / size_n >= CALL_LIMIT_THRESHOLD:
            self._pause_before_next = CALL_LIMIT_PAUSE_SECONDS
