"""Platform webhook receipts, processed by a job: decode, attribute, recompute the day's totals."""
from __future__ import annotations

import json
import logging

from rq import get_current_job
from sqlalchemy import select

from connectors.shopify import order_from_shopify, order_with_refund, refund_from_shopify
from connectors import stripe_orders
from connectors.wix import decode_wix_webhook, order_from_wix

from ..attribution.attribute import apply_order
from ..config import Settings, load_settings
from ..db import for_owner_of, session_scope
from ..models import AttributionEvent, WebhookReceipt, utcnow
from ..tenants import read_secret
from .hooks import enqueue_dispatch
from .kinds import RECEIPT
from .queue import JobSpec

log = logging.getLogger(__name__)
SHOPIFY_ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")


def _apply_shopify(session, settings: Settings, receipt: WebhookReceipt) -> str:
    payload = json.loads(receipt.body)
    if receipt.topic in SHOPIFY_ORDER_TOPICS:
        order = order_from_shopify(payload)  # the signed body alone: never the unsigned topic or trigger time
        return "applied" if apply_order(session, receipt.tenant_id, order, settings.conversion_window_days,
                                        cause=f"shopify-{receipt.id}") else "stale"
    if receipt.topic == "refunds/create":
        order_id, _cents, processed_at = refund_from_shopify(payload)
        event = session.scalar(select(AttributionEvent).where(
            AttributionEvent.tenant_id == receipt.tenant_id, AttributionEvent.platform == "shopify",
            AttributionEvent.order_id == order_id))
        if event is None:
            return "order unknown yet"  # its orders/updated, which carries the refund, will follow
        stored = order_with_refund(event.payload["order"], payload)  # a replay adds nothing
        order = order_from_shopify(stored, topic="orders/updated", triggered_at=processed_at)
        return "applied" if apply_order(session, receipt.tenant_id, order, settings.conversion_window_days,
                                        cause=f"shopify-{receipt.id}") else "stale"
    return f"topic {receipt.topic} ignored"


def _apply_wix(session, settings: Settings, receipt: WebhookReceipt) -> str:
    public_key = read_secret(session, receipt.tenant_id, "wix", settings.secret_key)
    # Verified when it arrived; a retried job may run after the token's exp, so only the signature counts now.
    order = order_from_wix(decode_wix_webhook(receipt.body, public_key, verify_exp=False))
    if order is None:
        return f"event {receipt.topic} ignored"
    return "applied" if apply_order(session, receipt.tenant_id, order, settings.conversion_window_days,
                                    cause=f"wix-{receipt.id}") else "stale"


def _stripe_event(session, tenant_id: int, order_id: str | None) -> AttributionEvent | None:
    if not order_id:
        return None
    return session.scalar(select(AttributionEvent).where(
        AttributionEvent.tenant_id == tenant_id, AttributionEvent.platform == "stripe",
        AttributionEvent.order_id == order_id))


def _apply_stripe(session, settings: Settings, receipt: WebhookReceipt) -> str:
    """Verified when it arrived (webhooks/commerce.py); the body alone says what happened."""
    event = json.loads(receipt.body)
    _event_id, event_type, obj = stripe_orders.event_parts(event)
    if event_type in stripe_orders.ORDER_EVENTS:
        record = stripe_orders.order_record(event)
        held = _stripe_event(session, receipt.tenant_id, stripe_orders.order_key(obj))
        if held is not None:
            # The order is known (a refund or dispute came first, or a checkout and its invoice name the
            # same PaymentIntent): keep what was learnt about its charge and dispute, and its codes.
            previous = held.payload["order"]
            record = {**record, "charge_event": previous.get("charge_event"), "dispute_event": previous.get("dispute_event")}
        order = stripe_orders.order_from_stripe(record)
        if held is not None:
            order.codes += [code for code in held.payload.get("codes") or [] if code not in order.codes]
    elif event_type in stripe_orders.CHARGE_EVENTS + stripe_orders.DISPUTE_EVENTS:
        held = _stripe_event(session, receipt.tenant_id, stripe_orders.charge_key(obj))
        if held is None:
            return "order unknown yet"  # a charge outside Checkout and invoices, or its order event is still coming
        merge = stripe_orders.with_charge if event_type in stripe_orders.CHARGE_EVENTS else stripe_orders.with_dispute
        order = stripe_orders.order_from_stripe(merge(held.payload["order"], event))
        order.codes += [code for code in held.payload.get("codes") or [] if code not in order.codes]
    else:
        return f"event {event_type} ignored"
    return "applied" if apply_order(session, receipt.tenant_id, order, settings.conversion_window_days,
                                    cause=f"stripe-{receipt.id}") else "stale"


APPLY = {"shopify": _apply_shopify, "wix": _apply_wix, "stripe": _apply_stripe}


def execute_receipt(settings: Settings, receipt_id: int, final_attempt: bool = True) -> str:
    with session_scope(settings.database_url) as session:
        receipt = for_owner_of(session, WebhookReceipt, receipt_id)
        if receipt is None or receipt.status == "processed":
            return "done"
        try:
            outcome = APPLY[receipt.platform](session, settings, receipt)
        except Exception as error:
            session.rollback()
            receipt = session.get(WebhookReceipt, receipt_id)
            receipt.error = f"{error.__class__.__name__}: {error}"
            if final_attempt:
                receipt.status = "failed"
            session.commit()
            raise
        receipt.status, receipt.error, receipt.processed_at = "processed", None if outcome == "applied" else outcome, utcnow()
        session.commit()
    enqueue_dispatch(settings)
    return outcome


def receipt_job(receipt_id: int) -> str:
    job = get_current_job()
    return execute_receipt(load_settings(), receipt_id, final_attempt=job is None or not job.should_retry)


RECEIPT_JOB = JobSpec(RECEIPT, rq=receipt_job, inline=execute_receipt)


def enqueue_receipt(settings: Settings, receipt_id: int) -> str:
    return RECEIPT_JOB.enqueue(settings, receipt_id)
