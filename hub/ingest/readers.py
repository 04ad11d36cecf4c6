"""Readers: stream a header and numbered rows out of CSV, XLSX, ODS and JSON inputs, never the whole file at once."""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO, Callable, Iterator

from . import number_formats
from .archive_guard import check_ods_archive, check_workbook_archive
from .bounds import undecodable
from .spec import UnusableInput
from .validate import TypedRow

INPUT_FORMATS = ("csv", "xlsx", "ods", "sheet_push", "records")
CHUNK_BYTES = 1024 * 1024
# Where no header cell reaches past this, the rest of a wide sheet is empty formatting.
MAX_COLUMNS = 200


@dataclass
class RowStream:
    header: list[object]
    rows: Iterator[tuple[int, list[object]]]  # (row number as the person sees it, cells)


class ChunkStream(io.RawIOBase):
    """A read-only file over payload chunks fetched one at a time."""

    def __init__(self, fetch: Callable[[int], bytes | None]):
        self._fetch = fetch
        self._seq = 0
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer and not self._done:
            chunk = self._fetch(self._seq)
            self._seq += 1
            if chunk is None:
                self._done = True
            else:
                self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def format_for_filename(filename: str | None, content_type: str | None = None) -> str:
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".xlsm")) or (content_type or "").endswith("spreadsheetml.sheet"):
        return "xlsx"
    if name.endswith(".ods") or (content_type or "") == "application/vnd.oasis.opendocument.spreadsheet":
        return "ods"
    if name.endswith((".csv", ".txt", ".tsv")) or (content_type or "").startswith("text/"):
        return "csv"
    raise UnusableInput(f"file {filename!r}: expected a .csv, .xlsx or .ods file")


def open_rows(binary: BinaryIO, input_format: str, table_name: str) -> RowStream:
    if input_format == "csv":
        return _csv_rows(binary)
    if input_format == "xlsx":
        return _xlsx_rows(binary, table_name)
    if input_format == "ods":
        return _ods_rows(binary, table_name)
    if input_format == "sheet_push":
        return _sheet_push_rows(binary)
    if input_format == "records":
        return _record_rows(binary)
    raise UnusableInput(f"input format: expected one of {', '.join(INPUT_FORMATS)}, found {input_format!r}")


# How many undecodable byte runs any CSV reader in this process has met. A reader compares it with
# its value at the start: unchanged (the usual case) means no row of its own needs scanning.
_escapes = [0]
_COUNTED_ESCAPE = "hub-counted-surrogateescape"


def _counted_escape(error: UnicodeDecodeError) -> tuple[str, int]:
    _escapes[0] += 1
    return codecs.lookup_error("surrogateescape")(error)


codecs.register_error(_COUNTED_ESCAPE, _counted_escape)


def _csv_rows(binary: BinaryIO) -> RowStream:
    buffered = io.BufferedReader(binary, buffer_size=CHUNK_BYTES) if not isinstance(binary, io.BufferedIOBase) else binary
    sample = buffered.peek(64 * 1024)[: 64 * 1024]
    encoding = "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        # Excel on Windows saves "CSV" in its ANSI code page.
        encoding = "cp1252"
    # Undecodable bytes past the sample cost only their own row: they reach the rows as lone surrogates.
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="", errors=_COUNTED_ESCAPE)
    escaped_before = _escapes[0]
    first_line = sample.split(b"\n", 1)[0].decode(encoding, errors="replace")
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise UnusableInput("file is empty: expected a header row") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise UnusableInput(f"header: cannot be read as CSV ({error})") from None

    def rows() -> Iterator[tuple[int, list[object]]]:
        # Row 1 is the header, so data rows are numbered as a sheet would show them.
        number = 1
        try:
            for number, cells in enumerate(reader, start=2):
                # The first cell usually settles it; only blank-looking rows pay for the full scan.
                if cells and (cells[0].strip() or any(cell.strip() for cell in cells)):
                    # Rows are only scanned once the decoder has met bytes it could not decode.
                    if _escapes[0] != escaped_before:
                        unreadable = undecodable(cells, header, "UTF-8" if encoding == "utf-8-sig" else encoding)
                        if unreadable is not None:
                            yield number, unreadable
                            continue
                    yield number, cells
        except (UnicodeDecodeError, csv.Error) as error:
            raise UnusableInput(f"row {number + 1}: the file cannot be read as CSV from here on ({error})") from None

    return RowStream(header=header, rows=rows())


