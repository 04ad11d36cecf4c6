"""Match an order to an IO or a campaign by its promo code or vanity URL, keep it as one attribution
event, share it among IOs as attribution credits, and recompute the day's totals from the credits.

An IO's own code gives that IO the whole order (as before campaigns had codes). A campaign's code
shares the order among the campaign's IOs that aired before it within the campaign's window, by the
campaign's model (hub/attribution/credit_models.py). metrics_daily rows with source = the platform are
recomputed from the credits rather than incremented, so updates, refunds, cancellations, model and
window changes and replays converge to the right totals.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.orders import Order

from ..models import AttributionCredit, AttributionEvent, Campaign, Episode, IoBooking, MetricsDaily, Tenant, utcnow
from .credit_models import DEFAULT_WINDOW_DAYS, AttributionSettings, Touch, shares, split_cents, whole_conversions

# Counted as conversions. A currency mismatch converts, but its money is not added to the IO's.
CONVERTED = ("open", "currency_mismatch")
IO_CODE_MODEL = "io"  # the model of a credit from an IO's own code: all of it


@dataclass(frozen=True)
class Match:
    matched_by: str  # "promo_code" or "vanity_url"
    io: IoBooking | None = None        # an IO's own code or URL
    campaign: Campaign | None = None   # a campaign's


@dataclass(frozen=True)
class Credit:
    io: IoBooking
    aired_on: date | None
    model: str
    share: float


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


def _codes(codes) -> set[str]:
    return {code.strip().lower() for code in codes or () if code and code.strip()}


def find_match(session: Session, tenant_id: int, codes: list[str], urls: list[str], day: date,
               window_days: int) -> Match | None:
    """Codes before URLs; an IO's own code or URL before a campaign's."""
    ios = session.scalars(select(IoBooking).where(
        IoBooking.tenant_id == tenant_id,
        IoBooking.status != "cancelled",
        IoBooking.flight_start <= day,
        IoBooking.flight_end >= day - timedelta(days=window_days),
    ).execution_options(populate_existing=True)).all()  # an import may just have changed them in SQL
    campaigns = session.scalars(select(Campaign).where(
        Campaign.tenant_id == tenant_id, or_(Campaign.promo_code.is_not(None), Campaign.vanity_url.is_not(None)))
        .order_by(Campaign.campaign_id)).all()
    wanted = _codes(codes)
    by_code = [io for io in ios if io.promo_code and io.promo_code.strip().lower() in wanted]
    if by_code:  # a code is the stronger evidence: it wins over any URL
        return Match("promo_code", io=_best(by_code, day))
    for campaign in campaigns:
        if campaign.promo_code and campaign.promo_code.strip().lower() in wanted:
            return Match("promo_code", campaign=campaign)
    for url in urls or ():
        by_url = [io for io in ios if io.vanity_url and _urls_match(url, io.vanity_url)]
        if by_url:
            return Match("vanity_url", io=_best(by_url, day))
        for campaign in campaigns:
            if campaign.vanity_url and _urls_match(url, campaign.vanity_url):
                return Match("vanity_url", campaign=campaign)
    return None


def aired_on(session: Session, tenant_id: int, ios: list[IoBooking]) -> dict[str, date]:
    """When each IO's ad aired: its episode's publish date when the catalog knows it, else its flight start."""
    episode_ids = {io.episode_id for io in ios if io.episode_id}
    published = dict(session.execute(select(Episode.episode_id, Episode.published_on).where(
        Episode.tenant_id == tenant_id, Episode.episode_id.in_(episode_ids),
        Episode.published_on.is_not(None))).all()) if episode_ids else {}
    return {io.io_id: published.get(io.episode_id) or io.flight_start for io in ios}


def campaign_settings(session: Session, tenant_id: int, campaign: Campaign) -> AttributionSettings:
    return AttributionSettings.resolve(campaign, session.get(Tenant, tenant_id), DEFAULT_WINDOW_DAYS)


def campaign_credits(session: Session, tenant_id: int, campaign: Campaign, day: date) -> list[Credit]:
    """The campaign's IOs that aired on or before the order's day and at most its window before, sharing
    the order by its model."""
    settings = campaign_settings(session, tenant_id, campaign)
    ios = session.scalars(select(IoBooking).where(
        IoBooking.tenant_id == tenant_id, IoBooking.campaign_id == campaign.campaign_id,
        IoBooking.status != "cancelled").execution_options(populate_existing=True)).all()
    aired = aired_on(session, tenant_id, ios)
    touched = sorted((io for io in ios if 0 <= (day - aired[io.io_id]).days <= settings.window_days),
                     key=lambda io: (aired[io.io_id], io.io_id))
    fractions = shares(settings.model, [Touch(io.io_id, aired[io.io_id]) for io in touched], day,
                       settings.half_life_days)
    # An IO the model gives nothing (first-touch's later ones) gets no credit row.
    return [Credit(io, aired[io.io_id], settings.model, fraction) for io, fraction in zip(touched, fractions) if fraction]


def apply_order(session: Session, tenant_id: int, order: Order, window_days: int = DEFAULT_WINDOW_DAYS,
                cause: str = "attribution") -> AttributionEvent | None:
    """Store this version of the order and recompute what it touches. Returns None for a stale version."""
    event = session.scalar(select(AttributionEvent).where(
        AttributionEvent.tenant_id == tenant_id, AttributionEvent.platform == order.platform,
        AttributionEvent.order_id == order.order_id))
    if event is not None and order.version_at and event.version_at and event.version_at > order.version_at:
        return None  # an older retry or an out-of-order delivery: what we hold is newer
    if event is None:
        event = AttributionEvent(tenant_id=tenant_id, platform=order.platform, order_id=order.order_id)
        session.add(event)
    event.occurred_at, event.version_at, event.updated_at = order.occurred_at, order.version_at, utcnow()
    event.day = order.occurred_at.date()
    event.currency = order.currency
    event.revenue_cents = 0 if order.kind == "lead" else order.total_cents
    event.payload = {"kind": order.kind, "codes": order.codes, "urls": order.urls, "cancelled": order.cancelled,
                     "utm": order.utm, "cancel_reason": order.cancel_reason,
                     # A shop's test order (Shopify "test": true, Stripe livemode false) and an order under an
                     # open dispute never count (a tenant may count test orders for a trial).
                     "test": order.test, "disputed": order.disputed, "order": order.payload}
    session.flush()
    attribute_event(session, event, window_days, cause)
    return event


def attribute_event(session: Session, event: AttributionEvent, window_days: int = DEFAULT_WINDOW_DAYS,
                    cause: str = "attribution") -> None:
    """Match the stored order, set its status, store its credits and recompute the daily totals they touch."""
    payload = event.payload or {}
    cancelled = payload.get("cancelled", event.status == "cancelled")  # events stored before the flag
    kind = payload.get("kind", "order")
    match = find_match(session, event.tenant_id, payload.get("codes") or [], payload.get("urls") or [],
                       event.day, window_days)
    credits: list[Credit] = []
    event.io_id = event.campaign_id = event.episode_id = event.matched_by = None
    if match is not None:
        event.matched_by = match.matched_by
        if match.io is not None:
            event.io_id, event.episode_id = match.io.io_id, match.io.episode_id
            credits = [Credit(match.io, None, IO_CODE_MODEL, 1.0)]
        else:
            event.campaign_id = match.campaign.campaign_id
            credits = campaign_credits(session, event.tenant_id, match.campaign, event.day)
    if payload.get("test") and not session.get(Tenant, event.tenant_id).count_test_orders:
        event.status = "test"  # kept to be seen, never counted
    elif cancelled:
        event.status = "cancelled"
    elif not credits:
        event.status = "unattributed"  # no code or URL of ours, or no IO of the campaign aired in its window
    elif kind == "order" and event.currency and any(c.io.currency != event.currency for c in credits):
        event.status = "currency_mismatch"  # recorded and flagged, never summed into another currency
    else:
        event.status = "open"
    if payload.get("disputed") and event.status in CONVERTED:
        event.status = "disputed"  # a chargeback is open: not counted while it lasts
    if event.status not in CONVERTED:
        credits = []
    fractions = [c.share for c in credits]
    cents = split_cents((event.revenue_cents or 0) if event.status == "open" else 0, fractions)
    wholes = whole_conversions(fractions)
    wanted = {c.io.io_id: dict(campaign_id=event.campaign_id, episode_id=c.io.episode_id, day=event.day,
                               aired_on=c.aired_on, model=c.model, share=c.share, revenue_cents=cent,
                               whole_conversions=whole)
              for c, cent, whole in zip(credits, cents, wholes)}
    touched = store_credits(session, event, wanted)
    recompute_daily(session, event.tenant_id, event.platform, [pair for pair in touched if pair[1]], cause)


def store_credits(session: Session, event: AttributionEvent, wanted: dict[str, dict]) -> set[tuple[date, str]]:
    """Make the event's credits what `wanted` says (io_id -> values), writing only what differs, so a
    replay rewrites nothing. Returns the (day, episode) pairs whose totals the old or new credits touch."""
    stored = {c.io_id: c for c in session.scalars(
        select(AttributionCredit).where(AttributionCredit.event_id == event.id))}
    touched = {(c.day, c.episode_id) for c in stored.values()}
    for io_id, values in wanted.items():
        credit = stored.pop(io_id, None)
        if credit is None:
            session.add(AttributionCredit(tenant_id=event.tenant_id, event_id=event.id, platform=event.platform,
                                          io_id=io_id, updated_at=utcnow(), **values))
        elif any(getattr(credit, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(credit, name, value)
            credit.updated_at = utcnow()
        touched.add((values["day"], values["episode_id"]))
    for credit in stored.values():
        session.delete(credit)
    session.flush()
    return touched


def reattribute(session: Session, tenant_id: int, window_days: int = DEFAULT_WINDOW_DAYS,
                cause: str = "reattribute", campaign_orders_only: bool = True) -> int:
    """Match and share the tenant's orders again; returns how many were gone through (what did not change
    is not rewritten).

    A model, a window or a campaign's IOs changing moves only orders of a campaign's code
    (`campaign_orders_only`). A campaign's code or URL changing may move any order but those an IO's
    own code holds, which win over every campaign's: an IO-held order keeps its IO as it always did."""
    query = select(AttributionEvent).where(AttributionEvent.tenant_id == tenant_id,
                                           AttributionEvent.day.is_not(None))
    if campaign_orders_only:
        query = query.where(AttributionEvent.campaign_id.is_not(None))
    else:
        query = query.where(or_(AttributionEvent.io_id.is_(None), AttributionEvent.matched_by != "promo_code"))
    events = session.scalars(query.order_by(AttributionEvent.id)).all()
    for event in events:
        attribute_event(session, event, window_days, cause)
    return len(events)


def recompute_daily(session: Session, tenant_id: int, platform: str, pairs: list[tuple[date, str]], cause: str) -> None:
    """metrics_daily(source=platform) for each (day, episode) = what its attribution credits add up to now:
    whole conversions and cents, so the platform's totals are its orders and its revenue exactly."""
    for day, episode_id in sorted(pairs):
        conversions, revenue = session.execute(select(
            func.coalesce(func.sum(AttributionCredit.whole_conversions), 0),
            func.coalesce(func.sum(AttributionCredit.revenue_cents), 0),
        ).where(AttributionCredit.tenant_id == tenant_id, AttributionCredit.platform == platform,
                AttributionCredit.day == day, AttributionCredit.episode_id == episode_id)).one()
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
