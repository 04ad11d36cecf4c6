"""Values the hub owns that a sheet also holds (an IO's status, a deal's stage): remembered, kept, mirrored back.

For each sheet row the hub remembers the value its cell last held as far as the hub knows: what a
push brought, or the hub's own value once written into the cell (`sheet_values`). Two things follow:

- a sheet push that still carries the remembered value while the hub holds another (the lifecycle
  completed the IO, the API moved the deal) is the sheet lagging behind, not a person moving the
  row: the hub keeps its value and the row is told why, `ok: unchanged (status is completed: flight
  ended 2025-01-31)`. A value the person really typed (not the remembered one) goes through the
  table's move rules as before, so `completed` edited to `live` is still refused;
- the write-back puts the hub's value into every cell that still holds the remembered value (a cell
  a person has edited since is left alone: their push will say whether the edit stands).

Only sheet pushes are remembered and mirrored. A CSV, an upload or a zap cannot be written back and
has no earlier value to compare with, so what it carries is taken as meant: a stale `live` for a
completed IO from a file is refused with the moves allowed, as it always was.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Campaign, EtlImport, IoBooking, SheetValue, utcnow
from .targets import SheetTarget

SHEET_SOURCE = "sheets"
_IN_CHUNK = 500  # keys per IN (...) list


@dataclass(frozen=True)
class OwnedColumn:
    """A column of an importable table that the hub may change by itself."""

    table: str
    column: str
    model: type
    key: str
    # Why the hub holds the value it holds: the note a lagging sheet row gets.
    why: Callable[[object, date], str]


def _io_why(io: IoBooking, today: date) -> str:
    if io.status == "completed":
        if io.booked_impressions and (io.delivered_impressions or 0) >= io.booked_impressions:
            return f"booked impressions reached ({io.delivered_impressions} of {io.booked_impressions})"
        if io.flight_end < (io.delivered_at.date() if io.delivered_at else today):
            return f"flight ended {io.flight_end.isoformat()}"
    return f"changed in the hub on {io.updated_at.date().isoformat()}"


def _deal_why(campaign: Campaign, today: date) -> str:
    at = campaign.stage_changed_at or campaign.created_at
    return f"moved in the hub on {at.date().isoformat()}" if at else "moved in the hub"


OWNED: dict[str, OwnedColumn] = {
    "io_bookings": OwnedColumn("io_bookings", "status", IoBooking, "io_id", _io_why),
    "deals": OwnedColumn("deals", "stage", Campaign, "campaign_id", _deal_why),
}


def _chunks(items: list[str]):
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start:start + _IN_CHUNK]


def remembered(session: Session, tenant_id: int, owned: OwnedColumn, keys) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(keys))):
        found.update(session.execute(select(SheetValue.row_key, SheetValue.value).where(
            SheetValue.tenant_id == tenant_id, SheetValue.table_name == owned.table,
            SheetValue.column_name == owned.column, SheetValue.row_key.in_(chunk))).all())
    return found


def remember(session: Session, tenant_id: int, owned: OwnedColumn, values: dict[str, str], origin: str) -> None:
    """Upsert the remembered values, in key order (concurrent pushes lock rows in the same order)."""
    if not values:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = utcnow()
    rows = [{"tenant_id": tenant_id, "table_name": owned.table, "row_key": key, "column_name": owned.column,
             "value": value, "origin": origin, "updated_at": now} for key, value in sorted(values.items())]
    for start in range(0, len(rows), _IN_CHUNK):
        statement = insert(SheetValue).values(rows[start:start + _IN_CHUNK])
        session.execute(statement.on_conflict_do_update(
            index_elements=["tenant_id", "table_name", "row_key", "column_name"],
            set_={"value": statement.excluded.value, "origin": statement.excluded.origin,
                  "updated_at": statement.excluded.updated_at}))


def _stored(session: Session, tenant_id: int, owned: OwnedColumn, keys) -> dict[str, object]:
    key_column = getattr(owned.model, owned.key)
    found: dict[str, object] = {}
    for chunk in _chunks(sorted(set(keys))):
        for row in session.scalars(select(owned.model).where(owned.model.tenant_id == tenant_id,
                                                               key_column.in_(chunk))):
            found[getattr(row, owned.key)] = row
    return found


class SheetCells:
    """One import's view of a table's owned column in its sheet. Only sheet pushes are compared (see the
    module's docstring); for any other source both steps do nothing."""

    def __init__(self, source: str, table: str):
        self.owned = OWNED[table] if source == SHEET_SOURCE else None
        # Key -> the value each row of the current batch carried, for `remember_received`.
        self.received: dict[str, object] = {}

    def keep_hub_values(self, session: Session, tenant_id: int, numbered: list[tuple[int, dict]]) -> dict[int, str]:
        """Before a sheet batch's rules run: rows still carrying the remembered value keep the hub's value.

        Such a record gets the hub's value (so it is no move); returns {row number: why} for those rows.
        """
        owned = self.owned
        if owned is None:
            return {}
        column, key = owned.column, owned.key
        self.received = {record[key]: record[column] for _, record in numbered if record.get(column)}
        last = remembered(session, tenant_id, owned, self.received)
        lagging = [(number, record) for number, record in numbered
                   if record.get(column) and last.get(record[key]) == record[column]]
        if not lagging:
            return {}
        stored = _stored(session, tenant_id, owned, [record[key] for _, record in lagging])
        notes, today = {}, utcnow().date()
        for number, record in lagging:
            row = stored.get(record[key])
            hub_value = getattr(row, column) if row is not None else None
            if hub_value is None or hub_value == record[column]:
                continue
            record[column] = hub_value
            notes[number] = f"{column} is {hub_value}: {owned.why(row, today)}"
        return notes

    def remember_received(self, session: Session, tenant_id: int, records: list[dict]) -> None:
        """After a sheet batch is written: its landed rows' cells hold what they carried (refused rows are not landed)."""
        owned = self.owned
        if owned is None:
            return
        remember(session, tenant_id, owned,
                 {record[owned.key]: self.received[record[owned.key]] for record in records
                  if record[owned.key] in self.received},
                 "received")


def mirror_cells(session: Session, tenant_id: int, table: str, sheet: list[list[str]],
                 header_row: int = 1) -> tuple[list[tuple[int, int, str]], dict[str, str]]:
    """The cells of a tab (as read, its header on `header_row`) that still hold the remembered value where
    the hub holds another: ([(row, column, hub value)], {key: hub value written})."""
    from ..headers import normalize_header

    owned = OWNED.get(table)
    if owned is None or len(sheet) < header_row:
        return [], {}
    names = [normalize_header(cell) for cell in sheet[header_row - 1]]
    if owned.key not in names or owned.column not in names:
        return [], {}
    key_at, value_at = names.index(owned.key), names.index(owned.column)
    places: dict[str, list[tuple[int, str]]] = {}
    for number, row in enumerate(sheet[header_row:], start=header_row + 1):
        key = str(row[key_at]).strip() if key_at < len(row) else ""
        if key:
            cell = str(row[value_at]).strip().lower() if value_at < len(row) else ""
            places.setdefault(key, []).append((number, cell))
    last = remembered(session, tenant_id, owned, places)
    stored = _stored(session, tenant_id, owned, [key for key in places if key in last])
    cells: list[tuple[int, int, str]] = []
    written: dict[str, str] = {}
    for key, value in last.items():
        row = stored.get(key)
        hub_value = getattr(row, owned.column) if row is not None else None
        if hub_value is None or hub_value == value:
            continue
        for number, cell in places[key]:
            if cell == value:  # a cell edited since is the person's: their next push decides
                cells.append((number, value_at + 1, hub_value))
                written[key] = hub_value
    return cells, written


def tenant_tab(session: Session, tenant_id: int, table: str) -> tuple[str, str, int] | None:
    """(spreadsheet id, tab, header row) of the tenant's latest sheet push (or pull) of `table`: where its rows live."""
    latest = session.scalars(select(EtlImport).where(
        EtlImport.tenant_id == tenant_id, EtlImport.source == SHEET_SOURCE, EtlImport.table_name == table)
        .order_by(EtlImport.created_at.desc()).limit(1)).first()
    if latest is None:
        return None
    context = latest.context or {}
    return context.get("spreadsheet_id") or "", context.get("sheet") or table, context.get("header_row") or 1


def mirror_to_sheet(session: Session, target: SheetTarget, tenant_id: int, table: str) -> int | None:
    """Write the hub's values into the tab's lagging cells (one read, one batch write); returns the cells written,
    None when the tenant never pushed this table from a sheet. The caller commits."""
    if table not in OWNED:
        return None
    where = tenant_tab(session, tenant_id, table)
    if where is None:
        return None
    spreadsheet_id, tab, header_row = where
    cells, written = mirror_cells(session, tenant_id, table, target.read_values(spreadsheet_id, tab), header_row)
    target.write_cells(spreadsheet_id, tab, cells)
    remember(session, tenant_id, OWNED[table], written, "written")
    return len(cells)