def _spool(binary: BinaryIO) -> BinaryIO:
    # A workbook is a zip archive and needs seeking; spool it to disk rather than to memory.
    spooled = tempfile.TemporaryFile()
    shutil.copyfileobj(binary, spooled, CHUNK_BYTES)
    spooled.seek(0)
    return spooled


def _choose_tab(names: list[str], table_name: str, what: str) -> str:
    if table_name in names:
        return table_name
    if len(names) == 1:
        return names[0]
    raise UnusableInput(f"{what}: expected a tab named {table_name!r} (or a single tab), found tabs {', '.join(names)}")


def _xlsx_cell(cell) -> tuple[object, object]:
    """(what the person sees, the typed value) of one workbook cell."""
    value = cell.value
    if value is None:
        return None, None
    if isinstance(value, str):
        return value, None
    code = cell.number_format
    shown = number_formats.render(value, code)
    if isinstance(value, datetime):
        # A cell formatted as a day means that day, even when it holds a time (=NOW() shown as a date).
        return shown, (value if number_formats.shows_time(code) else value.date())
    if isinstance(value, (date, int, float)):  # bool is an int
        return shown, value
    return shown, None  # a time of day or a duration: only its text means something here


def _xlsx_stored_rows(sheet) -> Iterator[tuple[int, tuple]]:
    """(row number, cells) of the rows a sheet's XML really holds, each as long as its own last cell.

    openpyxl's iter_rows pads: it yields an empty row for every row number skipped (a one-row file
    numbered 30,000,000 kept a worker busy for minutes) and widens rows to the stated <dimension>. Its
    own parser, used the way ReadOnlyWorksheet uses it, yields only the stored rows with their numbers;
    cells past MAX_COLUMNS (a formatted column reaching XFD) are dropped before any is built.
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    workbook = sheet.parent
    with sheet._get_source() as source:
        parser = WorkSheetParser(source, sheet._shared_strings, data_only=workbook.data_only, epoch=workbook.epoch,
                                 date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats)
        for number, stored in parser.parse():
            if number > MAX_ROWS:
                raise UnusableInput(f"row {number}: past the last row a sheet can have ({MAX_ROWS:,}); "
                                    "expected a workbook saved by a spreadsheet program")
            stored = [cell for cell in stored if cell["column"] <= MAX_COLUMNS]
            if stored:
                yield number, sheet._get_row(stored)


def _xlsx_rows(binary: BinaryIO, table_name: str) -> RowStream:
    from openpyxl import load_workbook  # imported here: only uploads of workbooks pay for it

    spooled = _spool(binary)
    check_workbook_archive(spooled)  # sizes, ratios and shared strings, before openpyxl reads anything
    try:
        workbook = load_workbook(spooled, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        raise UnusableInput(f"file is not a readable .xlsx workbook ({error.__class__.__name__}: {error})") from None
    sheet = workbook[_choose_tab(workbook.sheetnames, table_name, "workbook")]
    cells = _xlsx_stored_rows(sheet)
    try:
        _, header_cells = next(cells)
        header = [_xlsx_cell(cell)[0] for cell in header_cells]
    except StopIteration:
        raise UnusableInput(f"tab {sheet.title!r} is empty: expected a header row") from None

    def rows() -> Iterator[tuple[int, list[object]]]:
        for number, row in cells:
            shown: list[object] = []
            typed: list[object] = []
            filled = False
            for cell in row:
                value = cell.value
                if value is None:
                    shown.append(None)
                    typed.append(None)
                elif type(value) is str:
                    shown.append(value)
                    typed.append(None)
                    filled = filled or not value.isspace()
                else:
                    pair = _xlsx_cell(cell)
                    shown.append(pair[0])
                    typed.append(pair[1])
                    filled = True
            if filled:
                yield number, TypedRow(shown, typed)
        workbook.close()
        spooled.close()

    return RowStream(header=header, rows=rows())


_ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ODS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_ODS_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_T_TABLE, _T_ROW, _T_CELL, _T_COVERED = (f"{{{_ODS_TABLE}}}{n}" for n in ("table", "table-row", "table-cell", "covered-table-cell"))
_T_NAME, _T_COLS_REPEATED, _T_ROWS_REPEATED = (f"{{{_ODS_TABLE}}}{n}" for n in ("name", "number-columns-repeated", "number-rows-repeated"))
_O_VALUE_TYPE, _O_VALUE, _O_DATE, _O_BOOLEAN = (f"{{{_ODS_OFFICE}}}{n}" for n in ("value-type", "value", "date-value", "boolean-value"))
_X_P, _X_S, _X_TAB, _X_BREAK = (f"{{{_ODS_TEXT}}}{n}" for n in ("p", "s", "tab", "line-break"))
# A sheet has at most this many rows; a repeated run claiming more is formatting, not data.
MAX_ROWS = 1_048_576


def _ods_text(element) -> str:
    """A paragraph's text as LibreOffice draws it: `text:s` is that many spaces, spans are their text."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == _X_S:
            parts.append(" " * int(child.get(f"{{{_ODS_TEXT}}}c", "1")))
        elif child.tag == _X_TAB:
            parts.append("\t")
        elif child.tag == _X_BREAK:
            parts.append("\n")
        else:
            parts.append(_ods_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _ods_cell(element) -> tuple[object, object]:
    """(what the person sees, the typed value) of one table:table-cell."""
    # Only the cell's own paragraphs: a comment (office:annotation) holds paragraphs too.
    paragraphs = [_ods_text(child) for child in element if child.tag == _X_P]
    shown = "\n".join(paragraphs) if paragraphs else None
    kind = element.get(_O_VALUE_TYPE)
    typed: object = None
    if kind in ("float", "percentage", "currency"):
        raw = element.get(_O_VALUE)
        try:
            number = float(raw)
        except (TypeError, ValueError):
            number = None
        if number is not None:
            typed = int(number) if number.is_integer() and abs(number) < 2 ** 53 else number
        shown = shown if shown is not None else raw
    elif kind == "date":
        raw = element.get(_O_DATE) or ""
        try:
            typed = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)
        except ValueError:
            typed = None
        shown = shown if shown is not None else raw
    elif kind == "boolean":
        typed = element.get(_O_BOOLEAN) == "true"
    return shown, typed


