"""The `hub_results` tab: what the hub computed for each IO, written back where the sales team looks."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import IoBooking, Match, utcnow
from ..workflows.io_summary import io_summary
from .ownership import latest_spreadsheet
from .targets import DAY, MOMENT, MONEY, RATIO, WHOLE, Cell, NumberFormat, SheetTarget

RESULTS_TAB = "hub_results"
MATCHES_TAB = "matches"
TOP_MATCHES = 50
HEADER = ["io_id", "status", "episode_id", "flight_start", "flight_end", "booked_impressions",
          "delivered_impressions", "pacing", "conversions", "revenue", "cpa", "currency", "updated_at"]
# Conversions are attribution credits: an order shared among a campaign's IOs counts 0.25 here, 0.75 there.
SHARES = NumberFormat("NUMBER", "#,##0.00")
# Counts, money, rates and dates are numbers in the sheet (SUM and charts work), shown in these formats.
RESULTS_FORMATS: dict[int, NumberFormat] = {
    HEADER.index("flight_start"): DAY, HEADER.index("flight_end"): DAY,
    HEADER.index("booked_impressions"): WHOLE, HEADER.index("delivered_impressions"): WHOLE,
    HEADER.index("pacing"): RATIO, HEADER.index("conversions"): SHARES,
    HEADER.index("revenue"): MONEY, HEADER.index("cpa"): MONEY, HEADER.index("updated_at"): MOMENT,
}
MATCHES_HEADER = ["advertiser_id", "podcast_id", "score", "rationale", "updated_at"]
MATCHES_FORMATS = {MATCHES_HEADER.index("score"): NumberFormat("NUMBER", "0.0"),
                   MATCHES_HEADER.index("updated_at"): MOMENT}


def _money(cents: int | None) -> Decimal | None:
    """Cents as an exact amount in currency units (110.5 for 11050), or an empty cell."""
    return None if cents is None else Decimal(cents) / 100


def results_rows(session: Session, tenant_id: int, today: date) -> list[list[Cell]]:
    ios = session.scalars(select(IoBooking).where(IoBooking.tenant_id == tenant_id, IoBooking.status != "cancelled")
                          .order_by(IoBooking.flight_start, IoBooking.io_id)).all()
    stamp = utcnow().replace(microsecond=0)
    rows: list[list[Cell]] = [list(HEADER)]
    for io in ios:
        s = io_summary(session, io, today)
        rows.append([s["io_id"], s["status"], s["episode_id"] or "", io.flight_start, io.flight_end,
                     s["booked_impressions"], s["delivered_impressions"], s["pacing"], s["conversions"],
                     _money(s["revenue_cents"]), _money(s["cpa_cents"]), s["currency"], stamp])
    return rows


def matches_rows(session: Session, tenant_id: int) -> list[list[Cell]]:
    top = session.scalars(select(Match).where(Match.tenant_id == tenant_id)
                          .order_by(Match.score.desc(), Match.advertiser_id, Match.podcast_id).limit(TOP_MATCHES)).all()
    rows: list[list[Cell]] = [list(MATCHES_HEADER)]
    rows += [[m.advertiser_id, m.podcast_id, round(m.score, 1), m.rationale or "",
              m.updated_at.replace(microsecond=0)] for m in top]
    return rows


def write_results(session: Session, target: SheetTarget, tenant_id: int, today: date) -> int | None:
    """Replace the tenant's hub_results tab; returns the IO rows written, or None with no known spreadsheet."""
    spreadsheet_id = latest_spreadsheet(session, tenant_id)
    if spreadsheet_id is None:
        return None
    rows = results_rows(session, tenant_id, today)
    target.replace_tab(spreadsheet_id, RESULTS_TAB, rows, RESULTS_FORMATS)
    matches = matches_rows(session, tenant_id)
    if len(matches) > 1:  # only once matchmaking has scored something
        target.replace_tab(spreadsheet_id, MATCHES_TAB, matches, MATCHES_FORMATS)
    return len(rows) - 1
