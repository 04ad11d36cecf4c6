"""The outbox dispatcher (events -> one delivery per subscriber) and the signed POST of one delivery."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Event, HookDelivery, HookSubscription, utcnow
from ..tenants import read_secret
from .subscriptions import delivery_body
from .guarded_http import failure_category, guarded_session
from .target_guard import TargetRefused, check_target

log = logging.getLogger(__name__)
TIMEOUT = (5, 10)  # seconds to connect, seconds to answer


class DeliveryRetry(RuntimeError):
    """The target may answer later (5xx, 429, a timeout): let the job retry with backoff."""


def dispatch_events(session: Session, limit: int = 500) -> list[int]:
    """Fan committed events out to their subscribers as pending deliveries; returns the new delivery ids."""
    query = select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.created_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two dispatchers never fan out the same event
    events = session.scalars(query).all()
    created: list[HookDelivery] = []
    for event in events:
        subscriptions = session.scalars(select(HookSubscription).where(
            HookSubscription.tenant_id == event.tenant_id, HookSubscription.event == event.name,
            HookSubscription.unsubscribed_at.is_(None))).all()
        for subscription in subscriptions:
            delivery = HookDelivery(tenant_id=event.tenant_id, subscription_id=subscription.id, event_id=event.id)
            session.add(delivery)
            created.append(delivery)
        event.dispatched_at = utcnow()
    session.flush()
    return [d.id for d in created]


@dataclass
class Outcome:
    status: str
    code: int | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def deliver(session: Session, delivery_id: int, secret_key: str, allow_loopback: bool, final_attempt: bool) -> Outcome:
    """POST one event to one subscriber. Commits its own bookkeeping; raises DeliveryRetry to be retried."""
    delivery = session.get(HookDelivery, delivery_id)
    if delivery is None or delivery.status in ("delivered", "gone"):
        return Outcome(delivery.status if delivery else "missing")
    subscription = session.get(HookSubscription, delivery.subscription_id)
    if subscription.unsubscribed_at is not None:
        delivery.status, delivery.updated_at = "gone", utcnow()
        session.commit()
        return Outcome("gone")
    event = session.get(Event, delivery.event_id)
    body = json.dumps(delivery_body(event), separators=(",", ":")).encode()
    secret = read_secret(session, delivery.tenant_id, "hooks", secret_key) or ""
    url = subscription.target_url
    delivery.attempts += 1
    session.commit()  # the session holds no transaction across the call out

    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "podcast-hub-hooks/1",
        "X-Hub-Event": event.name,
        "X-Hub-Delivery": event.id,
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature-256": sign(secret, timestamp, body),
    }
    code, error = None, None
    try:
        check_target(url, allow_loopback=allow_loopback)
        # Redirects are not followed: a redirect could lead past the target check. The session checks
        # the address again at connect time and connects to exactly that address (DNS rebinding).
        with guarded_session(allow_loopback) as http:
            response = http.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
        code = response.status_code
    except TargetRefused as refused:
        error, retry = failure_category(refused), False
    except requests.RequestException as failure:
        error, retry = failure_category(failure), True

    delivery.last_status_code, delivery.updated_at = code, utcnow()
    if code is not None and 200 <= code < 300:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
    elif code == 410:
        # Zapier's convention: 410 Gone means the Zap is off; stop sending to it.
        delivery.status, delivery.last_error = "gone", "410 Gone: unsubscribed"
        subscription.unsubscribed_at = utcnow()
    else:
        if code is not None:
            error, retry = f"HTTP {code}", code == 429 or code >= 500
        delivery.last_error = error
        delivery.status = "pending" if retry and not final_attempt else "failed"
    session.commit()
    log.info("delivery %s of event %s to subscription %s: %s (%s)", delivery.id, event.id, subscription.id,
             delivery.status, code or error)
    if delivery.status == "pending":
        raise DeliveryRetry(f"delivery {delivery.id}: {error}")
    return Outcome(delivery.status, code)
