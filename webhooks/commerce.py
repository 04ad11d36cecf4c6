"""`POST /webhooks/shopify/<tenant>`, `/webhooks/wix/<tenant>` and `/webhooks/stripe/<tenant>`: verify,
keep, enqueue, answer.

Shopify allows 5 seconds for an answer and retries otherwise, so nothing here does more than check
the signature and store the body; attribution runs in a job (hub/jobs/receipts.py).
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors.stripe_orders import event_parts
from connectors.wix import WixError, decode_wix_webhook
from hub.apidoc import answer, header, obj, operation, ref
from hub.jobs.receipts import enqueue_receipt
from hub.models import WebhookReceipt
from hub.quotas import charge_request, over_quota
from hub.tenants import tenant_with_secret
from hub.request_limits import bounded_json_loads
from hub.web import db, json_error, settings, webhook_body

from .decoys import decoy_hmac_secret, decoy_public_key_pem
from .shopify_checks import shopify_body_refusal
from .signatures import SignatureError, verify_shopify_hmac, verify_stripe_signature

bp = Blueprint("commerce_webhooks", __name__, url_prefix="/webhooks")


def _parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _receipt(session, tenant_id: int, platform: str, event_id: str) -> WebhookReceipt | None:
    return session.scalar(select(WebhookReceipt).where(
        WebhookReceipt.tenant_id == tenant_id, WebhookReceipt.platform == platform, WebhookReceipt.event_id == event_id))


def _replayed(existing: WebhookReceipt):
    """The platform retried (or sent twice at once): the same receipt. One still waiting for its job
    (Redis was down when it arrived, or its job was lost) is enqueued again; the job id dedupes."""
    if existing.status == "queued":
        enqueue_receipt(settings(), existing.id)
    return jsonify({"receipt_id": existing.id, "replayed": True}), 200


def _keep(tenant_id: int, platform: str, topic: str, event_id: str, body: bytes,
          webhook_id: str | None = None, triggered_at: datetime | None = None):
    session = db()  # working for the tenant since tenant_with_secret
    # Only a verified webhook is counted. Over the quota nothing is kept: the platform's delivery fails
    # and is retried by it (Shopify retries failed deliveries), as with any non-2xx answer.
    if exceeded := charge_request(session, settings(), tenant_id, "webhooks"):
        return over_quota(exceeded)
    event_id = event_id[:200]
    existing = _receipt(session, tenant_id, platform, event_id)
    if existing is not None:
        return _replayed(existing)
    receipt = WebhookReceipt(tenant_id=tenant_id, platform=platform, topic=topic[:100], event_id=event_id,
                             webhook_id=(webhook_id or "")[:200] or None, triggered_at=triggered_at, body=body)
    session.add(receipt)
    try:
        session.commit()  # kept before the platform hears 200
    except IntegrityError:
        # A concurrent copy of the same event got in first: answer as its replay.
        session.rollback()
        return _replayed(_receipt(session, tenant_id, platform, event_id))
    enqueue_receipt(settings(), receipt.id)
    return jsonify({"receipt_id": receipt.id, "replayed": False}), 200


@bp.post("/shopify/<tenant_slug>")
@operation("A Shopify webhook delivery", tags=["webhooks"], tenant=False, security=[],
           description="Signed: X-Shopify-Hmac-Sha256 is base64(HMAC-SHA256(the app secret, the raw body)).",
           parameters=[header(name, {"type": "string"}) for name in (
               "X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Event-Id", "X-Shopify-Webhook-Id",
               "X-Shopify-Shop-Domain", "X-Shopify-Triggered-At")],
           body={"content": {"application/json": {"schema": obj()}}},
           responses={200: answer("Kept (or the same event again); processed by a job", ref("Receipt")), 400: answer("A header is missing, or the body is not what the topic says"),
                      401: answer("Not signed by this tenant's shop"), 429: "TooManyRequests"})
def shopify(tenant_slug: str):
    body, refused = webhook_body()
    if refused is not None:
        return refused
    tenant, secret = tenant_with_secret(db(), tenant_slug, "shopify", settings().secret_key)
    # Verified over the raw bytes before anything parses them; an unknown tenant fails the same way.
    if not verify_shopify_hmac(secret or decoy_hmac_secret(), body, request.headers.get("X-Shopify-Hmac-Sha256")) \
            or tenant is None:
        return json_error(401, "X-Shopify-Hmac-Sha256 is missing or does not match the body")
    topic = request.headers.get("X-Shopify-Topic", "")
    event_id = request.headers.get("X-Shopify-Event-Id") or request.headers.get("X-Shopify-Webhook-Id")
    if not topic or not event_id:
        return json_error(400, "missing X-Shopify-Topic or X-Shopify-Event-Id header")
    if refusal := shopify_body_refusal(tenant, topic, body):
        return refusal
    # One Shopify event can arrive under several topics with the same event id: the topic is part of the key.
    return _keep(tenant.id, "shopify", topic, f"{topic}:{event_id}", body,
                 webhook_id=request.headers.get("X-Shopify-Webhook-Id"),
                 triggered_at=_parse_time(request.headers.get("X-Shopify-Triggered-At")))


@bp.post("/wix/<tenant_slug>")
@operation("A Wix webhook (a JWT signed with the tenant's Wix key)", tags=["webhooks"], tenant=False,
           security=[], body={"content": {"text/plain": {"schema": {"type": "string"}}}},
           responses={200: answer("Kept (or the same event again); processed by a job", ref("Receipt")), 401: answer("The JWT does not verify with this tenant's Wix public key"), 429: "TooManyRequests"})
def wix(tenant_slug: str):
    body, refused = webhook_body()
    if refused is not None:
        return refused
    tenant, public_key = tenant_with_secret(db(), tenant_slug, "wix", settings().secret_key)
    try:
        # An unknown tenant is checked against a key nobody holds: the same refusal as a wrong signature.
        event = decode_wix_webhook(body, public_key or decoy_public_key_pem())
    except WixError as error:
        return json_error(401, str(error))
    if tenant is None:  # unreachable unless someone signs with the decoy's private key, which is never kept
        return json_error(401, "JWT signature does not verify with the Wix public key")
    return _keep(tenant.id, "wix", event.event_type, event.event_id, body, triggered_at=event.event_time)


@bp.post("/stripe/<tenant_slug>")
@operation("A Stripe webhook event", tags=["webhooks"], tenant=False, security=[],
           parameters=[header("Stripe-Signature", {"type": "string"}, "t=<unix seconds>,v1=<hex signature>")],
           body={"content": {"application/json": {"schema": obj()}}},
           responses={200: answer("Kept (or the same event again); processed by a job", ref("Receipt")), 400: answer("Not a Stripe event"), 401: answer("Not signed with this tenant's endpoint secret"), 429: "TooManyRequests"})
def stripe(tenant_slug: str):
    """A Stripe webhook endpoint's events (https://docs.stripe.com/webhooks): checkout.session.completed,
    invoice.paid, charge.refunded, charge.dispute.created/closed. Stripe retries a delivery until it
    gets a 2xx; the event id dedupes them."""
    body, refused = webhook_body()
    if refused is not None:
        return refused
    tenant, secret = tenant_with_secret(db(), tenant_slug, "stripe", settings().secret_key)
    try:
        # Verified over the raw bytes before anything parses them; an unknown tenant is checked against a
        # secret nobody holds, so it fails in the same words as a wrong signature.
        verify_stripe_signature(secret or decoy_hmac_secret(), body, request.headers.get("Stripe-Signature"))
    except SignatureError as error:
        return json_error(401, str(error))
    if tenant is None:  # unreachable unless someone signs with the decoy, which is never kept
        return json_error(401, "Stripe-Signature: No signatures found matching the expected signature for payload")
    try:
        event = bounded_json_loads(body)
        event_id, event_type, _ = event_parts(event)
    except (ValueError, UnicodeDecodeError) as error:
        return json_error(400, f"body is not a Stripe event: {error}; nothing was stored")
    created = event.get("created")
    triggered_at = datetime.fromtimestamp(created, tz=timezone.utc) if isinstance(created, int) else None
    return _keep(tenant.id, "stripe", event_type, event_id, body, triggered_at=triggered_at)
