"""io_bookings: insertion orders, with the rules that make an IO more than a row: its flight's order, a
promo code held by one active IO at a time (within the input and against what is stored), the status
moves the lifecycle allows, and the events of the moves made."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ...attribution.attribute import DEFAULT_WINDOW_DAYS, reattribute
from ...models import ACTIVE_IO_STATUSES, IO_STATUSES, Campaign, IoBooking
from ...sheets import mirror
from ...workflows import io_lifecycle
from .. import values as v
from ..spec import MIRROR, Column, RowError, TableRules, TableSpec


def flight_order(row: dict) -> list[tuple[str, str]]:
    start, end = row.get("flight_start"), row.get("flight_end")
    if isinstance(start, date) and isinstance(end, date) and end < start:
        return [("flight_end", f"{end.isoformat()} is before flight_start {start.isoformat()}")]
    return []


def holds_code(record: dict) -> bool:
    """Whether the IO row claims its promo code: it has one and is (or becomes) active."""
    return bool(record.get("promo_code")) and record.get("status", "draft") in ACTIVE_IO_STATUSES


def promo_clashes(session: Session, tenant_id: int, batch: list[tuple[int, dict]]) -> dict[int, RowError]:
    """Promo codes in the batch that an active IO already stored under another io_id holds."""
    wanted = {record["promo_code"].lower(): (number, record) for number, record in batch if holds_code(record)}
    if not wanted:
        return {}
    rows = session.execute(
        select(IoBooking.io_id, func.lower(IoBooking.promo_code)).where(
            IoBooking.tenant_id == tenant_id,
            IoBooking.status.in_(ACTIVE_IO_STATUSES),
            func.lower(IoBooking.promo_code).in_(list(wanted)),
        )
    ).all()
    clashes: dict[int, RowError] = {}
    for io_id, code in rows:
        number, record = wanted[code]
        if io_id != record["io_id"]:
            clashes[number] = RowError(
                number, "promo_code",
                f"{record['promo_code']} is already the promo code of active IO {io_id}; "
                "expected a code no other draft/scheduled/live IO uses",
            )
    return clashes


class IoBookingRules(TableRules):
    def __init__(self, source: str, settings=None):
        super().__init__(source, settings)
        # Promo code (lower case) -> (io_id, row number) of the input's first active IO holding it.
        self.code_owner: dict[str, tuple[str, int]] = {}
        # Each batch's IOs' statuses before its write, for the events of the moves it makes.
        self.statuses_before: dict[str, str] = {}
        self.sheet = mirror.SheetCells(source, "io_bookings")

    def per_input(self, row_number: int, record: dict) -> RowError | None:
        if not holds_code(record):
            return None
        code = record["promo_code"]
        owner = self.code_owner.setdefault(code.lower(), (record["io_id"], row_number))
        if owner[0] == record["io_id"]:
            return None
        return RowError(row_number, "promo_code",
                        f"{code} is already the promo code of active IO {owner[0]} (row {owner[1]}); "
                        "expected a code no other draft/scheduled/live IO uses")

    def check(self, session: Session, tenant_id: int, numbered: list[tuple[int, dict]]) -> dict[int, RowError]:
        """Rows refused for a promo-code clash or a status move; remembers each IO's status before the write."""
        # First: a sheet row still showing the status it last had keeps the hub's (no move, no clash).
        self.notes.update(self.sheet.keep_hub_values(session, tenant_id, numbered))
        refusals = promo_clashes(session, tenant_id, numbered)
        self.statuses_before = io_lifecycle.current_statuses(session, tenant_id, [r["io_id"] for _, r in numbered])
        for number, record in numbered:
            reason = io_lifecycle.refused_move(self.statuses_before.get(record["io_id"]), record.get("status"))
            if reason and number not in refusals:
                refusals[number] = RowError(number, "status", reason)
        return refusals

    def after_write(self, session: Session, tenant_id: int, records: list[dict], outcomes: list[str]) -> None:
        self.sheet.remember_received(session, tenant_id, records)
        io_lifecycle.record_moves(session, tenant_id, [
            (r["io_id"], self.statuses_before.get(r["io_id"]), r["status"])
            for r, outcome in zip(records, outcomes) if outcome != "unchanged" and r.get("status")])
        if any(outcome != "unchanged" for outcome in outcomes) and has_campaign_codes(session, tenant_id):
            # An IO joined, left or moved within a campaign whose code shares orders among its IOs.
            window = self.settings.conversion_window_days if self.settings else DEFAULT_WINDOW_DAYS
            reattribute(session, tenant_id, window)


def has_campaign_codes(session: Session, tenant_id: int) -> bool:
    return session.scalar(select(func.count()).select_from(Campaign).where(
        Campaign.tenant_id == tenant_id, or_(Campaign.promo_code.is_not(None), Campaign.vanity_url.is_not(None)))) > 0


IO_BOOKINGS = TableSpec(
    name="io_bookings",
    keeps_history=True,
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
    row_rules=(flight_order,),
    rules=IoBookingRules,
    insert_defaults={"status": "draft", "currency": "USD"},
    touched_at="updated_at",
    created_at="created_at",
    flag="io_bookings",
    switched_off="IO bookings are switched off on this hub (ENABLE_IO_BOOKINGS=false)",
    after_import=(MIRROR,),
)
