"""Attribute an order to at most one IO, keep it as one attribution event, and recompute the day's totals.

metrics_daily rows with source = the platform are recomputed from attribution_events rather than
incremented, so updates, refunds, cancellations and replays converge to the right totals.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.orders import Order

from ..models import AttributionEvent, IoBooking, MetricsDaily, Tenant, utcnow

DEFAULT_WINDOW_DAYS = 30
# Counted as conversions. A currency mismatch converts, but its money is not added to the IO's.
CONVERTED = ("open", "currency_mismatch")


@dataclass(frozen=True)
class Match:
    io: IoBooking
    matched_by: str  # "promo_code" or "vanity_url"


def url_key(url: str) -> tuple[str | None, str] | None:
    """Host (without www.) and path, query and fragment ignored. A bare path (Shopify's landing_site
    is often "/techtalk?utm=...") has no host and matches on the path alone."""
    text = (url or "").strip()
    if not text:
        return None
    if "://" not in text and not text.startswith("/"):
        text = "https://" + text
    parts = urlsplit(text)
    host = (parts.hostname or "").lower().removeprefix("www.") or None
    path = parts.path.rstrip("/").lower() or "/"
    return host, path


def _urls_match(order_url: str, vanity_url: str) -> bool:
    got, want = url_key(order_url), url_key(vanity_url)
    if got is None or want is None or got[1] != want[1]:
        return False
    return got[0] is None or got[0] == want[0]


def _best(candidates: list[IoBooking], day: date) -> IoBooking:
    # An IO whose flight holds the day beats one in its conversion window; then the latest flight.
    return max(candidates, key=lambda io: (io.flight_start <= day <= io.flight_end, io.flight_start, io.io_id))


def find_io(session: Session, tenant_id: int, order: Order, window_days: int) -> Match | None:
    day = order.occurred_at.date()
    ios = session.scalars(select(IoBooking).where(
        IoBooking.tenant_id == tenant_id,
        IoBooking.status != "cancelled",
        IoBooking.flight_start <= day,
        IoBooking.flight_end >= day - timedelta(days=window_days),
    )).all()
    codes = {code.strip().lower() for code in order.codes if code and code.strip()}
    by_code = [io for io in ios if io.promo_code and io.promo_code.strip().lower() in codes]
    if by_code:  # a code is the stronger evidence: it wins over any URL
        return Match(_best(by_code, day), "promo_code")
    for url in order.urls:
        by_url = [io for io in ios if io.vanity_url and _urls_match(url, io.vanity_url)]
        if by_url:
            return Match(_best(by_url, day), "vanity_url")
    return None


def apply_order(session: Session, tenant_id: int, order: Order, window_days: int = DEFAULT_WINDOW_DAYS,
                cause: str = "attribution") -> AttributionEvent | None:
    """Store this version of the order and recompute what it touches. Returns None for a stale version."""
    event = session.scalar(select(AttributionEvent).where(
        AttributionEvent.tenant_id == tenant_id, AttributionEvent.platform == order.platform,
        AttributionEvent.order_id == order.order_id))
    if event is not None and order.version_at and event.version_at and event.version_at > order.version_at:
        return None  # an older retry or an out-of-order delivery: what we hold is newer
    before = (event.day, event.episode_id) if event is not None else None

    match = find_io(session, tenant_id, order, window_days)
    if event is None:
        event = AttributionEvent(tenant_id=tenant_id, platform=order.platform, order_id=order.order_id)
        session.add(event)
    event.occurred_at, event.version_at, event.updated_at = order.occurred_at, order.version_at, utcnow()
    event.day = order.occurred_at.date()
    event.currency = order.currency
    event.revenue_cents = 0 if order.kind == "lead" else order.total_cents
    event.payload = {"kind": order.kind, "codes": order.codes, "urls": order.urls, "utm": order.utm,
                     "cancel_reason": order.cancel_reason, "test": order.test, "order": order.payload}
    if match is None:
        event.io_id = event.episode_id = event.matched_by = None
        event.status = "cancelled" if order.cancelled else "unattributed"
    else:
        event.io_id, event.episode_id, event.matched_by = match.io.io_id, match.io.episode_id, match.matched_by
        if order.cancelled:
            event.status = "cancelled"
        elif order.kind == "order" and order.currency and order.currency != match.io.currency:
            event.status = "currency_mismatch"  # recorded and flagged, never summed into another currency
        else:
            event.status = "open"
    if order.test and not session.get(Tenant, tenant_id).count_test_orders:
        event.status = "test"  # kept to be seen, never counted (unless the tenant counts them for a trial)
    elif order.disputed and event.status in CONVERTED:
        event.status = "disputed"  # a chargeback is open: not counted while it lasts
    session.flush()
    touched = {before, (event.day, event.episode_id)}
    recompute_daily(session, tenant_id, order.platform, [pair for pair in touched if pair and pair[1]], cause)
    return event


def recompute_daily(session: Session, tenant_id: int, platform: str, pairs: list[tuple[date, str]], cause: str) -> None:
    """metrics_daily(source=platform) for each (day, episode) = what its attribution events add up to now."""
    records = []
    for day, episode_id in sorted(pairs):
        conversions, revenue = session.execute(select(
            func.count().filter(AttributionEvent.status.in_(CONVERTED)),
            func.coalesce(func.sum(AttributionEvent.revenue_cents).filter(AttributionEvent.status == "open"), 0),
        ).where(AttributionEvent.tenant_id == tenant_id, AttributionEvent.platform == platform,
                AttributionEvent.day == day, AttributionEvent.episode_id == episode_id)).one()
        _write_daily(session, tenant_id, platform, day, episode_id, int(conversions), int(revenue), cause[:32])


def _write_daily(session: Session, tenant_id: int, platform: str, day: date, episode_id: str,
                 conversions: int, revenue_cents: int, cause: str) -> None:
    """Set one metrics_daily row's commerce totals, in one statement (two orders of the same day may be
    applied at once); a row already holding these totals is not touched."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(MetricsDaily).values(
        tenant_id=tenant_id, day=day, episode_id=episode_id, source=platform, conversions=conversions,
        revenue_cents=revenue_cents, import_id=cause, last_updated=utcnow())
    new = statement.excluded
    session.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "day", "episode_id", "source"],
        set_={"conversions": new.conversions, "revenue_cents": new.revenue_cents, "import_id": new.import_id,
              "last_updated": new.last_updated},
        where=or_(MetricsDaily.conversions.is_distinct_from(new.conversions),
                  MetricsDaily.revenue_cents.is_distinct_from(new.revenue_cents))))
