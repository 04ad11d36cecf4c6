"""An import's refused rows as a file to fix and send again: each row as it was received (its columns in
the input's order) and an `error` column saying what to fix, as CSV or XLSX.

Cells are text. In the XLSX they are stored as strings, so nothing becomes a formula. In the CSV a cell
that a spreadsheet program would take for a formula (starting with = + - @, a tab or a carriage return,
and not a plain number) gets a leading apostrophe (OWASP's advice for CSV injection): Excel and Sheets
show it as text, and the hub reads it back as that text.
"""
from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import EtlImport, EtlRowError

ERROR_COLUMN = "error"
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d[\d,]*)?(\.\d+)?([eE][+-]?\d+)?$")


def refused_rows(session: Session, imp: EtlImport) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per refused input row, in row order, with all its messages joined."""
    by_row: dict[int, tuple[dict, list[str]]] = {}
    for error in session.scalars(select(EtlRowError).where(
            EtlRowError.import_id == imp.id, EtlRowError.row_number.is_not(None))
            .order_by(EtlRowError.row_number, EtlRowError.id)):
        raw, messages = by_row.setdefault(error.row_number, (error.raw or {}, []))
        messages.append(error.message)
    header: list[str] = []
    for raw, _ in by_row.values():
        header += [name for name in raw if name not in header and name != ERROR_COLUMN]
    rows = [[_text(raw.get(name)) for name in header] + ["; ".join(messages)]
            for _, (raw, messages) in sorted(by_row.items())]
    return header + [ERROR_COLUMN], rows


def _text(value) -> str:
    return "" if value is None else str(value)


def _csv_safe(cell: str) -> str:
    if cell.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell


def as_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_csv_safe(cell) for cell in header])
    writer.writerows([[_csv_safe(cell) for cell in row] for row in rows])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def as_xlsx(header: list[str], rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "refused rows"
    for row_number, row in enumerate([header, *rows], start=1):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row=row_number, column=column)
            cell.value = value
            cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def refused_file(session: Session, imp: EtlImport, file_format: str) -> bytes:
    header, rows = refused_rows(session, imp)
    return as_xlsx(header, rows) if file_format == "xlsx" else as_csv(header, rows)
