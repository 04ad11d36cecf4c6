"""Wix: webhook JWT -> WixEvent -> Order (eCom orders) or lead (Wix Forms submissions).

Sources (Wix docs, as of 2024-2025):
  - Webhook structure: https://dev.wix.com/docs/rest/articles/get-started/webhook-structure
    The POST body is a JWT signed RS256 by Wix; verify it with the app's public key (app dashboard,
    "Webhooks" -> "Get Public Key"). Decoded claims: {"data": "<JSON string>", "iat", "exp"};
    data -> {"eventType", "instanceId", "data": "<JSON string>", "identity": "<JSON string>"};
    inner data -> {"id", "entityFqdn", "slug", "entityId", "eventTime", "triggeredByAnonymizeRequest",
    "originatedFrom", and one of actionEvent {body} | createdEvent {entity} |
    updatedEvent {currentEntity} | deletedEvent {...}}.
  - eCom Orders v1 webhooks (Order Approved, Payment Status Updated, Order Canceled):
    https://dev.wix.com/docs/rest/business-solutions/e-commerce/orders/order-approved
    https://dev.wix.com/docs/rest/business-solutions/e-commerce/orders/orders/payment-status-updated
    actionEvent.body = {"order": {...}} (+ "previousPaymentStatus" for payment status updates).
  - eCom Order object: https://dev.wix.com/docs/rest/business-solutions/e-commerce/orders/order-object
  - Forms v4 Submission Created: https://dev.wix.com/docs/rest/crm/forms/form-submissions/submission-created
    createdEvent.entity = a submission {id, formId, namespace, status, submissions: {field: value},
    createdDate, updatedDate, ...}.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import jwt

from connectors.http import parse_datetime, to_cents, to_decimal
from connectors.orders import Order

PLATFORM = "wix"
ALGORITHM = "RS256"
CLOCK_LEEWAY_SECONDS = 60   # tolerance for exp/iat against Wix's clock

ORDER_APPROVED = "wix.ecom.v1.order_approved"
ORDER_PAYMENT_STATUS_UPDATED = "wix.ecom.v1.order_payment_status_updated"
ORDER_CANCELED = "wix.ecom.v1.order_canceled"
SUBMISSION_CREATED = "wix.forms.v4.submission_created"
ORDER_EVENTS = (ORDER_APPROVED, ORDER_PAYMENT_STATUS_UPDATED, ORDER_CANCELED)


class WixError(ValueError):
    """A webhook that cannot be trusted or understood: bad signature, wrong algorithm, malformed
    body, missing fields. The endpoint should answer 4xx and not process it."""


@dataclass
class WixEvent:
    event_id: str                 # inner data.id: the event's id (dedupe key), not the entity's
    event_type: str               # e.g. "wix.ecom.v1.order_approved"
    instance_id: str | None       # the app instance = the Wix site the event is about
    entity_fqdn: str | None       # e.g. "wix.ecom.v1.order"
    slug: str | None              # e.g. "approved", "created"
    event_time: datetime          # aware
    body: dict                    # actionEvent.body, createdEvent.entity or updatedEvent.currentEntity
    entity_id: str | None = None
    identity: dict = field(default_factory=dict)   # who triggered it (identityType, memberId, ...)
    raw: dict = field(default_factory=dict)        # the inner event object as decoded


def _public_key(public_key_pem: str) -> str:
    key = (public_key_pem or "").strip()
    if not key:
        raise WixError("no Wix public key configured")
    if "-----BEGIN" not in key:
        # The dashboard key is sometimes pasted as the bare base64 body: restore the PEM armour.
        body = re.sub(r"\s+", "", key)
        key = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(body[i:i + 64] for i in range(0, len(body), 64)) \
            + "\n-----END PUBLIC KEY-----"
    return key


def _json_field(container: dict, name: str, where: str, required: bool = True) -> dict:
    """Wix nests JSON as strings ("data", "identity"); tolerate an already-decoded object."""
    value = container.get(name)
    if value is None or value == "":
        if required:
            raise WixError(f"{where} has no '{name}'")
        return {}
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise WixError(f"{where}.{name} is neither a JSON string nor an object")
    try:
        decoded = json.loads(value)
    except ValueError as exc:
        raise WixError(f"{where}.{name} is not valid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise WixError(f"{where}.{name} is JSON but not an object")
    return decoded


def decode_wix_webhook(raw_body: bytes, public_key_pem: str, *, verify_exp: bool = True) -> WixEvent:
    """Verify the webhook body (a JWT, RS256 only) with the app's public key and unpack it.

    `verify_exp=False` is for re-reading a body that was verified when it arrived and kept (a job
    that runs later, or a replay): the signature is still checked, only the token's expiry is not."""
    if isinstance(raw_body, (bytes, bytearray)):
        try:
            token = bytes(raw_body).decode("ascii").strip()
        except UnicodeDecodeError:
            raise WixError("body is not a JWT (non-ASCII bytes)") from None
    elif isinstance(raw_body, str):
        token = raw_body.strip()
    else:
        raise WixError("body is not a JWT")
    if not token:
        raise WixError("empty body")
    if token.count(".") != 2:
        raise WixError("body is not a JWT (expected header.payload.signature)")

    # Check the algorithm before anything else: only RS256 is Wix's. This refuses "none" and the
    # HS256-with-the-public-key-as-secret confusion with a plain reason (PyJWT would refuse too).
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise WixError(f"malformed JWT header: {exc}") from None
    if header.get("alg") != ALGORITHM:
        raise WixError(f"refused JWT algorithm {header.get('alg')!r}: only {ALGORITHM} is accepted")

    try:
        claims = jwt.decode(token, _public_key(public_key_pem), algorithms=[ALGORITHM], leeway=CLOCK_LEEWAY_SECONDS,
                            options={"verify_exp": verify_exp})
    except jwt.ExpiredSignatureError:
        raise WixError("JWT has expired") from None
    except jwt.InvalidSignatureError:
        raise WixError("JWT signature does not verify with the Wix public key") from None
    except jwt.InvalidKeyError as exc:
        raise WixError(f"the configured Wix public key is not usable: {exc}") from None
    except jwt.PyJWTError as exc:
        raise WixError(f"JWT rejected: {exc.__class__.__name__}: {exc}") from None
    except ValueError as exc:  # a key PEM that cryptography cannot load
        raise WixError(f"the configured Wix public key is not usable: {exc}") from None

    envelope = _json_field(claims, "data", "JWT payload")
    event = _json_field(envelope, "data", "JWT data")
    identity = _json_field(envelope, "identity", "JWT data", required=False)

    event_type = envelope.get("eventType")
    if not isinstance(event_type, str) or not event_type:
        raise WixError("JWT data has no eventType")
    event_id = event.get("id")
    if not event_id:
        raise WixError(f"{event_type}: event has no id")
    try:
        event_time = parse_datetime(event.get("eventTime"), "eventTime")
    except ValueError as exc:
        raise WixError(f"{event_type}: {exc}") from None

    if isinstance(event.get("actionEvent"), dict):
        body = event["actionEvent"].get("body") or {}
    elif isinstance(event.get("createdEvent"), dict):
        body = event["createdEvent"].get("entity") or {}
    elif isinstance(event.get("updatedEvent"), dict):
        body = event["updatedEvent"].get("currentEntity") or {}
    elif isinstance(event.get("deletedEvent"), dict):
        body = event["deletedEvent"].get("deletedEntity") or {}
    else:
        raise WixError(f"{event_type}: event has none of actionEvent, createdEvent, updatedEvent, deletedEvent")
    if not isinstance(body, dict):
        raise WixError(f"{event_type}: event body is not an object")

    return WixEvent(
        event_id=str(event_id),
        event_type=event_type,
        instance_id=envelope.get("instanceId"),
        entity_fqdn=event.get("entityFqdn"),
        slug=event.get("slug"),
        event_time=event_time,
        body=body,
        entity_id=event.get("entityId"),
        identity=identity,
        raw=event,
    )


