"""Zapier REST hooks: subscribe a URL to an event, unsubscribe, list, sample payloads, and the
deliveries: list them (by status), resend one, or resend every failed one of a subscription."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from ..apidoc import answer, json_body, obj, operation, query
from ..auth import require_tenant
from ..hooks.subscriptions import SubscriptionError, sample_payloads, subscribe, unsubscribe
from ..jobs.hooks import ResendRefused, allow_loopback, resend_deliveries
from ..models import DELIVERY_STATUSES, EVENT_NAMES, HookDelivery, HookSubscription
from ..web import db, json_error, settings

bp = Blueprint("hooks", __name__, url_prefix="/api/v1/hooks")
# The largest id a BIGINT (and SQLite's INTEGER) holds: a larger one does not even bind as a query
# parameter (OverflowError, a 500), so the routes do not match it (404) and the filter refuses it (400).
MAX_ID = 2**63 - 1


def _subscription_json(subscription: HookSubscription) -> dict:
    return {"id": subscription.id, "event": subscription.event, "target_url": subscription.target_url,
            "created_at": subscription.created_at.isoformat(), "active": subscription.unsubscribed_at is None}


@bp.post("")
@operation("Subscribe a URL to an event (a Zapier REST hook)", tags=["hooks"],
           body=json_body(obj(("target_url", "event"), target_url={"type": "string", "format": "uri"},
                              event={"type": "string", "enum": list(EVENT_NAMES)})),
           responses={201: answer("Subscribed", obj(("id",), id={"type": "integer"})),
                      400: answer("The body is not a JSON object"), 422: answer("Not an event, or a URL the hub will not call")})
@require_tenant("api")
def create():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_error(400, 'body: expected JSON {"target_url": "https://...", "event": "<event name>"}')
    try:
        subscription = subscribe(db(), g.tenant.id, body.get("event"), body.get("target_url"),
                                 allow_loopback=allow_loopback(settings()))
    except SubscriptionError as error:
        return json_error(422, str(error))
    db().commit()
    return jsonify({"id": subscription.id}), 201


@bp.get("")
@operation("The tenant's hook subscriptions", tags=["hooks"], responses={
    200: answer("The subscriptions", obj(("hooks",), hooks={"type": "array", "items": obj(
        ("id", "event", "target_url", "active"), id={"type": "integer"}, event={"type": "string"},
        target_url={"type": "string"}, active={"type": "boolean"})}))})
@require_tenant("api")
def list_hooks():
    subscriptions = db().scalars(
        select(HookSubscription).where(HookSubscription.tenant_id == g.tenant.id).order_by(HookSubscription.id)).all()
    return jsonify({"hooks": [_subscription_json(s) for s in subscriptions]})


@bp.delete(f"/<int(max={MAX_ID}):subscription_id>")
@operation("Unsubscribe", tags=["hooks"], responses={
    200: answer("Unsubscribed", obj(("id", "active"), id={"type": "integer"}, active={"const": False})),
    404: answer("No such hook for this tenant")})
@require_tenant("api")
def delete(subscription_id: int):
    subscription = db().get(HookSubscription, subscription_id)
    if subscription is None or subscription.tenant_id != g.tenant.id:
        return json_error(404, f"no hook {subscription_id} for this tenant")
    unsubscribe(subscription)
    db().commit()
    return jsonify({"id": subscription_id, "active": False})


@bp.get("/sample/<event>")
@operation("Sample payloads of an event, as Zapier asks for them", tags=["hooks"], responses={
    200: answer("Recent payloads, or an example; always a list", {"type": "array", "items": {"type": "object"}}),
    404: answer("Not an event name")})
@require_tenant("api")
def sample(event: str):
    if event not in EVENT_NAMES:
        return json_error(404, f"event: expected one of {', '.join(EVENT_NAMES)}, found {event!r}")
    return jsonify(sample_payloads(db(), g.tenant.id, event))


def delivery_json(delivery: HookDelivery) -> dict:
    return {"id": delivery.id, "subscription_id": delivery.subscription_id, "event_id": delivery.event_id,
            "status": delivery.status, "attempts": delivery.attempts, "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
            "created_at": delivery.created_at.isoformat(), "updated_at": delivery.updated_at.isoformat(),
            "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None}


@bp.get("/deliveries")
@operation("The latest deliveries", tags=["hooks"], parameters=[
    query("status", {"type": "string", "enum": list(DELIVERY_STATUSES)}), query("subscription_id", {"type": "integer", "minimum": -MAX_ID, "maximum": MAX_ID}),
    query("limit", {"type": "integer"}, "1 to 1000; 100 by default")], responses={
    200: answer("The deliveries", obj(("deliveries",), deliveries={"type": "array", "items": obj(
        ("id", "status", "attempts"), id={"type": "integer"}, status={"type": "string"}, attempts={"type": "integer"})})),
    400: answer("status or subscription_id is not one the hub knows")})
@require_tenant("api")
def deliveries():
    """The latest deliveries (`?status=failed`, `?subscription_id=`, `?limit=` up to 1000; default 100)."""
    query = select(HookDelivery).where(HookDelivery.tenant_id == g.tenant.id)
    status = request.args.get("status")
    if status is not None:
        if status not in DELIVERY_STATUSES:
            return json_error(400, f"status: expected one of {', '.join(DELIVERY_STATUSES)}, found {status!r}")
        query = query.where(HookDelivery.status == status)
    if "subscription_id" in request.args:
        subscription_id = request.args.get("subscription_id", type=int)
        if subscription_id is None or abs(subscription_id) > MAX_ID:
            return json_error(400, f"subscription_id: expected a whole number (an id), found {request.args['subscription_id']!r}")
        query = query.where(HookDelivery.subscription_id == subscription_id)
    limit = min(max(request.args.get("limit", 100, type=int), 1), 1000)
    recent = db().scalars(query.order_by(HookDelivery.id.desc()).limit(limit)).all()
    return jsonify({"deliveries": [delivery_json(d) for d in recent]})


def _resend(**which):
    db().close()  # the resend writes in its own session
    try:
        queued = resend_deliveries(settings(), tenant_id=g.tenant.id, **which)
    except LookupError as error:
        return json_error(404, f"{error} for this tenant")
    except ResendRefused as error:
        return json_error(409, str(error))
    return jsonify({"resent": [{"id": delivery_id, "job": outcome} for delivery_id, outcome in queued.items()],
                    **({"subscription_id": which["subscription_id"]} if "subscription_id" in which else {})}), 202


@bp.post(f"/deliveries/<int(max={MAX_ID}):delivery_id>/resend")
@operation("Send one delivery again now", tags=["hooks"], responses={
    202: answer("Queued again", obj(("resent",), resent={"type": "array", "items": obj(("id",), id={"type": "integer"})})), 404: answer("No such delivery for this tenant"), 409: answer("Delivered already")})
@require_tenant("api")
def resend_delivery(delivery_id: int):
    """Send one failed (or still waiting) delivery again now."""
    return _resend(delivery_ids=[delivery_id])


@bp.post(f"/<int(max={MAX_ID}):subscription_id>/resend")
@operation("Send every failed delivery of a subscription again now", tags=["hooks"], responses={
    202: answer("Queued again", obj(("resent",), resent={"type": "array", "items": obj(("id",), id={"type": "integer"})})), 404: answer("No such hook for this tenant"), 409: answer("Nothing to resend")})
@require_tenant("api")
def resend_subscription(subscription_id: int):
    """Send every failed delivery of one subscription again now."""
    return _resend(subscription_id=subscription_id)
