"""Where write-back goes: Google Sheets through gspread, or a local workbook standing in for it.

Both do the same two things, so one write-back costs the same whatever the row count: read the
tab's values once, write every changed cell in one batch.
"""
from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Iterator, Protocol

from gspread.http_client import BackOffHTTPClient

SHEETS_SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]


class SheetTarget(Protocol):
    def read_values(self, spreadsheet_id: str, tab: str) -> list[list[str]]:
        """The tab's cells as displayed, row 1 first (rows may be ragged)."""

    def write_cells(self, spreadsheet_id: str, tab: str, cells: list[tuple[int, int, str]]) -> None:
        """Write (row, column, text) cells, 1-based, as plain text: never as formulas."""

    def replace_tab(self, spreadsheet_id: str, tab: str, rows: list[list[str]]) -> None:
        """Make `tab` hold exactly `rows` (created if missing), as plain text."""


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

    def replace_tab(self, spreadsheet_id: str, tab: str, rows: list[list[str]]) -> None:
        # At most four calls whatever the row count: read tab titles, add the tab if missing, clear, write.
        meta = self.http.spreadsheets_get(spreadsheet_id, params={"fields": "sheets.properties.title"})
        titles = {sheet["properties"]["title"] for sheet in meta.get("sheets", [])}
        if tab not in titles:
            self.http.batch_update(spreadsheet_id, {"requests": [{"addSheet": {"properties": {"title": tab}}}]})
        self.http.values_clear(spreadsheet_id, _a1_tab(tab))
        self.http.values_update(spreadsheet_id, f"{_a1_tab(tab)}!A1", params={"valueInputOption": "RAW"},
                                body={"values": rows})


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


class LocalWorkbookTarget:
    """An .xlsx file (HUB_WORKBOOK_PATH) with one tab per table, for laptops and tests without Google."""

    def __init__(self, path: str):
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(self.path.suffix + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # several workers may write back at once
            yield

    def _open(self):
        from openpyxl import Workbook, load_workbook

        if self.path.exists():
            return load_workbook(self.path)
        workbook = Workbook()
        workbook.remove(workbook.active)
        return workbook

    def read_values(self, spreadsheet_id: str, tab: str) -> list[list[str]]:
        with self._locked():
            workbook = self._open()
            if tab not in workbook.sheetnames:
                return []
            return [[display_text(v) for v in row] for row in workbook[tab].iter_rows(values_only=True)]

    def write_cells(self, spreadsheet_id: str, tab: str, cells: list[tuple[int, int, str]]) -> None:
        with self._locked():
            workbook = self._open()
            sheet = workbook[tab] if tab in workbook.sheetnames else workbook.create_sheet(tab)
            for row, col, text in cells:
                cell = sheet.cell(row=row, column=col)
                cell.value = text
                cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
            workbook.save(self.path)

    def replace_tab(self, spreadsheet_id: str, tab: str, rows: list[list[str]]) -> None:
        with self._locked():
            workbook = self._open()
            if tab in workbook.sheetnames:
                workbook.remove(workbook[tab])
            sheet = workbook.create_sheet(tab)
            for row_number, row in enumerate(rows, start=1):
                for column, text in enumerate(row, start=1):
                    cell = sheet.cell(row=row_number, column=column)
                    cell.value = text
                    cell.data_type = "s"
            workbook.save(self.path)


def target_for(settings) -> SheetTarget:
    if settings.google_service_account_file:
        return GoogleSheetsTarget.from_service_account_file(settings.google_service_account_file)
    return LocalWorkbookTarget(settings.workbook_path)
