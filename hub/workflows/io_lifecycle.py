"""The IO lifecycle: draft -> scheduled -> live -> completed (or cancelled), and delivery counting.

Moves come from sheet rows, uploads and the API through the ingest pipeline, which asks
`refused_moves` before writing and `record_moves` after. Completion also comes from delivery:
an IO completes when its flight has ended or its episode's downloads within the flight reach its
booked impressions, and `io.delivered` is emitted exactly once, by the one UPDATE that moves it.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..events import emit
from ..history import record_changes
from ..models import IoBooking, MetricsDaily, utcnow

# Where each status may go next (staying put is always allowed).
MOVES = {
    "draft": {"scheduled", "cancelled"},
    "scheduled": {"draft", "live", "completed", "cancelled"},
    "live": {"completed", "cancelled"},
    "completed": set(),
    "cancelled": set(),
}
IN_FLIGHT = ("scheduled", "live")
# Sources that report money, not listens: their rows carry no downloads to count as impressions.
COMMERCE_SOURCES = ("shopify", "wix", "stripe", "zapier")


def current_statuses(session: Session, tenant_id: int, io_ids: list[str]) -> dict[str, str]:
    if not io_ids:
        return {}
    return dict(session.execute(select(IoBooking.io_id, IoBooking.status).where(
        IoBooking.tenant_id == tenant_id, IoBooking.io_id.in_(io_ids))).all())


def refused_move(old: str | None, new: str | None) -> str | None:
    """Why moving an IO from `old` to `new` is refused, or None when it may move."""
    if old is None or new is None or old == new or new in MOVES[old]:
        return None
    allowed = sorted(MOVES[old]) or ["nothing: it is final"]
    return f"cannot move an IO from {old} to {new}; from {old} it can move to {', '.join(allowed)}"


def record_moves(session: Session, tenant_id: int, moves: list[tuple[str, str | None, str]]) -> None:
    """Emit the events of status moves just written: (io_id, old status or None if new, new status)."""
    for io_id, old, new in moves:
        # An IO first seen already completed is history being loaded, not a delivery happening now.
        if new == old or (old is None and new == "completed"):
            continue
        if new == "scheduled":
            emit(session, tenant_id, "io.scheduled", {"io_id": io_id, "status": new, "previous_status": old},
                 subject=io_id)
        elif new == "completed":
            _mark_delivered(session, tenant_id, io_id, reason="set completed by hand")


def delivered_impressions(session: Session, io: IoBooking) -> int:
    if not io.episode_id:
        return 0
    return int(session.scalar(select(func.coalesce(func.sum(MetricsDaily.downloads), 0)).where(
        MetricsDaily.tenant_id == io.tenant_id, MetricsDaily.episode_id == io.episode_id,
        MetricsDaily.day >= io.flight_start, MetricsDaily.day <= io.flight_end,
        MetricsDaily.source.not_in(COMMERCE_SOURCES))))


def delivery_outcome(status: str, booked: int | None, delivered: int) -> dict:
    """How a completed IO ended: ratio = delivered / booked; under_delivered when ratio < 1
    (`delivery` "under", else "full"). An IO not completed, or with nothing booked, has no outcome."""
    if status != "completed" or not booked:
        return {"delivery": None, "delivery_ratio": None, "under_delivered": None}
    under = delivered < booked
    return {"delivery": "under" if under else "full", "delivery_ratio": round(delivered / booked, 4),
            "under_delivered": under}


def _mark_delivered(session: Session, tenant_id: int, io_id: str, reason: str) -> None:
    io = session.scalar(select(IoBooking).where(IoBooking.tenant_id == tenant_id, IoBooking.io_id == io_id))
    delivered = delivered_impressions(session, io)
    io.delivered_impressions, io.delivered_at = delivered, io.delivered_at or utcnow()
    outcome = delivery_outcome("completed", io.booked_impressions, delivered)
    emit(session, tenant_id, "io.delivered", {
        "io_id": io_id, "episode_id": io.episode_id, "booked_impressions": io.booked_impressions,
        "delivered_impressions": delivered, "booked": io.booked_impressions, "delivered": delivered,
        "ratio": outcome["delivery_ratio"], "under_delivered": outcome["under_delivered"],
        "shortfall": max((io.booked_impressions or 0) - delivered, 0), "status": "completed",
        "flight_start": io.flight_start.isoformat(), "flight_end": io.flight_end.isoformat(), "reason": reason},
        subject=io_id)


def refresh_delivery(session: Session, tenant_id: int, today: date) -> list[str]:
    """Count each in-flight IO's delivery and complete those that are done. Returns the completed io_ids."""
    completed = []
    ios = session.scalars(select(IoBooking).where(
        IoBooking.tenant_id == tenant_id, IoBooking.status.in_(IN_FLIGHT))).all()
    for io in ios:
        delivered = delivered_impressions(session, io)
        io.delivered_impressions = delivered
        booked_reached = bool(io.booked_impressions) and delivered >= io.booked_impressions
        flight_over = today > io.flight_end
        if not (booked_reached or flight_over):
            continue
        was = io.status
        # The WHERE makes this the only writer that completes the IO: a concurrent refresh updates
        # no row and emits nothing, so io.delivered happens exactly once.
        moved = session.execute(update(IoBooking).where(
            IoBooking.id == io.id, IoBooking.status.in_(IN_FLIGHT)).values(
            status="completed", updated_at=utcnow())).rowcount
        if moved:
            record_changes(session, tenant_id, "io_bookings", [
                (io.io_id, {"status": {"old": was, "new": "completed"}})], "lifecycle")
            _mark_delivered(session, tenant_id, io.io_id,
                            reason="booked impressions reached" if booked_reached else "flight ended")
            completed.append(io.io_id)
    return completed
