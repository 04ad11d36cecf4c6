"""Where write-back goes: Google Sheets through gspread, or a local workbook standing in for it.

Both do the same two things, so one write-back costs the same whatever the row count: read the
tab's values once, write every changed cell in one batch.
"""
from __future__ import annotations

import fcntl
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Iterator, Protocol

from gspread.http_client import BackOffHTTPClient

SHEETS_SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
# Google's spreadsheet ids are letters, digits, '-' and '_' (the /d/<id>/ part of a sheet's URL). The
# local workbook names its files after them, so nothing else may pass (no '/', no '..').
SPREADSHEET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")
# Sheets and Excel count days from 1899-12-30; a date written as a number is this many days later.
SERIAL_EPOCH = datetime(1899, 12, 30)


@dataclass(frozen=True)
class NumberFormat:
    """How a column of numbers shows: Sheets' NumberFormat type, and a pattern Sheets and Excel both read."""

    sheets_type: str
    pattern: str


WHOLE = NumberFormat("NUMBER", "#,##0")
MONEY = NumberFormat("NUMBER", "#,##0.00")
RATIO = NumberFormat("NUMBER", "0.00")
DAY = NumberFormat("DATE", "yyyy-mm-dd")
MOMENT = NumberFormat("DATE_TIME", "yyyy-mm-dd hh:mm:ss")

