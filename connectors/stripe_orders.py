"""Stripe: webhook events -> Order, the third commerce source beside Shopify and Wix.

Written against Stripe's API reference (https://docs.stripe.com/api) and its webhook guide
(https://docs.stripe.com/webhooks). The signature (`Stripe-Signature`) is checked on the push side
with the official `stripe` library (webhooks/signatures.py); this module only reads event bodies.

An event is {"id": "evt_...", "object": "event", "type": ..., "created": unix seconds,
"livemode": bool, "data": {"object": {...}}} (https://docs.stripe.com/api/events/object). Read here:

  - checkout.session.completed: a Checkout Session (https://docs.stripe.com/api/checkout/sessions/object):
    amount_total (integer, smallest currency unit), currency (lowercase ISO 4217), payment_intent,
    invoice, discounts[] ({coupon, promotion_code}, ids or expanded objects),
    total_details.breakdown.discounts[].discount (only when expanded), metadata (utm_* if the shop set them).
  - invoice.paid: an Invoice (https://docs.stripe.com/api/invoices/object): amount_paid, currency,
    payment_intent (older API versions), status_transitions.paid_at, discounts, metadata.
  - charge.refunded: a Charge (https://docs.stripe.com/api/charges/object): amount_captured,
    amount_refunded, payment_intent, invoice; the order it belongs to is found by its payment_intent.
  - charge.dispute.created / charge.dispute.closed: a Dispute (https://docs.stripe.com/api/disputes/object):
    charge, payment_intent, status (won / lost / warning_closed when closed).

An order's key is its PaymentIntent (what a later charge or dispute names), else its invoice, else
its own id. The order is kept as the raw events that shaped it, {"event": the checkout or invoice
event, "charge_event": the latest charge.refunded, "dispute_event": the latest dispute event}, and
rebuilt from that whole record whenever one of them changes, so a refund or dispute applied twice, or
out of order, lands on the same figures.

Promotion codes: an event carries a promotion code as an id (promo_...) unless it was expanded, so
the code a buyer typed is read from an expanded promotion_code's `code`; a coupon's id (which a shop
may choose, e.g. SPRING25) and name are read too, and metadata utm_campaign / promo_code.
"""
from __future__ import annotations

from datetime import datetime, timezone

from connectors.orders import Order

PLATFORM = "stripe"
ORDER_EVENTS = ("checkout.session.completed", "invoice.paid")
CHARGE_EVENTS = ("charge.refunded",)
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.closed")
HANDLED_EVENTS = ORDER_EVENTS + CHARGE_EVENTS + DISPUTE_EVENTS
# A dispute in one of these statuses no longer holds the money back.
DISPUTE_SETTLED_FOR_MERCHANT = ("won", "warning_closed")


class StripePayloadError(ValueError):
    """An event body that lacks what the hub needs; the message names the field."""


