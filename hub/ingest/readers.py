"""Readers: stream a header and numbered rows out of CSV, XLSX and JSON inputs, never the whole file at once."""
from __future__ import annotations

import codecs
import csv
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from .validate import UnusableInput

INPUT_FORMATS = ("csv", "xlsx", "sheet_push", "records")
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
    if name.endswith((".csv", ".txt", ".tsv")) or (content_type or "").startswith("text/"):
        return "csv"
    raise UnusableInput(f"file {filename!r}: expected a .csv or .xlsx file")


def open_rows(binary: BinaryIO, input_format: str, table_name: str) -> RowStream:
    if input_format == "csv":
        return _csv_rows(binary)
    if input_format == "xlsx":
        return _xlsx_rows(binary, table_name)
    if input_format == "sheet_push":
        return _sheet_push_rows(binary)
    if input_format == "records":
        return _record_rows(binary)
    raise UnusableInput(f"input format: expected one of {', '.join(INPUT_FORMATS)}, found {input_format!r}")


def _csv_rows(binary: BinaryIO) -> RowStream:
    buffered = io.BufferedReader(binary, buffer_size=CHUNK_BYTES) if not isinstance(binary, io.BufferedIOBase) else binary
    sample = buffered.peek(64 * 1024)[: 64 * 1024]
    encoding = "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        # Excel on Windows saves "CSV" in its ANSI code page.
        encoding = "cp1252"
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
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
                    yield number, cells
        except (UnicodeDecodeError, csv.Error) as error:
            raise UnusableInput(f"row {number + 1}: the file cannot be read as CSV from here on ({error})") from None

    return RowStream(header=header, rows=rows())


def _xlsx_rows(binary: BinaryIO, table_name: str) -> RowStream:
    from openpyxl import load_workbook  # imported here: only uploads of workbooks pay for it

    from .archive_guard import check_workbook_archive

    # A workbook is a zip archive and needs seeking; spool it to disk rather than to memory.
    spooled = tempfile.TemporaryFile()
    shutil.copyfileobj(binary, spooled, CHUNK_BYTES)
    spooled.seek(0)
    check_workbook_archive(spooled)  # sizes, ratios and shared strings, before openpyxl reads anything
    try:
        workbook = load_workbook(spooled, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        raise UnusableInput(f"file is not a readable .xlsx workbook ({error.__class__.__name__}: {error})") from None
    names = workbook.sheetnames
    if table_name in names:
        sheet = workbook[table_name]
    elif len(names) == 1:
        sheet = workbook[names[0]]
    else:
        raise UnusableInput(f"workbook: expected a tab named {table_name!r} (or a single tab), found tabs {', '.join(names)}")
    cells = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
    try:
        header = list(next(cells))
    except StopIteration:
        raise UnusableInput(f"tab {sheet.title!r} is empty: expected a header row") from None

    def rows() -> Iterator[tuple[int, list[object]]]:
        for number, values in enumerate(cells, start=2):
            if any(value is not None and str(value).strip() for value in values):
                yield number, list(values)
        workbook.close()
        spooled.close()

    return RowStream(header=header, rows=rows())


def _load_json(binary: BinaryIO) -> object:
    try:
        return json.load(io.TextIOWrapper(binary, encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise UnusableInput(f"body is not valid JSON ({error})") from None


def _sheet_push_rows(binary: BinaryIO) -> RowStream:
    """The Apps Script's push: {"header": [...], "rows": [{"row_number": 7, "values": [...]}]}."""
    push = _load_json(binary)
    if not isinstance(push, dict) or not isinstance(push.get("header"), list) or not isinstance(push.get("rows"), list):
        raise UnusableInput("push: expected an object with a 'header' list and a 'rows' list")
    for index, row in enumerate(push["rows"]):
        if not isinstance(row, dict) or not isinstance(row.get("row_number"), int) or not isinstance(row.get("values"), list):
            raise UnusableInput(f"push: rows[{index}] expected {{'row_number': int, 'values': list}}, found {str(row)[:80]}")
    return RowStream(header=push["header"], rows=((r["row_number"], r["values"]) for r in push["rows"]))


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
