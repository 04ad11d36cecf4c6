"""The outbox dispatcher (events -> one delivery per subscriber) and the signed POST of one delivery."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ..models import Event, HookDelivery, HookSubscription, utcnow
from ..tenants import read_secret
from .subscriptions import delivery_body
from .guarded_http import failure_category, guarded_session
from .target_guard import TargetRefused, check_target

log = logging.getLogger(__name__)
TIMEOUT = (5, 10)  # seconds to connect, seconds to answer
# An attempt in flight holds its delivery this long: well over TIMEOUT, so only a dead runner's expires.
LEASE_SECONDS = 300
JITTER = 0.2  # each wait is spread +-20%, so a subscriber that comes back is not hit by every retry at once


class DeliveryFailed(RuntimeError):
    """The delivery is failed for good (retries used up, or an answer no retry can change): the job fails
    with this, so RQ's failed registry and tools show it, and a resend or `rq requeue` sends it again."""


def retry_delay(intervals: tuple[int, ...], attempt: int) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based), or None when no retry is left."""
    if attempt > len(intervals):
        return None
    return intervals[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)


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
            delivery = HookDelivery(tenant_id=event.tenant_id, subscription_id=subscription.id, event_id=event.id,
                                    next_attempt_at=utcnow())
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


def claim(session: Session, delivery_id: int, requested_at: datetime | None = None) -> bool:
    """Take the next attempt of a delivery, atomically: a pending one that is due, or a failed one
    whose job was requeued (by `rq requeue` or rq-dashboard) after it failed. Copies of a job, or a
    reconciler and a worker racing, find it taken and leave it alone."""
    now = utcnow()
    claimable = and_(HookDelivery.status == "pending",
                     or_(HookDelivery.next_attempt_at.is_(None), HookDelivery.next_attempt_at <= now))
    if requested_at is not None:
        claimable = or_(claimable, and_(HookDelivery.status == "failed", HookDelivery.updated_at <= requested_at))
    taken = session.execute(
        update(HookDelivery).where(HookDelivery.id == delivery_id, claimable)
        .values(status="pending", attempts=HookDelivery.attempts + 1, updated_at=now,
                next_attempt_at=now + timedelta(seconds=LEASE_SECONDS))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return taken == 1


def deliver(session: Session, delivery_id: int, secret_key: str, allow_loopback: bool,
            intervals: tuple[int, ...], requested_at: datetime | None = None) -> Outcome:
    """POST one event to one subscriber, if its attempt is due. Commits its own bookkeeping.

    A failure that may pass (5xx, 429, no answer) leaves the delivery pending until the next wait of
    `intervals` has passed; once they are used up, or on an answer no retry changes, it is failed
    with its last error, and DeliveryFailed is raised.
    """
    if not claim(session, delivery_id, requested_at):
        delivery = session.get(HookDelivery, delivery_id)
        return Outcome(delivery.status if delivery else "missing")
    delivery = session.get(HookDelivery, delivery_id)
    session.refresh(delivery)
    subscription = session.get(HookSubscription, delivery.subscription_id)
    if subscription.unsubscribed_at is not None:
        delivery.status, delivery.updated_at, delivery.next_attempt_at = "gone", utcnow(), None
        session.commit()
        return Outcome("gone")
    event = session.get(Event, delivery.event_id)
    body = json.dumps(delivery_body(event), separators=(",", ":")).encode()
    secret = read_secret(session, delivery.tenant_id, "hooks", secret_key) or ""
    url = subscription.target_url
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

    delivery.last_status_code, delivery.updated_at, delivery.next_attempt_at = code, utcnow(), None
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
        wait = retry_delay(intervals, delivery.attempts) if retry else None
        if wait is None:
            delivery.status = "failed"
        else:
            delivery.status, delivery.next_attempt_at = "pending", utcnow() + timedelta(seconds=wait)
    session.commit()
    log.info("delivery %s of event %s to subscription %s: %s (%s)%s", delivery.id, event.id, subscription.id,
             delivery.status, code or error,
             f", next attempt at {delivery.next_attempt_at.isoformat()}" if delivery.next_attempt_at else "")
    if delivery.status == "failed":
        raise DeliveryFailed(f"delivery {delivery.id} failed after {delivery.attempts} attempt(s): {error}")
    return Outcome(delivery.status, code)


def mark_for_resend(session: Session, deliveries: list[HookDelivery]) -> list[int]:
    """Make failed (or waiting) deliveries due now; returns their ids. Their job sends each once more,
    and a failure goes on the retry schedule where the delivery's attempts left it."""
    now = utcnow()
    for delivery in deliveries:
        delivery.status, delivery.next_attempt_at, delivery.updated_at = "pending", now, now
    session.flush()
    return [d.id for d in deliveries]
