"""Zapier REST hooks: subscribe a URL to an event, unsubscribe, list, and sample payloads."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from ..auth import require_tenant
from ..hooks.subscriptions import SubscriptionError, sample_payloads, subscribe, unsubscribe
from ..jobs.hooks import allow_loopback
from ..models import EVENT_NAMES, HookDelivery, HookSubscription
from ..web import db, json_error, settings

bp = Blueprint("hooks", __name__, url_prefix="/api/v1/hooks")


def _subscription_json(subscription: HookSubscription) -> dict:
    return {"id": subscription.id, "event": subscription.event, "target_url": subscription.target_url,
            "created_at": subscription.created_at.isoformat(), "active": subscription.unsubscribed_at is None}


@bp.post("")
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
@require_tenant("api")
def list_hooks():
    subscriptions = db().scalars(
        select(HookSubscription).where(HookSubscription.tenant_id == g.tenant.id).order_by(HookSubscription.id)).all()
    return jsonify({"hooks": [_subscription_json(s) for s in subscriptions]})


@bp.delete("/<int:subscription_id>")
@require_tenant("api")
def delete(subscription_id: int):
    subscription = db().get(HookSubscription, subscription_id)
    if subscription is None or subscription.tenant_id != g.tenant.id:
        return json_error(404, f"no hook {subscription_id} for this tenant")
    unsubscribe(subscription)
    db().commit()
    return jsonify({"id": subscription_id, "active": False})


@bp.get("/sample/<event>")
@require_tenant("api")
def sample(event: str):
    if event not in EVENT_NAMES:
        return json_error(404, f"event: expected one of {', '.join(EVENT_NAMES)}, found {event!r}")
    return jsonify(sample_payloads(db(), g.tenant.id, event))


@bp.get("/deliveries")
@require_tenant("api")
def deliveries():
    recent = db().scalars(select(HookDelivery).where(HookDelivery.tenant_id == g.tenant.id)
                          .order_by(HookDelivery.id.desc()).limit(100)).all()
    return jsonify({"deliveries": [
        {"id": d.id, "subscription_id": d.subscription_id, "event_id": d.event_id, "status": d.status,
         "attempts": d.attempts, "last_status_code": d.last_status_code, "last_error": d.last_error}
        for d in recent]})