@dataclass(frozen=True)
class Highlight:
    """A conditional format: a cell of `column` (0-based, below the header) whose text is `text` gets
    the background `colour` (#rrggbb). Set once on the tab, it colours whatever the hub writes later."""

    column: int
    text: str
    colour: str

    def rgb(self) -> dict[str, float]:
        red, green, blue = (int(self.colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        return {"red": round(red, 4), "green": round(green, 4), "blue": round(blue, 4)}


# A cell of a tab the hub writes: text stays text (never a formula); numbers and dates are numbers, so
# SUM, charts and sorting work in the sheet.
Cell = str | int | float | Decimal | date | datetime | None


def serial(value: date | datetime) -> int | float:
    """A date as the day number a sheet stores (a date-time with its time as the fraction of a day)."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=None) - SERIAL_EPOCH
        return round(moment / timedelta(days=1), 8)
    return (value - SERIAL_EPOCH.date()).days


class SheetTarget(Protocol):
    def read_values(self, spreadsheet_id: str, tab: str) -> list[list[str]]:
        """The tab's cells as displayed, row 1 first (rows may be ragged)."""

    def write_cells(self, spreadsheet_id: str, tab: str, cells: list[tuple[int, int, str]]) -> None:
        """Write (row, column, text) cells, 1-based, as plain text: never as formulas."""

    def replace_tab(self, spreadsheet_id: str, tab: str, rows: list[list[Cell]],
                    formats: dict[int, NumberFormat] | None = None, highlights: tuple[Highlight, ...] = ()) -> None:
        """Make `tab` hold exactly `rows` (created if missing): text as plain text, numbers and dates as
        numbers shown in `formats` (0-based column -> format of its cells below the header), and the
        tab carrying the conditional formats `highlights`."""


def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _a1_tab(tab: str) -> str:
    return "'" + tab.replace("'", "''") + "'"


class GoogleSheetsTarget:
    """The Sheets API v4 through gspread's own HTTP client, with its backoff on 429 and 5xx."""

    def __init__(self, http_client):
        self.http = http_client

    @classmethod
    def from_service_account_file(cls, path: str) -> "GoogleSheetsTarget":
        from google.oauth2.service_account import Credentials

        info = json.loads(Path(path).read_text())
        return cls(RetryingSheetsClient(auth=Credentials.from_service_account_info(info, scopes=SHEETS_SCOPES)))

    def read_values(self, spreadsheet_id: str, tab: str) -> list[list[str]]:
        # FORMATTED_VALUE: the text a person sees, the same the Apps Script pushed with getDisplayValues().
        response = self.http.values_get(spreadsheet_id, _a1_tab(tab), params={"valueRenderOption": "FORMATTED_VALUE"})
        return response.get("values", [])

    def write_cells(self, spreadsheet_id: str, tab: str, cells: list[tuple[int, int, str]]) -> None:
        if not cells:
            return
        body = {
            # RAW: a value like "=IMPORTXML(...)" is stored as that text, never parsed into a formula.
            "valueInputOption": "RAW",
            "data": [
                {"range": f"{_a1_tab(tab)}!{column_letter(col)}{row}", "values": [[text]]} for row, col, text in cells
            ],
        }
        self.http.values_batch_update(spreadsheet_id, body)

    def replace_tab(self, spreadsheet_id: str, tab: str, rows: list[list[Cell]],
                    formats: dict[int, NumberFormat] | None = None, highlights: tuple[Highlight, ...] = ()) -> None:
        # At most four calls whatever the row count: read the tabs (and their conditional formats), one
        # batchUpdate (add the tab if missing, set the number formats, add the missing conditional
        # formats), clear, write.
        meta = self.http.spreadsheets_get(
            spreadsheet_id, params={"fields": "sheets(properties(sheetId,title),conditionalFormats)"})
        ids = {sheet["properties"]["title"]: sheet["properties"].get("sheetId") for sheet in meta.get("sheets", [])}
        existing_rules = next((sheet.get("conditionalFormats", []) for sheet in meta.get("sheets", [])
                               if sheet["properties"]["title"] == tab), [])
        requests = []
        if tab not in ids:
            # Our own sheetId for the new tab, so the format requests in the same batch can name it.
            ids[tab] = max([i for i in ids.values() if isinstance(i, int)] + [0]) + 1
            requests.append({"addSheet": {"properties": {"title": tab, "sheetId": ids[tab]}}})
        for column, number_format in sorted((formats or {}).items()):
            # Spreadsheet API v4, RepeatCellRequest / CellFormat.numberFormat (type + pattern).
            requests.append({"repeatCell": {
                "range": {"sheetId": ids[tab], "startRowIndex": 1, "startColumnIndex": column,
                          "endColumnIndex": column + 1},
                "cell": {"userEnteredFormat": {"numberFormat": {"type": number_format.sheets_type,
                                                                "pattern": number_format.pattern}}},
                "fields": "userEnteredFormat.numberFormat"}})
        # Clearing values keeps a tab's conditional formats, so each is added once, when the tab lacks it
        # (Sheets API v4, AddConditionalFormatRuleRequest with a BooleanRule TEXT_EQ condition:
        # https://developers.google.com/sheets/api/samples/conditional-formatting).
        have = {_rule_key(rule) for rule in existing_rules}
        for highlight in highlights:
            if (highlight.column, highlight.text) in have:
                continue
            requests.append({"addConditionalFormatRule": {"index": 0, "rule": {
                "ranges": [{"sheetId": ids[tab], "startRowIndex": 1, "startColumnIndex": highlight.column,
                            "endColumnIndex": highlight.column + 1}],
                "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": highlight.text}]},
                                "format": {"backgroundColor": highlight.rgb()}}}}})
        if requests:
            self.http.batch_update(spreadsheet_id, {"requests": requests})
        self.http.values_clear(spreadsheet_id, _a1_tab(tab))
        # RAW: numbers go as JSON numbers, text as text (a "=..." string is never parsed into a formula).
        self.http.values_update(spreadsheet_id, f"{_a1_tab(tab)}!A1", params={"valueInputOption": "RAW"},
                                body={"values": [[_sheets_value(value) for value in row] for row in rows]})


def _rule_key(rule: dict) -> tuple[int | None, str | None]:
    """(column, text) of a TEXT_EQ conditional format rule the hub would have added, else (None, None)."""
    condition = rule.get("booleanRule", {}).get("condition", {})
    ranges = rule.get("ranges") or [{}]
    if condition.get("type") != "TEXT_EQ" or not condition.get("values"):
        return None, None
    return ranges[0].get("startColumnIndex"), condition["values"][0].get("userEnteredValue")


