"""What an IO has done so far: delivery, pacing, attributed conversions and revenue, CPA.

Conversions and revenue are the IO's attribution credits: an order of a campaign's code counts for
each of its IOs by the share the campaign's model gives it, so conversions may be fractional.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AttributionCredit, IoBooking
from .io_lifecycle import delivered_impressions


def io_summary(session: Session, io: IoBooking, today: date) -> dict:
    delivered = delivered_impressions(session, io)
    flight_days = (io.flight_end - io.flight_start).days + 1
    elapsed = min(max((today - io.flight_start).days + 1, 0), flight_days)
    expected = (io.booked_impressions or 0) * elapsed / flight_days if flight_days else 0
    # What the advertiser pays: CPM is per thousand booked impressions.
    cost_cents = (io.booked_impressions or 0) * (io.booked_cpm_cents or 0) // 1000
    shares, revenue = session.execute(select(
        func.coalesce(func.sum(AttributionCredit.share), 0), func.coalesce(func.sum(AttributionCredit.revenue_cents), 0),
    ).where(AttributionCredit.tenant_id == io.tenant_id, AttributionCredit.io_id == io.io_id)).one()
    conversions = tidy_conversions(shares)
    cpa_cents = cost_per_conversion(cost_cents, float(shares))
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
        # 1.0 means on schedule: delivered against what the flight's elapsed share of the booking expects.
        "pacing": round(delivered / expected, 3) if expected else None,
        "conversions": conversions,
        "revenue_cents": int(revenue),
        "cpa_cents": cpa_cents,
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
