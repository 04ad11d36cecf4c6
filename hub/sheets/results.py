"""The `hub_results` tab: what the hub computed for each IO, written back where the sales team looks."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import EtlImport, IoBooking, Match, utcnow
from ..workflows.io_summary import io_summary
from .targets import SheetTarget

RESULTS_TAB = "hub_results"
MATCHES_TAB = "matches"
TOP_MATCHES = 50
HEADER = ["io_id", "status", "episode_id", "flight_start", "flight_end", "booked_impressions",
          "delivered_impressions", "pacing", "conversions", "revenue", "cpa", "currency", "updated_at"]


def _money(cents: int | None) -> str:
    return "" if cents is None else f"{cents / 100:.2f}"


def results_rows(session: Session, tenant_id: int, today: date) -> list[list[str]]:
    ios = session.scalars(select(IoBooking).where(IoBooking.tenant_id == tenant_id, IoBooking.status != "cancelled")
                          .order_by(IoBooking.flight_start, IoBooking.io_id)).all()
    stamp = utcnow().strftime("%Y-%m-%d %H:%M:%SZ")
    rows = [list(HEADER)]
    for io in ios:
        s = io_summary(session, io, today)
        rows.append([s["io_id"], s["status"], s["episode_id"] or "", s["flight_start"], s["flight_end"],
                     str(s["booked_impressions"] or ""), str(s["delivered_impressions"]),
                     "" if s["pacing"] is None else f"{s['pacing']:.2f}", str(s["conversions"]),
                     _money(s["revenue_cents"]), _money(s["cpa_cents"]), s["currency"], stamp])
    return rows


def matches_rows(session: Session, tenant_id: int) -> list[list[str]]:
    top = session.scalars(select(Match).where(Match.tenant_id == tenant_id)
                          .order_by(Match.score.desc(), Match.advertiser_id, Match.podcast_id).limit(TOP_MATCHES)).all()
    rows = [["advertiser_id", "podcast_id", "score", "rationale", "updated_at"]]
    rows += [[m.advertiser_id, m.podcast_id, f"{m.score:.1f}", m.rationale or "",
              m.updated_at.strftime("%Y-%m-%d %H:%M:%SZ")] for m in top]
    return rows


def tenant_spreadsheet(session: Session, tenant_id: int) -> str | None:
    """The spreadsheet this tenant last pushed from: where its results belong."""
    latest = session.scalars(select(EtlImport).where(EtlImport.tenant_id == tenant_id, EtlImport.source == "sheets")
                             .order_by(EtlImport.created_at.desc()).limit(1)).first()
    return (latest.context or {}).get("spreadsheet_id") if latest else None


def write_results(session: Session, target: SheetTarget, tenant_id: int, today: date) -> int | None:
    """Replace the tenant's hub_results tab; returns the IO rows written, or None with no known spreadsheet."""
    spreadsheet_id = tenant_spreadsheet(session, tenant_id)
    if spreadsheet_id is None:
        return None
    rows = results_rows(session, tenant_id, today)
    target.replace_tab(spreadsheet_id, RESULTS_TAB, rows)
    matches = matches_rows(session, tenant_id)
    if len(matches) > 1:  # only once matchmaking has scored something
        target.replace_tab(spreadsheet_id, MATCHES_TAB, matches)
    return len(rows) - 1