# ---------------------------------------------------------------------------------------------
# WixEvent -> Order


def _money(price, what: str) -> Decimal | None:
    """A Wix Price object {"amount": "10.5", "formattedAmount": "$10.50"} -> Decimal (None if absent)."""
    if not isinstance(price, dict) or price.get("amount") in (None, ""):
        return None
    try:
        return to_decimal(price["amount"], what)
    except ValueError as exc:
        raise WixError(str(exc)) from None


def _date(value, what: str) -> datetime:
    try:
        return parse_datetime(value, what)
    except ValueError as exc:
        raise WixError(str(exc)) from None


def _order(event: WixEvent) -> Order:
    # eCom order webhooks carry actionEvent.body = {"order": {...}}; tolerate the bare order.
    order = event.body.get("order") if isinstance(event.body.get("order"), dict) else event.body
    if not order.get("id"):
        raise WixError(f"{event.event_type}: body has no order id")

    # createdDate: when the order was placed.
    occurred_at = _date(order.get("createdDate"), "createdDate")

    # version: the newer of the event time and the order's updatedDate.
    version_at = event.event_time
    if order.get("updatedDate"):
        version_at = max(version_at, _date(order["updatedDate"], "updatedDate"))

    # priceSummary.total.amount: total after discounts, tax and shipping (decimal string). Older
    # payloads carry the same figure as priceSummary.totalPrice.
    summary = order.get("priceSummary") or {}
    total = _money(summary.get("total"), "priceSummary.total")
    if total is None:
        total = _money(summary.get("totalPrice"), "priceSummary.totalPrice")
    if total is None:
        raise WixError(f"{event.event_type}: order {order['id']} has no priceSummary.total")
    total_cents = to_cents(total, "priceSummary.total")

    # paymentStatus FULLY_REFUNDED -> worth nothing; PARTIALLY_REFUNDED -> subtract
    # balanceSummary.refunded when Wix sends it (field taken from the Order object's balance summary;
    # without it the amount refunded is unknown here and the total stays as is).
    payment_status = (order.get("paymentStatus") or "").upper()
    if payment_status == "FULLY_REFUNDED":
        total_cents = 0
    elif payment_status == "PARTIALLY_REFUNDED":
        refunded = _money((order.get("balanceSummary") or {}).get("refunded"), "balanceSummary.refunded")
        if refunded is not None:
            total_cents -= to_cents(refunded, "balanceSummary.refunded")
    total_cents = max(total_cents, 0)

    # status CANCELED, or the order_canceled event itself -> cancelled.
    cancelled = event.event_type == ORDER_CANCELED or (order.get("status") or "").upper() == "CANCELED"

    # appliedDiscounts[].coupon.code: coupons the buyer entered (automatic discounts have no coupon).
    codes: list[str] = []
    for discount in order.get("appliedDiscounts") or []:
        coupon = discount.get("coupon") if isinstance(discount, dict) else None
        code = coupon.get("code") if isinstance(coupon, dict) else None
        if isinstance(code, str) and code.strip() and code.strip() not in codes:
            codes.append(code.strip())

    return Order(
        platform=PLATFORM,
        order_id=str(order["id"]),
        occurred_at=occurred_at,
        total_cents=total_cents,
        currency=order.get("currency") or None,
        codes=codes,
        urls=[],  # eCom orders carry no landing or referring URL
        cancelled=cancelled,
        kind="order",
        version_at=version_at,
        payload=order,
    )


