"""What each importable table accepts: its columns, their parsers, its key and its row rules."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import date
from typing import Callable

from sqlalchemy import Table, select

from ..models import IO_STATUSES, AttributionEvent, IoBooking, MetricsDaily
from . import values as v

RowRule = Callable[[dict], list[tuple[str, str]]]


@dataclass(frozen=True)
class Column:
    name: str
    parse: Callable[[object], object]
    required: bool = False
    # Another header that carries the same value in other units, e.g. `revenue` in currency units.
    alias: str | None = None
    alias_parse: Callable[[object], object] | None = None
    # A key column must have a value in every row.
    key: bool = False


@dataclass(frozen=True)
class TableSpec:
    name: str
    table: Table
    columns: tuple[Column, ...]
    rules: tuple[RowRule, ...] = ()
    # Used when a new row is inserted and the input has no such column; an update leaves them alone.
    insert_defaults: dict[str, object] = field(default_factory=dict)
    # Set to now whenever a row is written; only a real change writes a row.
    touched_at: str = "last_updated"
    created_at: str | None = None
    # Tables that are not a plain upsert (conversions are attributed) write their batch here instead.
    writer: Callable | None = None
    # Row rules that need the database (an IO's promo code, a deal's stage move): check(session, tenant_id,
    # [(row_number, record), ...], memo) -> {row_number: RowError}, run in the batch's transaction before
    # it is written; after_write(session, tenant_id, records, outcomes, memo) follows the write (its events).
    check: Callable | None = None
    after_write: Callable | None = None

    @cached_property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _flight_order(row: dict) -> list[tuple[str, str]]:
    start, end = row.get("flight_start"), row.get("flight_end")
    if isinstance(start, date) and isinstance(end, date) and end < start:
        return [("flight_end", f"{end.isoformat()} is before flight_start {start.isoformat()}")]
    return []


def _listeners_within_downloads(row: dict) -> list[tuple[str, str]]:
    downloads, listeners = row.get("downloads"), row.get("listeners")
    if isinstance(downloads, int) and isinstance(listeners, int) and listeners > downloads:
        return [("listeners", f"{listeners} is more than downloads {downloads}; a listener downloads at least once")]
    return []


METRICS_DAILY = TableSpec(
    name="metrics_daily",
    table=MetricsDaily.__table__,
    columns=(
        Column("day", v.parse_date, required=True, key=True),
        Column("episode_id", v.parse_identifier, required=True, key=True),
        Column("source", v.parse_source, required=True, key=True),
        Column("podcast_id", v.parse_identifier),
        Column("downloads", v.parse_count),
        Column("listeners", v.parse_count),
        Column("completion_rate", v.parse_rate),
        Column("ctr", v.parse_rate),
        Column("conversions", v.parse_count),
        Column("revenue_cents", v.parse_count, alias="revenue", alias_parse=v.parse_money_cents),
    ),
    rules=(_listeners_within_downloads,),
)

def _check_ios(*args) -> dict:
    from .io_rules import check_ios  # imported when used: io_rules needs validate, which needs this module

    return check_ios(*args)


def _record_io_moves(*args) -> None:
    from .io_rules import record_io_moves

    record_io_moves(*args)


IO_BOOKINGS = TableSpec(
    name="io_bookings",
    table=IoBooking.__table__,
    columns=(
        Column("io_id", v.parse_identifier, required=True, key=True),
        Column("flight_start", v.parse_date, required=True),
        Column("flight_end", v.parse_date, required=True),
        Column("campaign_id", v.parse_identifier),
        Column("ad_unit_id", v.parse_identifier),
        Column("episode_id", v.parse_identifier),
        Column("podcast_id", v.parse_identifier),
        Column("booked_impressions", v.parse_count),
        Column("booked_cpm_cents", v.parse_count, alias="booked_cpm", alias_parse=v.parse_money_cents),
        Column("promo_code", v.parse_promo_code),
        Column("vanity_url", v.parse_url),
        Column("status", v.parse_choice(IO_STATUSES)),
        Column("currency", v.parse_currency),
    ),
    rules=(_flight_order,),
    check=_check_ios,
    after_write=_record_io_moves,
    insert_defaults={"status": "draft", "currency": "USD"},
    touched_at="updated_at",
    created_at="created_at",
)

def _write_conversions(session, tenant_id: int, import_id: str, records: list[dict], platform: str = "zapier") -> list[str]:
    from ..attribution.attribute import apply_order
    from connectors.orders import Order

    outcomes = []
    for record in records:
        order = Order(
            platform=platform, order_id=record["order_id"], occurred_at=record["occurred_at"],
            total_cents=record.get("revenue_cents") or 0, currency=record.get("currency"),
            codes=record.get("promo_code") or [],
            urls=[u for u in (record.get("landing_url"), record.get("referring_url")) if u],
            cancelled=record.get("status") == "cancelled", kind=record.get("kind") or "order",
            version_at=record.get("updated_at"), payload={k: str(v) for k, v in record.items() if v is not None},
        )
        existed = session.scalar(select(AttributionEvent.id).where(
            AttributionEvent.tenant_id == tenant_id, AttributionEvent.platform == platform,
            AttributionEvent.order_id == order.order_id))
        event = apply_order(session, tenant_id, order, cause=import_id)
        outcomes.append("unchanged" if event is None else "updated" if existed else "inserted")
    return outcomes


# An order or lead from any shop or CRM (Zapier's `conversions` stream), attributed like Shopify's.
CONVERSIONS = TableSpec(
    name="conversions",
    table=AttributionEvent.__table__,
    columns=(
        Column("order_id", v.parse_identifier, required=True, key=True),
        Column("occurred_at", v.parse_datetime, required=True),
        Column("updated_at", v.parse_datetime),
        Column("revenue_cents", v.parse_count, alias="revenue", alias_parse=v.parse_money_cents),
        Column("currency", v.parse_currency),
        Column("promo_code", v.parse_code_list),
        Column("landing_url", v.parse_url),
        Column("referring_url", v.parse_url),
        Column("status", v.parse_choice(("open", "paid", "cancelled"))),
        Column("kind", v.parse_choice(("order", "lead"))),
    ),
    writer=_write_conversions,
)

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (METRICS_DAILY, IO_BOOKINGS, CONVERSIONS)}
# Columns the hub itself writes into a sheet; they come back in pushes and are not data.
HUB_COLUMNS = frozenset({"hub_status", "hub_synced_at"})

# The deals table builds on Column and TableSpec above and adds itself to TABLES; imported last so
# that either module may be imported first.
from . import deals_table  # noqa: E402,F401
