"""Pacing of an IO in flight: how far it is, how far it should be, where it will end, and a state.

Measured over the flight's complete days, those before `today` (a host reports a day once it is over,
so today's partial downloads would make every IO look behind):

    flight_days     = flight_end - flight_start + 1
    elapsed_days    = days of the flight before today (0 .. flight_days)
    delivered       = downloads of the IO's episode on those days (host sources, not shop rows)
    expected        = booked × elapsed_days / flight_days
    pace            = delivered / expected                          (1.0 = on schedule)
    run_rate        = downloads over the last N elapsed days / those days   (N = HUB_PACING_RUN_RATE_DAYS, 7)
    projected       = delivered + run_rate × (flight_days - elapsed_days)
    projected_ratio = projected / booked

and the state, first match wins (thresholds are settings, defaults in brackets):

    over      pace >= HUB_PACING_OVER_RATIO (1.20)
    at_risk   projected_ratio < HUB_PACING_AT_RISK_RATIO (0.90): at this run-rate the flight ends short
    behind    pace < HUB_PACING_BEHIND_RATIO (0.95)
    on_track  otherwise

An IO has a state only while it is scheduled or live, has booked impressions, and at least one day of
its flight is over and one is still to come (or today is its last day). `refresh_pacing` stores each
IO's state and emits `io.pacing_changed` once per change, from whatever refresh sees it first.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..events import emit
from ..models import IoBooking, MetricsDaily
from .io_lifecycle import COMMERCE_SOURCES, IN_FLIGHT

PACING_STATES = ("on_track", "behind", "at_risk", "over")


@dataclass(frozen=True)
class PacingThresholds:
    behind: float = 0.95
    at_risk: float = 0.90
    over: float = 1.20
    run_rate_days: int = 7

    @classmethod
    def of(cls, settings) -> "PacingThresholds":
        return cls(behind=settings.pacing_behind_ratio, at_risk=settings.pacing_at_risk_ratio,
                   over=settings.pacing_over_ratio, run_rate_days=settings.pacing_run_rate_days)


@dataclass(frozen=True)
class Pacing:
    elapsed_days: int
    flight_days: int
    delivered: int
    expected: float
    run_rate: float
    projected: int
    pace: float | None
    projected_ratio: float | None
    state: str | None

    def as_dict(self) -> dict:
        return {"delivered_to_date": self.delivered, "expected_to_date": round(self.expected),
                "run_rate": round(self.run_rate, 1), "projected_impressions": self.projected,
                "projected_ratio": self.projected_ratio, "pacing": self.pace, "pacing_state": self.state}


def downloads_between(session: Session, io: IoBooking, first: date, last: date) -> int:
    if not io.episode_id or last < first:
        return 0
    return int(session.scalar(select(func.coalesce(func.sum(MetricsDaily.downloads), 0)).where(
        MetricsDaily.tenant_id == io.tenant_id, MetricsDaily.episode_id == io.episode_id,
        MetricsDaily.day >= first, MetricsDaily.day <= last, MetricsDaily.source.not_in(COMMERCE_SOURCES))))


def classify(pace: float | None, projected_ratio: float | None, thresholds: PacingThresholds) -> str | None:
    if pace is None or projected_ratio is None:
        return None
    if pace >= thresholds.over:
        return "over"
    if projected_ratio < thresholds.at_risk:
        return "at_risk"
    if pace < thresholds.behind:
        return "behind"
    return "on_track"


def io_pacing(session: Session, io: IoBooking, today: date, thresholds: PacingThresholds = PacingThresholds()) -> Pacing:
    flight_days = (io.flight_end - io.flight_start).days + 1
    elapsed = min(max((today - io.flight_start).days, 0), flight_days)
    last_complete = io.flight_start + timedelta(days=elapsed - 1)
    delivered = downloads_between(session, io, io.flight_start, last_complete) if elapsed else 0
    booked = io.booked_impressions or 0
    expected = booked * elapsed / flight_days
    window = min(elapsed, thresholds.run_rate_days)
    recent = downloads_between(session, io, last_complete - timedelta(days=window - 1), last_complete) if window else 0
    run_rate = recent / window if window else 0.0
    projected = round(delivered + run_rate * (flight_days - elapsed))
    pace = round(delivered / expected, 3) if expected else None
    projected_ratio = round(projected / booked, 3) if booked and elapsed else None
    in_flight = io.status in IN_FLIGHT and 0 < elapsed and today <= io.flight_end
    state = classify(pace, projected_ratio, thresholds) if in_flight else None
    return Pacing(elapsed, flight_days, delivered, expected, run_rate, projected, pace, projected_ratio, state)


def refresh_pacing(session: Session, tenant_id: int, today: date,
                   thresholds: PacingThresholds = PacingThresholds()) -> list[tuple[str, str | None, str]]:
    """Store each in-flight IO's pacing state; emit io.pacing_changed for each IO whose state changed.
    Returns the changes as (io_id, previous state, new state)."""
    changes = []
    ios = session.scalars(select(IoBooking).where(
        IoBooking.tenant_id == tenant_id, IoBooking.status.in_(IN_FLIGHT)).order_by(IoBooking.io_id)).all()
    for io in ios:
        pacing = io_pacing(session, io, today, thresholds)
        if pacing.state is None or pacing.state == io.pacing_state:
            continue
        previous = io.pacing_state
        # Conditional on the state this refresh read: of two concurrent refreshes one moves it and emits.
        moved = session.execute(update(IoBooking).where(
            IoBooking.id == io.id, IoBooking.pacing_state.is_(None) if previous is None
            else IoBooking.pacing_state == previous).values(pacing_state=pacing.state)
            .execution_options(synchronize_session=False)).rowcount
        if not moved:
            continue
        set_committed_value(io, "pacing_state", pacing.state)  # what the row now holds, without a second UPDATE
        emit(session, tenant_id, "io.pacing_changed", {
            "io_id": io.io_id, "episode_id": io.episode_id, "state": pacing.state, "previous_state": previous,
            "booked_impressions": io.booked_impressions, "as_of": (today - timedelta(days=1)).isoformat(),
            "flight_start": io.flight_start.isoformat(), "flight_end": io.flight_end.isoformat(),
            **pacing.as_dict()}, subject=io.io_id)
        changes.append((io.io_id, previous, pacing.state))
    return changes
