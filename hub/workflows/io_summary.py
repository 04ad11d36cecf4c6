"""What an IO has done so far: delivery, pacing (hub/workflows/pacing.py), attributed conversions and
revenue, CPA, and for a completed IO whether it delivered what was booked.

Conversions and revenue are the IO's attribution credits: an order of a campaign's code counts for
each of its IOs by the share the campaign's model gives it, so conversions may be fractional.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AttributionCredit, IoBooking
from .io_lifecycle import delivered_impressions, delivery_outcome
from .discrepancies import DEFAULT_TOLERANCE, discrepancies
from .pacing import PacingThresholds, io_pacing


def io_summary(session: Session, io: IoBooking, today: date, thresholds: PacingThresholds = PacingThresholds(),
               tolerance: float = DEFAULT_TOLERANCE) -> dict:
    delivered = delivered_impressions(session, io)
    pacing = io_pacing(session, io, today, thresholds)
    # What the advertiser pays: CPM is per thousand booked impressions.
    cost_cents = (io.booked_impressions or 0) * (io.booked_cpm_cents or 0) // 1000
    shares, revenue = session.execute(select(
        func.coalesce(func.sum(AttributionCredit.share), 0), func.coalesce(func.sum(AttributionCredit.revenue_cents), 0),
    ).where(AttributionCredit.tenant_id == io.tenant_id, AttributionCredit.io_id == io.io_id)).one()
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
        "conversions": tidy_conversions(shares),
        "revenue_cents": int(revenue),
        "cpa_cents": cost_per_conversion(cost_cents, float(shares)),
        # Days of the flight on which two host sources disagree over the tolerance (discrepancies.py).
        "source_conflicts": discrepancies(session, io.tenant_id, io.flight_start, io.flight_end, tolerance,
                                          io.episode_id) if io.episode_id else [],
    }


def tidy_conversions(total: float) -> int | float:
    """A sum of shares as people read it: whole when it is (1/3 + 1/3 + 1/3 is 1), else to 6 decimals."""
    rounded = round(float(total), 6)
    return int(rounded) if rounded.is_integer() else rounded


def cost_per_conversion(cost_cents: int, conversions: float) -> int | None:
    """CPA in cents: floored for whole conversions (as it always was), to the nearest cent for fractional ones."""
    whole = round(conversions)
    if abs(conversions - whole) < 1e-6:
        return cost_cents // whole if whole else None
    return round(cost_cents / conversions)
