"""Domain events, written to the `events` table in the same transaction as the change that caused them."""
from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from .models import EVENT_NAMES, Event


def emit(session: Session, tenant_id: int, name: str, payload: dict, subject: str | None = None) -> Event:
    """Record an event; it exists exactly when the caller's transaction commits (an outbox)."""
    if name not in EVENT_NAMES:
        raise ValueError(f"event name: expected one of {', '.join(EVENT_NAMES)}, found {name!r}")
    event = Event(id=uuid.uuid4().hex, tenant_id=tenant_id, name=name, subject=subject, payload=payload)
    session.add(event)
    return event
