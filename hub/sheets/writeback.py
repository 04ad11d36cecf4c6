"""After a sheet push is imported, write each row's outcome beside it: `hub_status` and `hub_synced_at`."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..headers import normalize_header
from ..models import EtlImport, EtlImportChunk
from . import mirror
from .targets import SheetTarget

log = logging.getLogger(__name__)
STATUS_COLUMN, SYNCED_COLUMN = "hub_status", "hub_synced_at"
MAX_STATUS_CHARS = 500  # a cell is for reading, not for a whole traceback


@dataclass
class WriteBackResult:
    written: int = 0
    moved: int = 0       # found by key at another row than the one pushed
    unmatched: int = 0   # deleted or rekeyed since the push: left alone
    mirrored: int = 0    # cells given the hub's value (hub/sheets/mirror.py)


def status_text(outcome: str, ignored: list[str] | None = None) -> str:
    text = outcome if outcome.startswith("error: ") else f"ok: {outcome}"
    if ignored and not outcome.startswith("error: "):
        # Accepted, but a column of the tab was not read: say so where the person looks.
        text += f"; ignored column{'s' if len(ignored) > 1 else ''} {', '.join(repr(c) for c in ignored)}"
    return text if len(text) <= MAX_STATUS_CHARS else text[: MAX_STATUS_CHARS - 1] + "…"


def _push_body(session: Session, import_id: str) -> dict:
    chunks = session.scalars(
        select(EtlImportChunk.data).where(EtlImportChunk.import_id == import_id).order_by(EtlImportChunk.seq)
    ).all()
    return json.loads(b"".join(chunks))


def _key_positions(header: list[object], key: tuple[str, ...]) -> list[int] | None:
    names = [normalize_header(cell) for cell in header]
    try:
        return [names.index(column) for column in key]
    except ValueError:
        return None


def _cell(row: list[str], index: int) -> str:
    return str(row[index]).strip() if index < len(row) else ""


def write_back(session: Session, target: SheetTarget, imp: EtlImport, key: tuple[str, ...],
               now: datetime | None = None) -> WriteBackResult:
    """Two calls to the sheet whatever the row count: one read of the tab, one batch of cell writes.

    `key`: the key columns of the import's table, by which each row is checked to be the row pushed."""
    context = imp.context or {}
    spreadsheet_id, tab = context.get("spreadsheet_id") or "", context.get("sheet") or imp.table_name
    outcomes = imp.row_outcomes or {}
    if imp.status == "failed":
        # The whole push was refused (a bad header...): every row gets that reason.
        outcomes = {}
    push = _push_body(session, imp.id)
    push_key_positions = _key_positions(push.get("header", []), key)

    # A pulled sheet's header may sit below a title (the reader found it there); a push's is row 1.
    header_row = push.get("header_row")
    if isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1:
        header_row = 1
    sheet = target.read_values(spreadsheet_id, tab)
    header = list(sheet[header_row - 1]) if len(sheet) >= header_row else []
    names = [normalize_header(cell) for cell in header]
    cells: list[tuple[int, int, str]] = []
    columns = {}
    for column in (STATUS_COLUMN, SYNCED_COLUMN):
        if column not in names:
            names.append(column)
            cells.append((header_row, len(names), column))
        columns[column] = names.index(column) + 1

    sheet_key_positions = _key_positions(header, key)
    rows_by_key: dict[tuple[str, ...], int] = {}
    if sheet_key_positions is not None:
        for number, row in enumerate(sheet[header_row:], start=header_row + 1):
            rows_by_key.setdefault(tuple(_cell(row, i) for i in sheet_key_positions), number)

    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%SZ")
    result = WriteBackResult()
    for pushed in push.get("rows", []):
        number = pushed["row_number"]
        outcome = outcomes.get(str(number)) or (f"error: {imp.error}" if imp.error else None)
        if outcome is None:
            continue
        target_row = number
        if push_key_positions is not None and sheet_key_positions is not None:
            # Rows inserted or deleted above since the push move this row: follow its key, not its number.
            pushed_key = tuple(_cell(pushed["values"], i) for i in push_key_positions)
            at_number = sheet[number - 1] if number - 1 < len(sheet) else []
            if tuple(_cell(at_number, i) for i in sheet_key_positions) != pushed_key:
                target_row = rows_by_key.get(pushed_key)
                if target_row is None:
                    result.unmatched += 1
                    continue
                result.moved += 1
        cells.append((target_row, columns[STATUS_COLUMN], status_text(outcome, imp.unknown_columns)))
        cells.append((target_row, columns[SYNCED_COLUMN], stamp))
        result.written += 1
    # In the same batch: the hub's own values (an IO the lifecycle completed) into cells still showing the old one.
    mirrored, kept = mirror.mirror_cells(session, imp.tenant_id, imp.table_name, sheet, header_row)
    cells.extend(mirrored)
    target.write_cells(spreadsheet_id, tab, cells)
    if kept:
        mirror.remember(session, imp.tenant_id, mirror.OWNED[imp.table_name], kept, "written")
    result.mirrored = len(mirrored)
    log.info("write-back of import %s: %d rows written, %d moved, %d unmatched, %d hub values mirrored",
             imp.id, result.written, result.moved, result.unmatched, result.mirrored)
    return result
