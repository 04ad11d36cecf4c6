"""Google Sheets, read on a schedule with a service account: for sheet owners who cannot install the
Apps Script. The reader knows nothing of the hub: the hub hands it, per tab, the layout of the table
the tab holds (`TabLayout`), and an authorized session (google-auth's AuthorizedSession, a
requests.Session, so the connectors' one retry policy backs off 429 and 5xx on it).

One run reads the spreadsheet's properties once (locale, each tab's row count:
https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets/get), then the tabs in windows
of `rows_per_range` rows, all tabs together: per window one `values.batchGet` with
UNFORMATTED_VALUE and dateTimeRenderOption SERIAL_NUMBER (numbers as numbers, dates as day serials)
and one with FORMATTED_VALUE for the columns whose displayed text is the value (identifiers such as
007 that a number format draws from 7, and the key the write-back matches rows by):
https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/batchGet. A window is
read, turned into a page and let go before the next is asked for, so memory stays bounded whatever
the sheet's size.

Each page holds its window's rows in the Apps Script's push shape (row number, displayed values, typed
values) with a digest per row and the row's key, so the hub sends on only the rows whose digest
changed since the last run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable, ClassVar, Iterator
from urllib.parse import quote

from connectors.base import Connector, Page

SHEETS_API = "https://sheets.googleapis.com/v4/spreadsheets"
# Sheets counts days from 1899-12-30: serial 45658 is 2025-01-01.
SERIAL_EPOCH = date(1899, 12, 30)
# Serials read as days in a date column: 1954-09-26 .. 2119-01-07, the range the pipeline takes as
# meant dates. A number outside it is passed on as it is, and the pipeline refuses it naming the value.
DAY_SERIALS = (20000, 80000)
# The hub writes these columns itself (hub_status, hub_synced_at): they are no one's edit.
HUB_COLUMNS = frozenset({"hub_status", "hub_synced_at"})
DEFAULT_ROWS_PER_RANGE = 10_000


@dataclass(frozen=True)
class TabLayout:
    """What the hub tells the reader about the table a tab holds, by normalized header names."""

    # Each required column, as the names that may stand for it (a column and its alias): the header
    # row is the first row that holds one of each.
    required: tuple[frozenset[str], ...]
    key: tuple[str, ...]
    # Columns read as the person sees them (FORMATTED_VALUE): identifiers, text, and the key.
    formatted: frozenset[str]
    # Columns whose numbers are day serials.
    dates: frozenset[str]
    normalize: Callable[[object], str]


@dataclass
class SheetPage(Page):
    """One window of one tab: `rows` are push rows ({"row_number", "values", "typed"}), and `marks`
    their (row key, digest) in the same order."""

    spreadsheet_id: str = ""
    header: list = field(default_factory=list)
    header_row: int = 1
    locale: str | None = None
    time_zone: str | None = None
    marks: list[tuple[str, str]] = field(default_factory=list)
    # Row number -> the earlier row of the tab with the same key (the pipeline refuses the later one
    # when both are in one import).
    duplicates: dict[int, int] = field(default_factory=dict)

    @property
    def tab(self) -> str:
        return self.table


def a1_tab(tab: str) -> str:
    return "'" + tab.replace("'", "''") + "'"


def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def serial_day(value) -> str | None:
    """A day serial (a date-time's fraction is its time of day) as an ISO date, or None when the number
    is not a plausible day."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not DAY_SERIALS[0] <= value < DAY_SERIALS[1] + 1:
        return None
    return (SERIAL_EPOCH + timedelta(days=int(value))).isoformat()


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()[:32]


@dataclass
class _Tab:
    """What the reader knows of one tab while it reads it."""

    name: str
    layout: TabLayout
    row_count: int
    header_row: int | None = None
    header: list = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    # Contiguous runs of formatted columns, 0-based (first, last), each one range of the FORMATTED read.
    spans: list[tuple[int, int]] = field(default_factory=list)
    rows_read: int = 0
    data_rows: int = 0
    # Key digest -> the first row holding it (a small int per row, for the duplicate check).
    first_rows: dict[int, int] = field(default_factory=dict)


class GoogleSheetsConnector(Connector):
    name: ClassVar[str] = "google_sheets"
    title: ClassVar[str] = "Google Sheets"
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "spreadsheet_id": {"type": "string", "pattern": r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}",
                               "description": "the /d/<id>/ part of the sheet's URL"},
            "tabs": {"type": "string", "pattern": r"[^,]+(,[^,]+)*",
                     "description": "the tabs to read, comma-separated, each named like its table"},
            "rows_per_range": {"type": "integer", "minimum": 100, "maximum": 50_000,
                               "default": DEFAULT_ROWS_PER_RANGE},
        },
        "required": ["spreadsheet_id", "tabs"],
        "secret": [],
        "additionalProperties": False,
    }
    # Sheets answers 429 with no Retry-After; its quota is per minute.
    rate_limit_wait: ClassVar[float] = 5.0

    def __init__(self, config: dict, session=None, *args, layouts: dict[str, TabLayout] | None = None, **kwargs):
        super().__init__(config, session, *args, **kwargs)
        self.layouts = layouts or {}

    @property
    def spreadsheet_id(self) -> str:
        return self.config["spreadsheet_id"]

    @property
    def tabs(self) -> list[str]:
        return list(dict.fromkeys(tab.strip() for tab in self.config["tabs"].split(",") if tab.strip()))

    # -- the Sheets API ---------------------------------------------------------------------------

    def spreadsheet(self) -> dict:
        """The spreadsheet's locale and time zone, and each tab's title and row count."""
        response = self.get(f"{SHEETS_API}/{quote(self.spreadsheet_id)}", params={
            "fields": "properties(locale,timeZone),sheets.properties(title,gridProperties(rowCount,columnCount))"})
        return self.json(response, "spreadsheets.get")

    def batch_get(self, ranges: list[str], render: str) -> list[list[list]]:
        """The values of `ranges` (A1), in the order asked, one list of rows each (trailing empty rows
        and cells left out, as the API does)."""
        if not ranges:
            return []
        response = self.get(f"{SHEETS_API}/{quote(self.spreadsheet_id)}/values:batchGet", params={
            "ranges": ranges, "majorDimension": "ROWS", "valueRenderOption": render,
            "dateTimeRenderOption": "SERIAL_NUMBER"})
        body = self.json(response, "values.batchGet")
        value_ranges = body.get("valueRanges") if isinstance(body, dict) else None
        if not isinstance(value_ranges, list) or len(value_ranges) != len(ranges):
            raise self.fail(f"values.batchGet: expected {len(ranges)} valueRanges, found "
                            f"{len(value_ranges) if isinstance(value_ranges, list) else repr(value_ranges)[:80]}")
        return [vr.get("values", []) if isinstance(vr, dict) else [] for vr in value_ranges]

    # -- the contract -----------------------------------------------------------------------------

    def test_connection(self) -> None:
        self._tabs_of(self.spreadsheet())

    def _tabs_of(self, meta: dict) -> list[_Tab]:
        found = {}
        for sheet in meta.get("sheets", []) if isinstance(meta, dict) else []:
            properties = sheet.get("properties", {}) if isinstance(sheet, dict) else {}
            grid = properties.get("gridProperties", {})
            found[properties.get("title")] = int(grid.get("rowCount", 0) or 0)
        tabs = []
        for name in self.tabs:
            if name not in found:
                raise self.fail(f"spreadsheet {self.spreadsheet_id} has no tab {name!r}: "
                                f"found tabs {', '.join(repr(t) for t in found) or 'none'}")
            if self.layouts and name not in self.layouts:
                raise self.fail(f"tab {name!r} is not a table the hub imports: expected one of "
                                f"{', '.join(self.layouts)}")
            tabs.append(_Tab(name, self.layouts.get(name), found[name]))
        return tabs

    def sync(self, cursor: dict | None, since: date | None = None) -> Iterator[SheetPage]:
        """Every tab, window by window (`since` has no meaning for a sheet: every row is compared)."""
        if not self.layouts:
            raise self.fail("no table layouts: the hub builds this connector with the tables' layouts")
        meta = self.spreadsheet()
        properties = meta.get("properties", {}) if isinstance(meta, dict) else {}
        tabs = self._tabs_of(meta)
        window = self.config.get("rows_per_range") or DEFAULT_ROWS_PER_RANGE
        progress = {"spreadsheet_id": self.spreadsheet_id, "read_at": self.now().isoformat(timespec="seconds"),
                    "tabs": {}}
        last_row = max((tab.row_count for tab in tabs), default=0)
        for start in range(1, last_row + 1, window):
            reading = [tab for tab in tabs if tab.row_count >= start]
            ends = {tab.name: min(start + window - 1, tab.row_count) for tab in reading}
            plain = self.batch_get([f"{a1_tab(t.name)}!{start}:{ends[t.name]}" for t in reading], "UNFORMATTED_VALUE")
            for tab, rows in zip(reading, plain):
                if tab.header_row is None:
                    self._find_header(tab, rows, start, ends[tab.name])
            # The columns read as displayed, for every tab at once: one range per run of such columns.
            asked = [(tab, span) for tab in reading for span in tab.spans]
            shown = self.batch_get([f"{a1_tab(t.name)}!{column_letter(first + 1)}{start}:"
                                    f"{column_letter(last + 1)}{ends[t.name]}" for t, (first, last) in asked],
                                   "FORMATTED_VALUE")
            shown_by_tab: dict[str, list[tuple[tuple[int, int], list[list]]]] = {}
            for (tab, span), rows in zip(asked, shown):
                shown_by_tab.setdefault(tab.name, []).append((span, rows))
            for tab, rows in zip(reading, plain):
                page = self._page(tab, start, rows, shown_by_tab.get(tab.name, []), properties)
                tab.rows_read = ends[tab.name]
                progress["tabs"][tab.name] = {"header_row": tab.header_row, "rows_read": tab.rows_read,
                                              "data_rows": tab.data_rows}
                page.cursor = json.loads(json.dumps(progress))
                yield page
            del plain, shown, shown_by_tab  # this window is done with before the next is read

    # -- reading a window ---------------------------------------------------------------------------

    def _find_header(self, tab: _Tab, rows: list[list], start: int, end: int) -> None:
        layout = tab.layout
        for offset, cells in enumerate(rows):
            names = [layout.normalize(cell) for cell in cells]
            if all(any(name in names for name in required) for required in layout.required):
                while names and not names[-1]:
                    names.pop()
                tab.header_row = start + offset
                tab.names = names
                tab.header = ["" if cell is None else str(cell) for cell in cells[:len(names)]]
                wanted = [i for i, name in enumerate(names) if name in layout.formatted]
                for index in wanted:
                    if tab.spans and tab.spans[-1][1] == index - 1:
                        tab.spans[-1] = (tab.spans[-1][0], index)
                    else:
                        tab.spans.append((index, index))
                return
        needed = ", ".join("/".join(sorted(names)) for names in layout.required)
        raise self.fail(f"tab {tab.name!r}: no header row in rows {start}-{end}: expected a row holding "
                        f"the columns {needed}")

    def _page(self, tab: _Tab, start: int, plain: list[list], shown: list, properties: dict) -> SheetPage:
        page = SheetPage(rows=[], table=tab.name, spreadsheet_id=self.spreadsheet_id, header=tab.header,
                         header_row=tab.header_row, locale=properties.get("locale"),
                         time_zone=properties.get("timeZone"))
        layout, names = tab.layout, tab.names
        width = len(names)
        for offset, cells in enumerate(plain):
            number = start + offset
            if number <= tab.header_row:
                continue
            displayed: dict[int, object] = {}
            for (first, _last), rows in shown:
                if offset < len(rows):
                    for index, value in enumerate(rows[offset]):
                        displayed[first + index] = value
            values, typed, parts = [], [], []
            for index in range(width):
                name = names[index]
                cell = cells[index] if index < len(cells) else ""
                text, value = self._cell(name, cell, displayed.get(index, ""), layout)
                values.append(text)
                typed.append(value)
                if name not in HUB_COLUMNS and not _blank(text):
                    parts.append([name, text, value])
            if not parts:
                continue  # an empty row (or one holding only the hub's own columns)
            tab.data_rows += 1
            key_parts = [typed[names.index(k)] or values[names.index(k)] if k in names else "" for k in layout.key]
            key = ("key " + json.dumps(key_parts, ensure_ascii=False) if all(not _blank(p) for p in key_parts)
                   else f"row {number}")
            first = tab.first_rows.setdefault(hash(key), number)
            if first != number:
                # The same key again: remembered apart, or the two rows' digests would take turns and
                # each run would send the other one.
                page.duplicates[number] = first
                key += f" again at row {number}"
            page.rows.append({"row_number": number, "values": values, "typed": typed})
            page.marks.append((hashlib.sha256(key.encode()).hexdigest()[:32], _digest([tab.header_row, parts])))
        return page

    @staticmethod
    def _cell(name: str, cell, displayed, layout: TabLayout) -> tuple[str, object]:
        """(what the person sees, the typed value) of one cell, as a push carries them: typed values are
        numbers or ISO days, None for text."""
        day = serial_day(cell) if name in layout.dates else None
        if name in layout.formatted:
            text = "" if displayed is None else str(displayed)
            return text, day
        if day is not None:
            return day, day
        if isinstance(cell, bool):
            return ("TRUE" if cell else "FALSE"), None
        if isinstance(cell, (int, float)):
            return _number_text(cell), cell
        return ("" if cell is None else str(cell)), None
