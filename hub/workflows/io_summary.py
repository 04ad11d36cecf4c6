"""What an IO has done so far: delivery, pacing (hub/workflows/pacing.py), attributed conversions and
revenue, CPA, and for a completed IO whether it delivered what was booked."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..attribution.attribute import CONVERTED
from ..models import AttributionEvent, IoBooking
from .io_lifecycle import delivered_impressions, delivery_outcome
from .discrepancies import DEFAULT_TOLERANCE, discrepancies
from .pacing import PacingThresholds, io_pacing


def io_summary(session: Session, io: IoBooking, today: date, thresholds: PacingThresholds = PacingThresholds(),
               tolerance: float = DEFAULT_TOLERANCE) -> dict:
    delivered = delivered_impressions(session, io)
    pacing = io_pacing(session, io, today, thresholds)
    conversions, revenue = session.execute(select(
        func.count().filter(AttributionEvent.status.in_(CONVERTED)),
        func.coalesce(func.sum(AttributionEvent.revenue_cents).filter(AttributionEvent.status == "open"), 0),
    ).where(AttributionEvent.tenant_id == io.tenant_id, AttributionEvent.io_id == io.io_id)).one()
    # What the advertiser pays: CPM is per thousand booked impressions.
    cost_cents = (io.booked_impressions or 0) * (io.booked_cpm_cents or 0) // 1000
    return {
        "io_id": io.io_id,
        "status": io.status,
        "campaign_id": io.campaign_id,
        "ad_unit_id": io.ad_unit_id,
        "episode_id": io.episode_id,
        "podcast_id": io.podcast_id,
        "flight_start": io.flight_start.isoformat(),
        "flight_end": io.flight_end.isoformat(),
        "booked_impressions": io.booked_impressions,
        "booked_cpm_cents": io.booked_cpm_cents,
        "cost_cents": cost_cents,
        "currency": io.currency,
        "promo_code": io.promo_code,
        "vanity_url": io.vanity_url,
        "delivered_impressions": delivered,
        "delivered_at": io.delivered_at.isoformat() if io.delivered_at else None,
        # pacing: 1.0 means on schedule (delivered to date against what the elapsed share of the flight
        # expects); pacing_state is on_track/behind/at_risk/over while the IO is in flight.
        **pacing.as_dict(),
        # For a completed IO: "under" when it delivered less than booked, else "full" (io_lifecycle).
        **delivery_outcome(io.status, io.booked_impressions, delivered),
        "conversions": int(conversions),
        "revenue_cents": int(revenue),
        "cpa_cents": cost_cents // int(conversions) if conversions else None,
        # Days of the flight on which two host sources disagree over the tolerance (discrepancies.py).
        "source_conflicts": discrepancies(session, io.tenant_id, io.flight_start, io.flight_end, tolerance,
                                          io.episode_id) if io.episode_id else [],
    }