def _sheets_value(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return serial(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


class RetryingSheetsClient(BackOffHTTPClient):
    """gspread's client that retries 429 and 5xx with exponential backoff."""

    # The Sheets quota is 60 writes a minute per user: back off 2, 4, ... 32 s, then give up and
    # let the job's own retry take over.
    _MAX_BACKOFF = 32


def display_text(value: object) -> str:
    """A workbook cell as a sheet would show it: dates as ISO days, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def local_workbook_path(folder: str | Path, spreadsheet_id: str) -> Path:
    """The file that stands in for a spreadsheet: `<folder>/<spreadsheet id>.xlsx`. Only a plain id passes
    (letters, digits, '-', '_'), so a push cannot name a path outside the folder."""
    if not SPREADSHEET_ID.match(spreadsheet_id or ""):
        raise ValueError(f"spreadsheet_id: expected letters, digits, '-' or '_', found {spreadsheet_id!r}")
    return Path(folder) / f"{spreadsheet_id}.xlsx"


class LocalWorkbookTarget:
    """For laptops and tests without Google: each spreadsheet is an .xlsx file in one folder
    (HUB_WORKBOOK_DIR), one tab per table. Each tenant's spreadsheets are its own files."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # several workers may write back at once
            yield

    @staticmethod
    def _open(path: Path):
        from openpyxl import Workbook, load_workbook

        if path.exists():
            return load_workbook(path)
        workbook = Workbook()
        workbook.remove(workbook.active)
        return workbook

    def read_values(self, spreadsheet_id: str, tab: str) -> list[list[str]]:
        path = local_workbook_path(self.folder, spreadsheet_id)
        with self._locked(path):
            workbook = self._open(path)
            if tab not in workbook.sheetnames:
                return []
            return [[display_text(v) for v in row] for row in workbook[tab].iter_rows(values_only=True)]

    def write_cells(self, spreadsheet_id: str, tab: str, cells: list[tuple[int, int, str]]) -> None:
        path = local_workbook_path(self.folder, spreadsheet_id)
        with self._locked(path):
            workbook = self._open(path)
            sheet = workbook[tab] if tab in workbook.sheetnames else workbook.create_sheet(tab)
            for row, col, text in cells:
                cell = sheet.cell(row=row, column=col)
                cell.value = text
                cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
            workbook.save(path)

    def replace_tab(self, spreadsheet_id: str, tab: str, rows: list[list[Cell]],
                    formats: dict[int, NumberFormat] | None = None, highlights: tuple[Highlight, ...] = ()) -> None:
        from openpyxl.formatting.rule import CellIsRule
        from openpyxl.styles import PatternFill

        formats = formats or {}
        path = local_workbook_path(self.folder, spreadsheet_id)
        with self._locked(path):
            workbook = self._open(path)
            if tab in workbook.sheetnames:
                workbook.remove(workbook[tab])
            sheet = workbook.create_sheet(tab)
            for row_number, row in enumerate(rows, start=1):
                for column, value in enumerate(row, start=1):
                    cell = sheet.cell(row=row_number, column=column)
                    if value is None or isinstance(value, str):
                        cell.value = value or ""
                        cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
                        continue
                    cell.value = value.replace(tzinfo=None) if isinstance(value, datetime) else value
                    if row_number > 1 and column - 1 in formats:
                        cell.number_format = formats[column - 1].pattern
            for highlight in highlights:  # the tab is new each time, so its rules are too
                letter = column_letter(highlight.column + 1)
                fill = PatternFill(start_color=highlight.colour[1:].upper(), end_color=highlight.colour[1:].upper(),
                                   fill_type="solid")
                sheet.conditional_formatting.add(f"{letter}2:{letter}{max(len(rows), 2)}", CellIsRule(
                    operator="equal", formula=['"' + highlight.text.replace('"', '""') + '"'], fill=fill))
            workbook.save(path)


def target_for(settings) -> SheetTarget:
    if settings.google_service_account_file:
        return GoogleSheetsTarget.from_service_account_file(settings.google_service_account_file)
    return LocalWorkbookTarget(settings.workbook_dir)
