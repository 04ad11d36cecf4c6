"""The `hub_results` tab: what the hub computed for each IO, written back where the sales team looks."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import IoBooking, Match, utcnow
from ..workflows.discrepancies import DEFAULT_TOLERANCE
from ..workflows.io_summary import io_summary
from ..workflows.make_goods import make_goods
from ..workflows.pacing import PacingThresholds
from .ownership import latest_spreadsheet
from .targets import DAY, MOMENT, MONEY, RATIO, WHOLE, Cell, Highlight, NumberFormat, SheetTarget

RESULTS_TAB = "hub_results"
MATCHES_TAB = "matches"
MAKE_GOODS_TAB = "make_goods"
TOP_MATCHES = 50
HEADER = ["io_id", "status", "episode_id", "flight_start", "flight_end", "booked_impressions",
          "delivered_impressions", "pacing", "conversions", "revenue", "cpa", "currency",
          "pacing_state", "expected_impressions", "projected_impressions", "delivery", "source_conflicts", "updated_at"]
# Conversions are attribution credits: an order shared among a campaign's IOs counts 0.25 here, 0.75 there.
SHARES = NumberFormat("NUMBER", "#,##0.00")
# Counts, money, rates and dates are numbers in the sheet (SUM and charts work), shown in these formats.
RESULTS_FORMATS: dict[int, NumberFormat] = {
    HEADER.index("flight_start"): DAY, HEADER.index("flight_end"): DAY,
    HEADER.index("booked_impressions"): WHOLE, HEADER.index("delivered_impressions"): WHOLE,
    HEADER.index("pacing"): RATIO, HEADER.index("conversions"): SHARES,
    HEADER.index("revenue"): MONEY, HEADER.index("cpa"): MONEY, HEADER.index("updated_at"): MOMENT,
    HEADER.index("expected_impressions"): WHOLE, HEADER.index("projected_impressions"): WHOLE,
    HEADER.index("source_conflicts"): WHOLE,
}
# The sheet colours the pacing state and an under-delivery (conditional formats, set once on the tab).
PACING_COLOURS = {"on_track": "#b7e1cd", "behind": "#fce8b2", "at_risk": "#f4c7c3", "over": "#c9daf8"}
RESULTS_HIGHLIGHTS = tuple(Highlight(HEADER.index("pacing_state"), state, colour)
                           for state, colour in PACING_COLOURS.items()) + (
    Highlight(HEADER.index("delivery"), "under", "#f4c7c3"),)
MAKE_GOODS_HEADER = ["io_id", "shortfall", "shortfall_value", "rank", "kind", "id", "title", "podcast_id",
                     "expected_downloads", "value", "currency", "updated_at"]
MAKE_GOODS_FORMATS = {MAKE_GOODS_HEADER.index("shortfall"): WHOLE, MAKE_GOODS_HEADER.index("shortfall_value"): MONEY,
                      MAKE_GOODS_HEADER.index("rank"): WHOLE, MAKE_GOODS_HEADER.index("expected_downloads"): WHOLE,
                      MAKE_GOODS_HEADER.index("value"): MONEY, MAKE_GOODS_HEADER.index("updated_at"): MOMENT}
MATCHES_HEADER = ["advertiser_id", "podcast_id", "score", "rationale", "updated_at"]
MATCHES_FORMATS = {MATCHES_HEADER.index("score"): NumberFormat("NUMBER", "0.0"),
                   MATCHES_HEADER.index("updated_at"): MOMENT}


def _money(cents: int | None) -> Decimal | None:
    """Cents as an exact amount in currency units (110.5 for 11050), or an empty cell."""
    return None if cents is None else Decimal(cents) / 100


def _ios(session: Session, tenant_id: int) -> list[IoBooking]:
    return session.scalars(select(IoBooking).where(IoBooking.tenant_id == tenant_id, IoBooking.status != "cancelled")
                           .order_by(IoBooking.flight_start, IoBooking.io_id)).all()


def results_rows(session: Session, tenant_id: int, today: date,
                 thresholds: PacingThresholds = PacingThresholds(), tolerance: float = DEFAULT_TOLERANCE) -> list[list[Cell]]:
    stamp = utcnow().replace(microsecond=0)
    rows: list[list[Cell]] = [list(HEADER)]
    for io in _ios(session, tenant_id):
        s = io_summary(session, io, today, thresholds, tolerance)
        in_flight = s["pacing_state"] is not None
        rows.append([s["io_id"], s["status"], s["episode_id"] or "", io.flight_start, io.flight_end,
                     s["booked_impressions"], s["delivered_impressions"], s["pacing"], s["conversions"],
                     _money(s["revenue_cents"]), _money(s["cpa_cents"]), s["currency"],
                     s["pacing_state"] or "", s["expected_to_date"] if in_flight else None,
                     s["projected_impressions"] if in_flight else None, s["delivery"] or "",
                     len(s["source_conflicts"]), stamp])
    return rows


def make_goods_rows(session: Session, tenant_id: int, today: date,
                    thresholds: PacingThresholds = PacingThresholds()) -> list[list[Cell]]:
    """Each under-delivered completed IO's make-good suggestions, cheapest first (hub/workflows/make_goods.py)."""
    stamp = utcnow().replace(microsecond=0)
    rows: list[list[Cell]] = [list(MAKE_GOODS_HEADER)]
    for io in _ios(session, tenant_id):
        if io.status != "completed":
            continue
        found = make_goods(session, io, today, thresholds)
        for rank, option in enumerate(found["suggestions"], start=1):
            rows.append([io.io_id, found["shortfall"], _money(found["shortfall_value_cents"]), rank, option["kind"],
                         option["id"], option["title"] or "", option["podcast_id"] or "",
                         option["expected_downloads"], _money(option["value_cents"]), io.currency, stamp])
    return rows


def matches_rows(session: Session, tenant_id: int) -> list[list[Cell]]:
    top = session.scalars(select(Match).where(Match.tenant_id == tenant_id)
                          .order_by(Match.score.desc(), Match.advertiser_id, Match.podcast_id).limit(TOP_MATCHES)).all()
    rows: list[list[Cell]] = [list(MATCHES_HEADER)]
    rows += [[m.advertiser_id, m.podcast_id, round(m.score, 1), m.rationale or "",
              m.updated_at.replace(microsecond=0)] for m in top]
    return rows


def write_results(session: Session, target: SheetTarget, tenant_id: int, today: date,
                  thresholds: PacingThresholds = PacingThresholds(), tolerance: float = DEFAULT_TOLERANCE) -> int | None:
    """Replace the tenant's hub_results tab (and make_goods, once an IO fell short); returns the IO rows
    written, or None with no known spreadsheet."""
    spreadsheet_id = latest_spreadsheet(session, tenant_id)
    if spreadsheet_id is None:
        return None
    rows = results_rows(session, tenant_id, today, thresholds, tolerance)
    target.replace_tab(spreadsheet_id, RESULTS_TAB, rows, RESULTS_FORMATS, RESULTS_HIGHLIGHTS)
    suggestions = make_goods_rows(session, tenant_id, today, thresholds)
    if len(suggestions) > 1:  # only once an IO has fallen short and something can make it good
        target.replace_tab(spreadsheet_id, MAKE_GOODS_TAB, suggestions, MAKE_GOODS_FORMATS)
    matches = matches_rows(session, tenant_id)
    if len(matches) > 1:  # only once matchmaking has scored something
        target.replace_tab(spreadsheet_id, MATCHES_TAB, matches, MATCHES_FORMATS)
    return len(rows) - 1