def _ods_tab_names(spooled) -> list[str]:
    """The tabs' names, from a quick pass over content.xml that keeps no elements."""
    import zipfile
    from xml.etree.ElementTree import iterparse

    names, parents = [], []
    with zipfile.ZipFile(spooled) as archive, archive.open("content.xml") as content:
        for event, element in iterparse(content, events=("start", "end")):
            if event == "start":
                if element.tag == _T_TABLE:
                    names.append(element.get(_T_NAME, ""))
                parents.append(element)
            else:
                parents.pop()
                element.clear()
                if parents:
                    parents[-1].remove(element)  # a cleared element left in its parent is still memory
    return names


def _ods_rows(binary: BinaryIO, table_name: str) -> RowStream:
    """An OpenDocument spreadsheet (LibreOffice, Google Sheets' .ods export), streamed from content.xml."""
    import zipfile
    from xml.etree.ElementTree import ParseError, iterparse

    spooled = _spool(binary)
    check_ods_archive(spooled)  # sizes and ratios, content.xml capped, before anything is parsed
    try:
        names = _ods_tab_names(spooled)
    except (zipfile.BadZipFile, KeyError, ParseError) as error:
        spooled.close()
        raise UnusableInput(f"file is not a readable .ods spreadsheet ({error.__class__.__name__}: {error})") from None
    chosen = _choose_tab(names, table_name, "spreadsheet")
    spooled.seek(0)
    archive = zipfile.ZipFile(spooled)
    content = archive.open("content.xml")
    events = iterparse(content, events=("start", "end"))

    def table_rows() -> Iterator[tuple[int, list[object], list[object]]]:
        """(row number, shown, typed) for every non-empty row of the chosen tab."""
        inside, number, shown, typed = False, 0, [], []
        parents = []
        for event, element in events:
            tag = element.tag
            if event == "start":
                if tag == _T_TABLE:
                    inside = element.get(_T_NAME) == chosen
                elif tag == _T_ROW and inside:
                    shown, typed = [], []
                parents.append(element)
                continue
            parents.pop()
            if not inside:
                if tag == _T_ROW and parents:
                    parents[-1].remove(element)  # another tab's rows: passed over, not kept
                continue
            if tag in (_T_CELL, _T_COVERED):
                repeat = int(element.get(_T_COLS_REPEATED, "1"))
                room = MAX_COLUMNS - len(shown)
                if room > 0:
                    pair = _ods_cell(element) if tag == _T_CELL else (None, None)
                    for _ in range(min(repeat, room)):
                        shown.append(pair[0])
                        typed.append(pair[1])
                element.clear()
            elif tag == _T_ROW:
                repeat = min(int(element.get(_T_ROWS_REPEATED, "1")), MAX_ROWS - number)
                if any(cell is not None and (typed[i] is not None or str(cell).strip()) for i, cell in enumerate(shown)):
                    while shown and shown[-1] is None:
                        shown.pop()
                        typed.pop()
                    for _ in range(repeat):
                        number += 1
                        yield number, shown, typed
                else:
                    number += repeat  # empty rows, often a run of thousands: counted, never built
                element.clear()
                if parents:
                    parents[-1].remove(element)  # the table (or its row group) keeps no finished rows
            elif tag == _T_TABLE:
                return  # the chosen tab is read; the rest of the file is not

    source = table_rows()
    first = next(source, None)
    if first is None or first[0] != 1:
        content.close()
        archive.close()
        spooled.close()
        raise UnusableInput(f"tab {chosen!r} has no header in row 1: expected a header row")

    def rows() -> Iterator[tuple[int, list[object]]]:
        for number, shown, typed in source:
            yield number, TypedRow(list(shown), list(typed))
        content.close()
        archive.close()
        spooled.close()

    return RowStream(header=list(first[1]), rows=rows())


