"""Dashboards as data: what a creator, an advertiser and ad ops each look at, as plain JSON-able dicts.

Read at request time from the store, tenant by tenant; the figures use the same definitions as the
rest of the hub: downloads are host rows of metrics_daily (shop rows carry money, not listens),
an IO's delivery, pacing, conversions, revenue and CPA are `io_summary`'s.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..models import (
    Campaign,
    ConnectorState,
    Episode,
    EtlImport,
    EtlRowError,
    Event,
    HookDelivery,
    HookSubscription,
    IoBooking,
    MetricsDaily,
    RUNNING_IO_STATUSES,
    Podcast,
    Sponsor,
)
from .io_lifecycle import COMMERCE_SOURCES
from .io_summary import cost_per_conversion, io_summary, tidy_conversions
from .matchmaking import episode_podcasts

TOP_EPISODES = 5
OPS_WINDOW = timedelta(hours=24)
OPS_LIST_LIMIT = 20


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _growth(last: int, before: int) -> float | None:
    return round((last - before) / before, 4) if before else None


# --- creator ------------------------------------------------------------------------------------

def creator(session: Session, tenant_id: int, today: date, top_episodes: int = TOP_EPISODES) -> dict:
    """Per podcast: downloads in the last 7 and 30 days (ending `today`), growth on the 30 days
    before, its top episodes of the last 30 days, and its active (scheduled/live) IOs with pacing."""
    start7, start30 = today - timedelta(days=6), today - timedelta(days=29)
    start_prev = start30 - timedelta(days=30)
    downloads = func.coalesce(MetricsDaily.downloads, 0)
    per_episode = session.execute(
        select(
            MetricsDaily.episode_id,
            MetricsDaily.podcast_id,
            func.sum(case((MetricsDaily.day >= start7, downloads), else_=0)),
            func.sum(case((MetricsDaily.day >= start30, downloads), else_=0)),
            func.sum(case((MetricsDaily.day < start30, downloads), else_=0)),
        )
        .where(MetricsDaily.tenant_id == tenant_id, MetricsDaily.day >= start_prev, MetricsDaily.day <= today,
               MetricsDaily.source.not_in(COMMERCE_SOURCES))
        .group_by(MetricsDaily.episode_id, MetricsDaily.podcast_id)
    ).all()
    mapping = episode_podcasts(session, tenant_id)
    catalog = {p.podcast_id: p for p in session.scalars(select(Podcast).where(Podcast.tenant_id == tenant_id))}
    titles = dict(session.execute(select(Episode.episode_id, Episode.title).where(Episode.tenant_id == tenant_id)).all())

    podcasts: dict[str, dict] = {}

    def podcast(podcast_id: str) -> dict:
        if podcast_id not in podcasts:
            known = catalog.get(podcast_id)
            podcasts[podcast_id] = {
                "podcast_id": podcast_id, "title": known.title if known else None,
                "category": known.category if known else None,
                "downloads_7d": 0, "downloads_30d": 0, "downloads_prev_30d": 0, "growth": None,
                "episodes": defaultdict(int), "active_ios": [],
            }
        return podcasts[podcast_id]

    for podcast_id in catalog:
        podcast(podcast_id)
    unassigned_downloads_30d = 0
    for episode_id, podcast_id, last7, last30, before in per_episode:
        podcast_id = podcast_id or mapping.get(episode_id)
        if podcast_id is None:
            unassigned_downloads_30d += int(last30 or 0)
            continue
        item = podcast(podcast_id)
        item["downloads_7d"] += int(last7 or 0)
        item["downloads_30d"] += int(last30 or 0)
        item["downloads_prev_30d"] += int(before or 0)
        item["episodes"][episode_id] += int(last30 or 0)

    ios = session.scalars(select(IoBooking).where(
        IoBooking.tenant_id == tenant_id, IoBooking.status.in_(RUNNING_IO_STATUSES))
        .order_by(IoBooking.flight_start, IoBooking.io_id)).all()
    unassigned_ios = []
    for io in ios:
        # The dashboards' `today` is the last day with data (their windows end on it); pacing counts the
        # days before the day it is given, so it is given the day after.
        summary = io_summary(session, io, today + timedelta(days=1))
        shown = {key: summary[key] for key in (
            "io_id", "status", "campaign_id", "episode_id", "flight_start", "flight_end",
            "booked_impressions", "delivered_impressions", "pacing")}
        podcast_id = io.podcast_id or mapping.get(io.episode_id or "")
        if podcast_id is None:
            unassigned_ios.append(shown)
        else:
            podcast(podcast_id)["active_ios"].append(shown)

    result = []
    for podcast_id in sorted(podcasts):
        item = podcasts[podcast_id]
        episodes = sorted(item.pop("episodes").items(), key=lambda e: (-e[1], e[0]))
        item["growth"] = _growth(item["downloads_30d"], item["downloads_prev_30d"])
        item["top_episodes"] = [{"episode_id": e, "title": titles.get(e), "downloads_30d": n}
                                for e, n in episodes[:top_episodes] if n > 0]
        result.append(item)
    return {"as_of": today.isoformat(), "podcasts": result,
            "unassigned": {"downloads_30d": unassigned_downloads_30d, "active_ios": unassigned_ios}}


# --- advertiser ---------------------------------------------------------------------------------

TOTAL_FIELDS = ("booked_impressions", "delivered_impressions", "conversions", "revenue_cents", "cost_cents")


def _totals(summaries: list[dict]) -> dict:
    """Sums over the IOs that count (a cancelled IO is listed, not counted)."""
    counted = [s for s in summaries if s["status"] != "cancelled"]
    totals = {name: sum(s[name] or 0 for s in counted) for name in TOTAL_FIELDS}
    totals["ios"] = len(counted)
    return _finish(totals)


def _add(into: dict, totals: dict) -> None:
    for name in (*TOTAL_FIELDS, "ios"):
        into[name] = into.get(name, 0) + totals[name]


def _finish(totals: dict) -> dict:
    totals["delivered_vs_booked"] = (round(totals["delivered_impressions"] / totals["booked_impressions"], 3)
                                     if totals.get("booked_impressions") else None)
    totals["conversions"] = tidy_conversions(totals.get("conversions") or 0)
    totals["cpa_cents"] = cost_per_conversion(totals["cost_cents"], totals["conversions"])
    return totals


def advertiser(session: Session, tenant_id: int, today: date) -> dict:
    """Per campaign (deal) and per sponsor: IOs, delivered against booked, conversions, revenue, CPA."""
    campaigns = {c.campaign_id: c for c in session.scalars(select(Campaign).where(Campaign.tenant_id == tenant_id))}
    sponsors = {s.sponsor_id: s for s in session.scalars(select(Sponsor).where(Sponsor.tenant_id == tenant_id))}
    by_campaign: dict[str | None, list[dict]] = defaultdict(list)
    for io in session.scalars(select(IoBooking).where(IoBooking.tenant_id == tenant_id)
                              .order_by(IoBooking.flight_start, IoBooking.io_id)):
        by_campaign[io.campaign_id].append(io_summary(session, io, today + timedelta(days=1)))  # as in creator()

    rows, per_sponsor = [], {}
    for campaign_id in sorted(set(campaigns) | set(by_campaign), key=lambda c: (c is None, c or "")):
        campaign = campaigns.get(campaign_id) if campaign_id is not None else None
        summaries = by_campaign.get(campaign_id, [])
        totals = _totals(summaries)
        sponsor_id = campaign.sponsor_id if campaign else None
        rows.append({
            "campaign_id": campaign_id, "name": campaign.name if campaign else None, "sponsor_id": sponsor_id,
            "stage": campaign.stage if campaign else None, "budget_cents": campaign.budget_cents if campaign else None,
            "totals": totals, "ios": summaries,
        })
        if sponsor_id is not None:
            entry = per_sponsor.setdefault(sponsor_id, {"sponsor_id": sponsor_id, "campaigns": [], "totals": {}})
            entry["campaigns"].append(campaign_id)
            _add(entry["totals"], totals)
    sponsor_rows = []
    for sponsor_id in sorted(set(per_sponsor) | set(sponsors)):
        entry = per_sponsor.get(sponsor_id) or {"sponsor_id": sponsor_id, "campaigns": [],
                                                "totals": {name: 0 for name in (*TOTAL_FIELDS, "ios")}}
        known = sponsors.get(sponsor_id)
        entry.update(name=known.name if known else None, category=known.category if known else None)
        entry["totals"] = _finish(entry["totals"])
        sponsor_rows.append(entry)
    return {"as_of": today.isoformat(), "campaigns": rows, "sponsors": sponsor_rows}


# --- ops ----------------------------------------------------------------------------------------

def ops(session: Session, tenant_id: int, now: datetime) -> dict:
    """Imports of the last 24 hours by status, refused rows, failed imports, connectors and their last
    error, and hook deliveries still pending."""
    since = now - OPS_WINDOW
    recent = (EtlImport.tenant_id == tenant_id, EtlImport.created_at >= since)
    by_status = dict(session.execute(select(EtlImport.status, func.count()).where(*recent)
                                     .group_by(EtlImport.status)).all())
    rows_total, rows_refused = session.execute(select(
        func.coalesce(func.sum(EtlImport.rows_total), 0), func.coalesce(func.sum(EtlImport.rows_refused), 0),
    ).where(*recent)).one()
    failed = session.scalars(select(EtlImport).where(*recent, EtlImport.status == "failed")
                             .order_by(EtlImport.created_at.desc(), EtlImport.id).limit(OPS_LIST_LIMIT)).all()
    row_errors = session.execute(
        select(EtlRowError.import_id, EtlRowError.row_number, EtlRowError.column, EtlRowError.message)
        .where(EtlRowError.tenant_id == tenant_id, EtlRowError.created_at >= since)
        .order_by(EtlRowError.created_at.desc(), EtlRowError.id.desc()).limit(OPS_LIST_LIMIT)).all()
    connectors = session.scalars(select(ConnectorState).where(ConnectorState.tenant_id == tenant_id)
                                 .order_by(ConnectorState.connector)).all()
    delivery_counts = dict(session.execute(select(HookDelivery.status, func.count())
                                           .where(HookDelivery.tenant_id == tenant_id)
                                           .group_by(HookDelivery.status)).all())
    pending = session.execute(
        select(HookDelivery, Event.name, HookSubscription.target_url)
        .join(Event, Event.id == HookDelivery.event_id)
        .join(HookSubscription, HookSubscription.id == HookDelivery.subscription_id)
        .where(HookDelivery.tenant_id == tenant_id, HookDelivery.status == "pending")
        .order_by(HookDelivery.created_at, HookDelivery.id).limit(OPS_LIST_LIMIT)).all()
    undispatched = session.scalar(select(func.count()).select_from(Event).where(
        Event.tenant_id == tenant_id, Event.dispatched_at.is_(None)))
    return {
        "since": _iso(since),
        "imports": {
            "by_status": {status: int(count) for status, count in sorted(by_status.items())},
            "total": int(sum(by_status.values())),
            "rows": int(rows_total),
            "rows_refused": int(rows_refused),
        },
        "failed_imports": [{"import_id": imp.id, "table": imp.table_name, "source": imp.source, "error": imp.error,
                            "created_at": _iso(imp.created_at), "finished_at": _iso(imp.finished_at)}
                           for imp in failed],
        "recent_row_errors": [{"import_id": import_id, "row": row, "column": column, "message": message}
                              for import_id, row, column, message in row_errors],
        "connectors": [{"connector": c.connector, "status": c.status, "last_sync_at": _iso(c.last_sync_at),
                        "last_error": c.last_error} for c in connectors],
        "hook_deliveries": {
            "by_status": {status: int(count) for status, count in sorted(delivery_counts.items())},
            "pending": int(delivery_counts.get("pending", 0)),
            "pending_list": [{"id": d.id, "event": name, "target_url": target, "attempts": d.attempts,
                              "last_status_code": d.last_status_code, "last_error": d.last_error,
                              "created_at": _iso(d.created_at)} for d, name, target in pending],
        },
        "events_waiting_dispatch": int(undispatched or 0),
    }