# Form fields that hold a discount code, by key: "promo_code", "coupon", "couponCode", "discount-code" ...
_CODE_FIELD = re.compile(r"promo|coupon|voucher|discount[\W_]*code", re.IGNORECASE)
# Form fields that hold a page address, by key: "landing_page", "page_url", "referrer", "source_url" ...
_URL_FIELD = re.compile(r"(url|landing|referr?er|page)", re.IGNORECASE)


def _lead(event: WixEvent) -> Order:
    submission = event.body.get("submission") if isinstance(event.body.get("submission"), dict) else event.body
    if not submission.get("id"):
        raise WixError(f"{event.event_type}: body has no submission id")
    occurred_at = _date(submission["createdDate"], "createdDate") if submission.get("createdDate") else event.event_time
    version_at = event.event_time
    if submission.get("updatedDate"):
        version_at = max(version_at, _date(submission["updatedDate"], "updatedDate"))

    # submissions: {field key: value}. A field named like promo/coupon/discount code gives a code;
    # a field named like a URL/landing/referrer/page holding an http(s) address gives a URL
    # (landing-like fields first). Wix documents no URL of its own on a submission.
    values = submission.get("submissions") if isinstance(submission.get("submissions"), dict) else {}
    codes: list[str] = []
    landing: list[str] = []
    other_urls: list[str] = []
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            continue
        text = value.strip()
        if _CODE_FIELD.search(key) and not text.lower().startswith(("http://", "https://")):
            if text not in codes:
                codes.append(text)
        elif _URL_FIELD.search(key) and text.lower().startswith(("http://", "https://")):
            bucket = landing if re.search(r"landing", key, re.IGNORECASE) else other_urls
            if text not in landing and text not in other_urls:
                bucket.append(text)

    return Order(
        platform=PLATFORM,
        order_id=str(submission["id"]),
        occurred_at=occurred_at,
        total_cents=0,
        currency=None,
        codes=codes,
        urls=landing + other_urls,
        cancelled=False,
        kind="lead",
        version_at=version_at,
        payload=submission,
    )


def order_from_wix(event: WixEvent) -> Order | None:
    """An eCom order event or a Forms submission -> Order; None for any other event type."""
    if event.event_type in ORDER_EVENTS:
        return _order(event)
    if event.event_type == SUBMISSION_CREATED:
        return _lead(event)
    return None
