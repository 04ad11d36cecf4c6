"""Workbooks (XLSX, ODS) are read as the person sees them: identifiers as displayed, dates, counts,
rates and money as the cells' typed values. Fixtures in tests/fixtures/libreoffice/ were made by LibreOffice."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from hub.ingest.number_formats import render
from hub.ingest.readers import format_for_filename, open_rows
from hub.ingest.spec import UnusableInput
from hub.models import IoBooking, MetricsDaily
from tests.helpers import import_text, rows

FIXTURES = Path(__file__).parent / "fixtures" / "libreoffice"
LOCALES = ("en-US", "de-DE", "fr-FR")


@pytest.mark.parametrize("code, value, shown", [
    ("0000", 42, "0042"),
    ("0000", 42.0, "0042"),
    ("0000", 12345, "12345"),
    ("0000", -42, "-0042"),
    ("@", "0042", "0042"),
    ("@", 42, "42"),
    ("General", 42.0, "42"),
    ("General", 1204.5, "1204.5"),
    ("General", 123456789012.0, "123456789012"),
    (None, 7, "7"),
    ("0", 2.5, "3"),
    ("0.00", 3.5, "3.50"),
    ("0.00", 2.675, "2.68"),  # rounded as a sheet does, on the decimal the person typed
    ("0.0#", 1.5, "1.5"),
    ("#,##0", 1204, "1,204"),
    ("#,##0", 0, "0"),
    ("#,##0,", 1234567, "1,235"),
    ("0%", 0.85, "85%"),
    ("0.00%", 0.855, "85.50%"),
    ("[$€-407]#,##0.00", 2000, "€2,000.00"),
    ('"$"#,##0.00', 1234.5, "$1,234.50"),
    ("#,##0.00 [$€-40C]", 2000, "2,000.00 €"),
    ("#,##0.00\\ [$€-407];[RED]\\-#,##0.00\\ [$€-407]", -25, "-25.00 €"),
    ("#,##0.00;(#,##0.00)", -1234.5, "(1,234.50)"),
    ('0;-0;"none"', 0, "none"),
    ("000-000", 123456, "123-456"),
    ("0.00E+00", 12345, "1.23E+04"),
    ("yyyy-mm-dd", datetime(2025, 1, 31), "2025-01-31"),
    ("[$-407]DD.MM.YYYY", datetime(2025, 1, 31), "31.01.2025"),
    ("m/d/yyyy", datetime(2025, 3, 12), "3/12/2025"),
    ("d mmm yyyy", date(2025, 1, 31), "31 Jan 2025"),
    ("yyyy-mm-dd hh:mm:ss", datetime(2025, 1, 31, 9, 5, 7), "2025-01-31 09:05:07"),
    ("h:mm AM/PM", datetime(2025, 1, 31, 15, 5), "3:05 PM"),
    ("[h]:mm", 1.5, "36:00"),
])
def test_number_formats_draw_cells_as_a_sheet_shows_them(code, value, shown):
    assert render(value, code) == shown


def _workbook(tab: str, header: list, *cells: list) -> bytes:
    """An XLSX with one tab; a cell given as (value, number_format) gets that format."""
    book = Workbook()
    sheet = book.active
    sheet.title = tab
    sheet.append(header)
    for row_index, row in enumerate(cells, start=2):
        for column, item in enumerate(row, start=1):
            value, code = item if isinstance(item, tuple) else (item, None)
            cell = sheet.cell(row=row_index, column=column, value=value)
            if code:
                cell.number_format = code
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_identifiers_are_stored_as_displayed_and_numbers_as_typed(database_url, tenant):
    body = _workbook(
        "metrics_daily",
        ["day", "episode_id", "source", "podcast_id", "downloads", "completion_rate", "revenue"],
        [(date(2025, 1, 31), "DD.MM.YYYY"), (42, "0000"), "manual", (7.0, "General"), (1204, "#,##0"),
         (0.85, "0%"), (2000, '#,##0.00 [$€-407]')],
        [(datetime(2025, 3, 12, 17, 30), "m/d/yyyy"), ("0042", "@"), "manual", (12, "@"), (5, "0000"),
         (0.125, "0.00%"), (1234.5, '"$"#,##0.00')],
    )
    summary = import_text(database_url, tenant["id"], "metrics_daily", body, input_format="xlsx")
    assert summary["status"] == "completed", summary["row_errors"]
    stored = {(r.day, r.episode_id): r for r in rows(database_url, MetricsDaily)}
    assert sorted(stored) == [(date(2025, 1, 31), "0042"), (date(2025, 3, 12), "0042")]
    first, second = stored[(date(2025, 1, 31), "0042")], stored[(date(2025, 3, 12), "0042")]
    assert (first.podcast_id, first.downloads, first.completion_rate, first.revenue_cents) == ("7", 1204, 0.85, 200000)
    # A count in a `0000` cell shows `0005` but means 5; a number in a text (`@`) cell shows `12`.
    assert (second.podcast_id, second.downloads, second.completion_rate, second.revenue_cents) == ("12", 5, 0.125, 123450)


def test_xlsx_refusals_quote_the_displayed_cell(database_url, tenant):
    body = _workbook("metrics_daily", ["day", "episode_id", "source", "downloads"],
                     [(date(2025, 1, 31), "yyyy-mm-dd"), (42, "0000"), "manual", (-1204, "#,##0")])
    summary = import_text(database_url, tenant["id"], "metrics_daily", body, input_format="xlsx")
    assert [e["message"] for e in summary["row_errors"]] == ["row 2, downloads: expected a whole number >= 0, found -1204"]
    assert summary["row_errors"][0]["raw"]["episode_id"] == "0042"
    assert summary["row_errors"][0]["raw"]["downloads"] == "-1,204"


def _ods(content: str) -> bytes:
    """A minimal OpenDocument spreadsheet around a content.xml body (the tables)."""
    xml = ('<?xml version="1.0" encoding="UTF-8"?>'
           '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
           'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
           'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">'
           f"<office:body><office:spreadsheet>{content}</office:spreadsheet></office:body></office:document-content>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", xml, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _text(value: str, repeat: int = 1) -> str:
    repeated = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    return f'<table:table-cell office:value-type="string"{repeated}><text:p>{value}</text:p></table:table-cell>'


HEADER = "<table:table-row>" + "".join(_text(h) for h in ("day", "episode_id", "source", "downloads")) + "</table:table-row>"


def test_ods_repeats_are_expanded_and_empty_runs_skipped_without_being_built():
    body = _ods(
        '<table:table table:name="notes"><table:table-row>' + _text("not this tab") + "</table:table-row></table:table>"
        '<table:table table:name="metrics_daily">' + HEADER +
        # Two identical rows are saved once, repeated; LibreOffice pads every row to the sheet's 1024 columns.
        '<table:table-row table:number-rows-repeated="2">'
        '<table:table-cell office:value-type="date" office:date-value="2025-01-31"><text:p>31.01.2025</text:p></table:table-cell>'
        '<table:table-cell office:value-type="float" office:value="42"><text:p>0042</text:p></table:table-cell>'
        + _text("manual") +
        '<table:table-cell office:value-type="float" office:value="1204"><text:p>1.204</text:p>'
        '<office:annotation><text:p>checked by Ana</text:p></office:annotation></table:table-cell>'
        '<table:table-cell table:number-columns-repeated="1020"/></table:table-row>'
        # A million formatted empty rows, as a sheet with a styled column saves them.
        '<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        '<table:table-row>' + _text("2025-02-01") + _text("ep<text:s text:c=\"2\"/>7") + _text("manual") +
        '<table:table-cell office:value-type="percentage" office:value="0.5"><text:p>50 %</text:p></table:table-cell>'
        '<table:covered-table-cell table:number-columns-repeated="3"/></table:table-row>'
        "</table:table>"
    )
    stream = open_rows(io.BytesIO(body), "ods", "metrics_daily")
    assert stream.header == ["day", "episode_id", "source", "downloads"]
    read = [(number, list(row), row.typed) for number, row in stream.rows]
    assert read == [
        (2, ["31.01.2025", "0042", "manual", "1.204"], [date(2025, 1, 31), 42, None, 1204]),
        (3, ["31.01.2025", "0042", "manual", "1.204"], [date(2025, 1, 31), 42, None, 1204]),
        (1048004, ["2025-02-01", "ep  7", "manual", "50 %"], [None, None, None, 0.5]),
    ]


def test_ods_tab_is_chosen_like_a_workbooks():
    single = _ods('<table:table table:name="Sheet1">' + HEADER + "</table:table>")
    assert open_rows(io.BytesIO(single), "ods", "metrics_daily").header[0] == "day"
    two = _ods('<table:table table:name="Sheet1">' + HEADER + '</table:table><table:table table:name="Sheet2"/>')
    with pytest.raises(UnusableInput, match="expected a tab named 'metrics_daily' \\(or a single tab\\), found tabs Sheet1, Sheet2"):
        open_rows(io.BytesIO(two), "ods", "metrics_daily")
    with pytest.raises(UnusableInput, match="file is not a readable .ods spreadsheet"):
        open_rows(io.BytesIO(b"day,episode_id\n"), "ods", "metrics_daily")


def test_ods_is_known_by_its_name_and_mime_type():
    assert format_for_filename("Hub.ODS") == "ods"
    assert format_for_filename("export", "application/vnd.oasis.opendocument.spreadsheet") == "ods"
    assert format_for_filename("book.xlsx") == "xlsx"


# What the person meant in every fixture, whatever its locale's text and whichever format it was saved in.
EXPECTED_METRICS = [
    (date(2025, 1, 31), "0042", "manual", "pod-1", 1204, 980, 0.85, 200000),
    (date(2025, 3, 12), "0007", "manual", "pod-1", 12345, 9876, 0.5, 123450),
    (date(2025, 12, 1), "1042", "manual", "pod-2", 1000000, 750000, 0.125, 1999),
]
EXPECTED_IOS = [
    ("IO-1", date(2025, 3, 1), date(2025, 3, 12), "0042", 250000, 2500, "EUR", "scheduled", "SAVE10"),
    ("IO-2", date(2025, 1, 6), date(2025, 2, 28), "0007", 1000, 1850, "EUR", "draft", None),
]


def _stored(database_url):
    metrics = [(r.day, r.episode_id, r.source, r.podcast_id, r.downloads, r.listeners, r.completion_rate,
                r.revenue_cents) for r in rows(database_url, MetricsDaily, MetricsDaily.day)]
    ios = [(r.io_id, r.flight_start, r.flight_end, r.episode_id, r.booked_impressions, r.booked_cpm_cents,
            r.currency, r.status, r.promo_code) for r in rows(database_url, IoBooking, IoBooking.io_id)]
    return metrics, ios


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("input_format", ("xlsx", "ods"))
def test_libreoffice_files_store_what_the_person_meant(database_url, tenant, locale, input_format):
    body = (FIXTURES / f"hub_{locale}.{input_format}").read_bytes()
    for table in ("metrics_daily", "io_bookings"):
        summary = import_text(database_url, tenant["id"], table, body, input_format=input_format)
        assert summary["status"] == "completed", summary["row_errors"]
    assert _stored(database_url) == (EXPECTED_METRICS, EXPECTED_IOS)
    # The same sheet saved in the other format (or another locale) holds the same values: nothing moves.
    other = "ods" if input_format == "xlsx" else "xlsx"
    replay = import_text(database_url, tenant["id"], "metrics_daily",
                         (FIXTURES / f"hub_{LOCALES[0]}.{other}").read_bytes(), input_format=other)
    assert replay["counts"]["unchanged"] == 3


def test_ods_upload_through_the_api(client, database_url, tenant):
    response = client.post(
        "/api/v1/etl/upload",
        data={"table": "io_bookings", "file": (io.BytesIO((FIXTURES / "hub_de-DE.ods").read_bytes()), "Buchungen.ods")},
        headers={"Authorization": f"Bearer {tenant['secrets']['api']}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    status = client.get(response.get_json()["status_url"], headers={"Authorization": f"Bearer {tenant['secrets']['api']}"})
    assert (status.get_json()["status"], status.get_json()["format"]) == ("completed", "ods")
    assert _stored(database_url)[1] == EXPECTED_IOS


def test_xlsx_with_a_wrong_dimension_loses_no_column(database_url, tenant):
    body = _workbook("metrics_daily", ["day", "episode_id", "source", "downloads"],
                     [(date(2025, 1, 31), "yyyy-mm-dd"), (42, "0000"), "manual", 1204])
    # Some writers state `A1` as every sheet's size; read by it, only the first column would remain.
    source, patched = zipfile.ZipFile(io.BytesIO(body)), io.BytesIO()
    with zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:D2" />' in data
                data = data.replace(b'<dimension ref="A1:D2" />', b'<dimension ref="A1" />')
            target.writestr(item, data)
    summary = import_text(database_url, tenant["id"], "metrics_daily", patched.getvalue(), input_format="xlsx")
    assert summary["status"] == "completed", summary["row_errors"]
    assert [(r.episode_id, r.downloads) for r in rows(database_url, MetricsDaily)] == [("0042", 1204)]


def test_ods_reading_keeps_no_finished_rows():
    import tracemalloc

    # Rows that differ, as real ones do (15,000 copies of one row compress past the archive guard's ratio).
    data_rows = "".join(
        f'<table:table-row><table:table-cell office:value-type="float" office:value="{n}"><text:p>{n:05d}</text:p>'
        "</table:table-cell>" + _text(f"x{n * 7919 % 100003}") + _text("manual") + "</table:table-row>"
        for n in range(15000))
    body = _ods('<table:table table:name="metrics_daily">' + HEADER + data_rows + "</table:table>")
    tracemalloc.start()
    try:
        stream = open_rows(io.BytesIO(body), "ods", "metrics_daily")
        assert sum(1 for _ in stream.rows) == 15000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Kept rows would cost about 80 bytes each (1.2 MB here) in the tab-name pass or the reading pass.
    assert peak < 700_000, peak


def test_cli_imports_an_ods_named_by_its_format(database_url, tenant, tmp_path):
    import json
    import os
    import shutil
    import subprocess
    import sys

    export = tmp_path / "download"  # a browser's download without its extension
    shutil.copyfile(FIXTURES / "hub_fr-FR.ods", export)
    done = subprocess.run([sys.executable, "-m", "hub", "import", str(export), "--tenant", tenant["slug"],
                           "--table", "metrics_daily", "--format", "ods"],
                          env=dict(os.environ, HUB_DATABASE_URL=database_url), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["counts"]["inserted"] == 3
    assert _stored(database_url)[0] == EXPECTED_METRICS


def _workbook_with_rows_at(tmp_path, numbers: dict[int, list]) -> bytes:
    """An .xlsx whose data rows sit at the given row numbers (openpyxl writes rows 2, 3, ...; the
    sheet XML is then renumbered, as a hand-made or hostile file could be)."""
    import re
    import zipfile

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "metrics_daily"
    sheet.append(["day", "episode_id", "source", "downloads"])
    for values in numbers.values():
        sheet.append(values)
    plain = tmp_path / "plain.xlsx"
    workbook.save(plain)
    renumber = {str(index): str(number) for index, number in enumerate(numbers, start=2)}
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                text = re.sub(r'<row r="(\d+)"', lambda m: f'<row r="{renumber.get(m[1], m[1])}"', text)
                text = re.sub(r'r="([A-Z]+)(\d+)"', lambda m: f'r="{m[1]}{renumber.get(m[2], m[2])}"', text)
                text = re.sub(r'<dimension ref="[^"]*"/>', "", text)
                data = text.encode()
            target.writestr(entry, data)
    return out.getvalue()


def test_xlsx_rows_keep_their_numbers_across_a_gap_without_reading_the_gap(database_url, tenant, tmp_path):
    body = _workbook_with_rows_at(tmp_path, {2: ["2025-01-06", "ep-1", "manual", 5],
                                             1_000_000: ["2025-01-07", "ep-1", "manual", -1]})
    stream = open_rows(io.BytesIO(body), "xlsx", "metrics_daily")
    assert [number for number, _ in stream.rows] == [2, 1_000_000]
    summary = import_text(database_url, tenant["id"], "metrics_daily", body, input_format="xlsx")
    assert summary["counts"]["inserted"] == 1 and summary["counts"]["refused"] == 1
    assert summary["row_errors"][0]["message"].startswith("row 1000000, downloads:")


def test_xlsx_row_past_the_last_row_a_sheet_can_have_refuses_the_file(database_url, tenant, tmp_path):
    # Issue 15: a 2 KB file whose one row is numbered 30,000,000 held a worker for minutes.
    body = _workbook_with_rows_at(tmp_path, {30_000_000: ["2025-01-06", "ep-1", "manual", 5]})
    summary = import_text(database_url, tenant["id"], "metrics_daily", body, input_format="xlsx")
    assert summary["status"] == "failed"
    assert "row 30000000: past the last row a sheet can have (1,048,576)" in summary["error"]