def _load_json(binary: BinaryIO) -> object:
    try:
        return json.load(io.TextIOWrapper(binary, encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise UnusableInput(f"body is not valid JSON ({error})") from None


_TYPED_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _sheet_push_rows(binary: BinaryIO) -> RowStream:
    """The Apps Script's push: {"header": [...], "rows": [{"row_number": 7, "values": [...], "typed": [...]}]}.

    `values` are the cells as the sheet displays them (getDisplayValues); the optional `typed` are the
    same cells' values (getValues): numbers as JSON numbers, dates as ISO `YYYY-MM-DD`, text as null.
    """
    push = _checked_sheet_push(_load_json(binary))
    return RowStream(header=push["header"], rows=(
        (r["row_number"], TypedRow(r["values"], r["typed"]) if r.get("typed") is not None else r["values"])
        for r in push["rows"]))


def _checked_sheet_push(push: object) -> dict:
    """The push itself when its shape is one the reader takes, else UnusableInput naming what is wrong."""
    if not isinstance(push, dict) or not isinstance(push.get("header"), list) or not isinstance(push.get("rows"), list):
        raise UnusableInput("push: expected an object with a 'header' list and a 'rows' list")
    for index, row in enumerate(push["rows"]):
        if not isinstance(row, dict) or not isinstance(row.get("row_number"), int) or not isinstance(row.get("values"), list):
            raise UnusableInput(f"push: rows[{index}] expected {{'row_number': int, 'values': list}}, found {str(row)[:80]}")
        typed = row.get("typed")
        if typed is None:
            continue
        if not isinstance(typed, list) or len(typed) != len(row["values"]):
            raise UnusableInput(f"push: rows[{index}].typed expected a list as long as its values "
                                f"({len(row['values'])}), found {str(typed)[:80]}")
        for cell in typed:
            if not (cell is None or (isinstance(cell, (int, float)) and not isinstance(cell, bool))
                    or (isinstance(cell, str) and _TYPED_DAY.fullmatch(cell))):
                raise UnusableInput(f"push: rows[{index}].typed expected numbers, ISO dates (YYYY-MM-DD) or "
                                    f"null, found {cell!r}")
    return push


def sheet_push_row_count(push: object, payload: bytes) -> int | None:
    """How many rows a run will read from the sheet push `payload`, counted on `push`, the caller's own
    json.loads of those bytes, so the rows quota is charged without reading and parsing them again.

    The run decodes the bytes as strict UTF-8; json.loads also takes a BOM, UTF-16 or encoded
    surrogates. For such bytes the two parses may differ, and None says: count them as the run reads
    them (`count_rows`). An input the reader refuses counts 0 rows, as `count_rows` counts it."""
    if payload.startswith(codecs.BOM_UTF8):
        return None
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return len(_checked_sheet_push(push)["rows"])
    except UnusableInput:
        return 0


def _record_rows(binary: BinaryIO) -> RowStream:
    """A list of flat JSON objects (what Zapier and other tools post): their keys are the header."""
    records = _load_json(binary)
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UnusableInput("body: expected a JSON object or a list of objects")
    header: list[str] = []
    for record in records:
        header.extend(key for key in record if key not in header)
    return RowStream(
        header=list(header),
        rows=((number, [record.get(key) for key in header]) for number, record in enumerate(records, start=1)),
    )
