"""What an IO has done so far: delivery, pacing, attributed conversions and revenue, CPA."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..attribution.attribute import CONVERTED
from ..models import AttributionEvent, IoBooking
from .io_lifecycle import delivered_impressions


def io_summary(session: Session, io: IoBooking, today: date) -> dict:
    delivered = delivered_impressions(session, io)
    flight_days = (io.flight_end - io.flight_start).days + 1
    elapsed = min(max((today - io.flight_start).days + 1, 0), flight_days)
    expected = (io.booked_impressions or 0) * elapsed / flight_days if flight_days else 0
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
        # 1.0 means on schedule: delivered against what the flight's elapsed share of the booking expects.
        "pacing": round(delivered / expected, 3) if expected else None,
        "conversions": int(conversions),
        "revenue_cents": int(revenue),
        "cpa_cents": cost_cents // int(conversions) if conversions else None,
    }
