"""Subscribing and unsubscribing REST hooks, and the sample payload Zapier asks for when a Zap is set up."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import EVENT_NAMES, Event, HookSubscription, utcnow
from .target_guard import TargetRefused, check_target

# What each event's payload looks like, for a Zap being set up before any real event exists.
EXAMPLE_PAYLOADS = {
    "etl.import_completed": {"import_id": "3f2b9c0e8d7a4b6c9e1f0a2b3c4d5e6f", "source": "sheets", "table": "metrics_daily",
                             "status": "completed", "rows_total": 3, "inserted": 2, "updated": 1, "unchanged": 0,
                             "refused": 0, "error": None},
    "etl.error": {"import_id": "3f2b9c0e8d7a4b6c9e1f0a2b3c4d5e6f", "source": "upload", "table": "io_bookings",
                  "status": "completed_with_errors", "rows_total": 5, "inserted": 4, "updated": 0, "unchanged": 0,
                  "refused": 1, "error": None},
    "io.scheduled": {"io_id": "IO-2025-007", "status": "scheduled", "previous_status": "draft"},
    "io.delivered": {"io_id": "IO-2025-001", "booked_impressions": 20000, "delivered_impressions": 18000,
                     "booked": 20000, "delivered": 18000, "ratio": 0.9, "under_delivered": True, "shortfall": 2000,
                     "status": "completed", "reason": "flight ended"},
    "io.pacing_changed": {"io_id": "IO-2025-001", "state": "behind", "previous_state": "on_track",
                          "booked_impressions": 20000, "delivered_to_date": 9000, "expected_to_date": 10000,
                          "projected_impressions": 18600, "projected_ratio": 0.93, "pacing": 0.9, "run_rate": 600.0,
                          "as_of": "2025-03-15"},
    "source.stale": {"source": "connector:buzzsprout", "kind": "connector", "state": "stale", "previous_state": "fresh",
                     "last_seen_at": "2025-03-15T06:00:00+00:00", "cadence_seconds": 3600, "cadence_from": "schedule",
                     "silent_seconds": 7500, "stale_after_seconds": 7200},
    "source.fresh": {"source": "connector:buzzsprout", "kind": "connector", "state": "fresh", "previous_state": "stale",
                     "last_seen_at": "2025-03-15T09:00:00+00:00", "cadence_seconds": 3600, "cadence_from": "schedule",
                     "silent_seconds": 60, "stale_after_seconds": 7200},
    "deal.stage_changed": {"campaign_id": "camp-acme-q1", "old_stage": "proposal", "new_stage": "won"},
    "match.recalculated": {"matches": 12},
}


class SubscriptionError(ValueError):
    pass


def subscribe(session: Session, tenant_id: int, event: str, target_url: str, allow_loopback: bool) -> HookSubscription:
    if event not in EVENT_NAMES:
        raise SubscriptionError(f"event: expected one of {', '.join(EVENT_NAMES)}, found {event!r}")
    try:
        check_target(target_url, allow_loopback=allow_loopback)
    except TargetRefused as error:
        raise SubscriptionError(str(error)) from None
    existing = session.scalar(select(HookSubscription).where(
        HookSubscription.tenant_id == tenant_id, HookSubscription.event == event,
        HookSubscription.target_url == target_url))
    if existing is not None:
        existing.unsubscribed_at = None  # Zapier re-subscribes the same URL when a Zap is turned back on
        return existing
    subscription = HookSubscription(tenant_id=tenant_id, event=event, target_url=target_url)
    session.add(subscription)
    session.flush()
    return subscription


def unsubscribe(subscription: HookSubscription) -> None:
    subscription.unsubscribed_at = subscription.unsubscribed_at or utcnow()


def sample_payloads(session: Session, tenant_id: int, event: str, limit: int = 3) -> list[dict]:
    """Recent real payloads of this tenant's event, or the example; always a list, as Zapier expects."""
    recent = session.scalars(
        select(Event).where(Event.tenant_id == tenant_id, Event.name == event).order_by(Event.created_at.desc()).limit(limit)
    ).all()
    if recent:
        return [delivery_body(e) for e in recent]
    return [{"id": "example", "event": event, "created_at": utcnow().isoformat(), "data": EXAMPLE_PAYLOADS.get(event, {})}]


def delivery_body(event: Event) -> dict:
    return {"id": event.id, "event": event.name, "created_at": event.created_at.isoformat(), "data": event.payload}