def _text(obj: dict, name: str, what: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise StripePayloadError(f"{what}.{name}: expected text, found {value!r}"[:300])
    return value


def _amount(obj: dict, name: str, what: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise StripePayloadError(f"{what}.{name}: expected an integer amount in the currency's smallest unit, "
                                 f"found {value!r}"[:300])
    return value


def _time(seconds, what: str) -> datetime:
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise StripePayloadError(f"{what}: expected unix seconds, found {seconds!r}"[:300])
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def event_parts(event: dict) -> tuple[str, str, dict]:
    """(id, type, data.object) of an event body, refusing one that is not a Stripe event."""
    if not isinstance(event, dict) or event.get("object") != "event":
        raise StripePayloadError(f"body: expected a Stripe event (\"object\": \"event\"), found {str(event)[:80]!r}")
    event_id = _text(event, "id", "event")
    event_type = _text(event, "type", "event")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise StripePayloadError(f"event {event_id}: data.object: expected an object, found {str(data)[:80]!r}")
    return event_id, event_type, data["object"]


def order_key(obj: dict) -> str:
    """The order's id: its PaymentIntent (what refunds and disputes name), else its invoice, else its own id."""
    for name in ("payment_intent", "invoice"):
        value = obj.get(name)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and value:
            return value
    return _text(obj, "id", str(obj.get("object") or "object"))


def charge_key(charge_or_dispute: dict) -> str | None:
    """Which order a charge or dispute belongs to: its payment_intent (else a charge's invoice)."""
    for name in ("payment_intent", "invoice"):
        value = charge_or_dispute.get(name)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and value:
            return value
    return None


def _codes(obj: dict) -> list[str]:
    """Discount codes from discounts[] and total_details.breakdown.discounts[].discount, then the
    metadata's promo_code and utm_campaign. Each once, as written."""
    found: list = []
    for entry in obj.get("discounts") or []:
        if isinstance(entry, dict):
            found += [entry.get("promotion_code"), entry.get("coupon")]
    breakdown = (obj.get("total_details") or {}).get("breakdown") or {}
    for entry in breakdown.get("discounts") or []:
        discount = entry.get("discount") if isinstance(entry, dict) else None
        if isinstance(discount, dict):
            found += [discount.get("promotion_code"), discount.get("coupon")]
    codes: list[str] = []
    for item in found:
        candidates = []
        if isinstance(item, dict):
            # An expanded PromotionCode has the typed `code`; an expanded Coupon its `id` and `name`.
            candidates = [item.get("code")] if item.get("object") == "promotion_code" else [item.get("id"), item.get("name")]
        elif isinstance(item, str) and not item.startswith(("promo_", "di_")):
            candidates = [item]  # a coupon id (promo_ and di_ ids name nothing a buyer typed)
        for code in candidates:
            if isinstance(code, str) and code.strip() and code.strip() not in codes:
                codes.append(code.strip())
    metadata = obj.get("metadata") or {}
    for name in ("promo_code", "utm_campaign"):
        value = metadata.get(name)
        if isinstance(value, str) and value.strip() and value.strip() not in codes:
            codes.append(value.strip())
    return codes


def _utm(obj: dict) -> dict[str, str]:
    metadata = obj.get("metadata") or {}
    return {name.lower(): value.strip() for name, value in metadata.items()
            if isinstance(name, str) and name.lower().startswith("utm_") and isinstance(value, str) and value.strip()}


def _urls(obj: dict) -> list[str]:
    metadata = obj.get("metadata") or {}
    return [metadata[name].strip() for name in ("landing_url", "referring_url")
            if isinstance(metadata.get(name), str) and metadata[name].strip()]


def order_record(event: dict) -> dict:
    """A new order's record: the event that made it (checkout.session.completed or invoice.paid)."""
    event_id, event_type, _ = event_parts(event)
    if event_type not in ORDER_EVENTS:
        raise StripePayloadError(f"event {event_id}: type: expected one of {', '.join(ORDER_EVENTS)}, found {event_type!r}")
    return {"event": event, "charge_event": None, "dispute_event": None}


def order_from_stripe(record: dict) -> Order:
    """An order's record ({"event", "charge_event", "dispute_event"}: the raw events) -> Order."""
    event = record.get("event") if isinstance(record, dict) else None
    event_id, event_type, obj = event_parts(event)
    what = f"event {event_id} ({event_type})"
    if event_type == "checkout.session.completed":
        amount = _amount(obj, "amount_total", what + " data.object")
        placed = _time(obj.get("created"), f"{what} data.object.created")
    elif event_type == "invoice.paid":
        amount = _amount(obj, "amount_paid", what + " data.object")
        paid_at = (obj.get("status_transitions") or {}).get("paid_at")
        placed = _time(paid_at if paid_at is not None else obj.get("created"), f"{what} data.object.status_transitions.paid_at")
    else:
        raise StripePayloadError(f"{what}: type: expected one of {', '.join(ORDER_EVENTS)}, found {event_type!r}")
    currency = _text(obj, "currency", what + " data.object").upper()
    version_at = _time(event.get("created"), f"{what} created")
    livemode = event.get("livemode")
    if not isinstance(livemode, bool):
        raise StripePayloadError(f"{what}: livemode: expected true or false, found {livemode!r}")

    total = amount
    if record.get("charge_event"):
        charge_id, _, charge = event_parts(record["charge_event"])
        # What the charge holds now: captured minus refunded (both in the smallest currency unit).
        total = _amount(charge, "amount_captured", f"event {charge_id} data.object") \
            - _amount(charge, "amount_refunded", f"event {charge_id} data.object")
        version_at = max(version_at, _time(record["charge_event"].get("created"), f"event {charge_id} created"))
    disputed = False
    if record.get("dispute_event"):
        dispute_id, _, dispute = event_parts(record["dispute_event"])
        disputed = dispute.get("status") not in DISPUTE_SETTLED_FOR_MERCHANT
        if dispute.get("status") == "lost":
            total = 0  # the money went back to the cardholder for good
        version_at = max(version_at, _time(record["dispute_event"].get("created"), f"event {dispute_id} created"))

    return Order(
        platform=PLATFORM,
        order_id=order_key(obj),
        occurred_at=placed,
        total_cents=max(total, 0),
        currency=currency,
        codes=_codes(obj),
        utm=_utm(obj),
        urls=_urls(obj),
        test=not livemode,  # a test-mode event: kept, never counted unless the tenant counts test orders
        disputed=disputed,
        kind="order",
        version_at=version_at,
        payload=record,
    )


def with_charge(record: dict, event: dict) -> dict:
    """The order's record after a charge.refunded event (the charge as it is now); an older charge
    event than the one held changes nothing."""
    return _with(record, "charge_event", event)


def with_dispute(record: dict, event: dict) -> dict:
    """The order's record after a charge.dispute.* event (the dispute as it is now)."""
    return _with(record, "dispute_event", event)


def _with(record: dict, slot: str, event: dict) -> dict:
    event_parts(event)
    held = record.get(slot)
    if held and isinstance(held.get("created"), int) and isinstance(event.get("created"), int) \
            and held["created"] > event["created"]:
        return record
    return {**record, slot: event}
