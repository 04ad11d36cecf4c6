"""The Google Sheets pull connector, with Google answered at the HTTP wire.

The fake spreadsheet below answers the Sheets API v4 calls the hub makes, in the shapes Google
documents them:
- spreadsheets.get with a field mask (https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets/get):
  a Spreadsheet with `properties` (SpreadsheetProperties: locale, timeZone) and `sheets[].properties`
  (SheetProperties: title, gridProperties.rowCount/columnCount), only the fields asked for;
- spreadsheets.values.batchGet (https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/batchGet):
  {"spreadsheetId", "valueRanges": [ValueRange]} in the order of the ranges asked; a ValueRange
  (https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values#ValueRange) is
  {"range", "majorDimension": "ROWS", "values"}, trailing empty rows and cells left out, empty cells
  before a value as "". valueRenderOption
  (https://developers.google.com/sheets/api/reference/rest/v4/ValueRenderOption) UNFORMATTED_VALUE gives
  numbers as JSON numbers, FORMATTED_VALUE the text shown; dateTimeRenderOption SERIAL_NUMBER
  (https://developers.google.com/sheets/api/reference/rest/v4/DateTimeRenderOption) gives dates as day
  serials from 1899-12-30 (the fraction is the time of day);
- values.get, values.batchUpdate, values.clear, values.update and spreadsheets.batchUpdate, which the
  write-back and the hub_results tab use through gspread (as tests/test_writeback.py);
- a 429 is Google's error body, {"error": {"code": 429, "message", "status": "RESOURCE_EXHAUSTED"}}
  (https://developers.google.com/sheets/api/limits).
"""
from __future__ import annotations

import base64
import json
import re
import tracemalloc
from datetime import date, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses
from click.testing import CliRunner
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.service_account import Credentials
from redis import Redis
from rq.cron import CronScheduler
from sqlalchemy import select

from connectors.base import ConnectorError
from connectors.google_sheets import GoogleSheetsConnector, column_letter
from hub import create_app
from hub.cli import main as cli
from hub.config import load_settings
from hub.jobs.connectors import SyncError, configure, run_sync
from hub.jobs.sheet_pull import LAYOUTS
from hub.models import ConnectorState, EtlImport, IoBooking, MetricsDaily, SheetRowDigest, TenantSpreadsheet
from hub.sheets.ownership import register
from hub.sheets.targets import SHEETS_SCOPES
from hub.tenants import tenant_by_slug
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import observer, rows, work
from tests.test_writeback import TOKEN_URI, service_account_file  # noqa: F401  (a fixture)

SHEETS = "https://sheets.googleapis.com/v4/spreadsheets"
SHEET_ID = "1PuLLsHeetAcme-ios_0123456789"
ADMIN_TOKEN = "test-admin-token-0123456789"


def cell(value, shown: str | None = None):
    """A cell as Google holds it: its value (UNFORMATTED_VALUE) and the text it shows (FORMATTED_VALUE)."""
    return (value, str(value) if shown is None else shown)


def io_tab() -> list[list]:
    """An IO tracker with a title above its header (row 3), ids shown through a 000 format."""
    return [
        [cell("Acme Audio: IO tracker")],
        [],
        [cell(h) for h in ("IO ID", "Flight Start", "Flight End", "episode_id", "booked_impressions", "booked_cpm",
                           "promo_code", "status")],
        [cell(7, "007"), cell(47484, "1/1/2030"), cell(47514, "1/31/2030"), cell(12, "0012"), cell(20000, "20,000"),
         cell(25, "$25.00"), cell("SPRING25"), cell("scheduled")],
        # A date-time in a date column is its day: 47515.75 is 2030-02-01 18:00. (Flights ahead, so the
        # lifecycle completes no IO and writes no status into the sheet between the runs.)
        [cell("IO-2"), cell(47515.75, "2/1/2030 18:00:00"), cell(47542, "2/28/2030"), cell("ep-2"),
         cell(5000, "5,000"), cell(30.5, "$30.50"), None, cell("draft")],
    ]


def metrics_tab() -> list[list]:
    header = [cell(h) for h in ("day", "episode_id", "podcast_id", "source", "downloads", "listeners",
                                "completion_rate", "revenue")]
    return [header] + [
        [cell(45658 + i, f"2025-01-{i + 1:02d}"), cell(12, "0012"), cell(3, "003"), cell("manual"),
         cell(1204 + i, f"{1204 + i:,}"), cell(900), cell(0.85, "85%"), cell(1234.5, "$1,234.50")]
        for i in range(3)]


class FakeSpreadsheet:
    """One spreadsheet at the wire: tabs of cells (None = empty), read and written as Google does."""

    def __init__(self, tabs: dict[str, list[list]], row_count: int = 1000, locale: str = "en_US"):
        self.tabs = tabs
        self.row_count = row_count
        self.locale = locale
        self.calls: list[tuple[str, dict]] = []  # (what, query) of each Sheets call
        self.fail_next: list[int] = []           # statuses to answer the next batchGets with

    # -- A1 notation -------------------------------------------------------------------------------

    @staticmethod
    def parse(a1: str) -> tuple[str, int, int, int | None, int | None]:
        """(tab, first row, first column, last row, last column), 1-based; None = to the end."""
        tab_part, _, ref = a1.partition("!")
        tab = tab_part[1:-1].replace("''", "'") if tab_part.startswith("'") else tab_part
        if not ref:
            return tab, 1, 1, None, None
        start, _, end = ref.partition(":")
        end = end or start

        def split(part):
            letters, digits = re.fullmatch(r"([A-Z]*)(\d*)", part).groups()
            column = 0
            for letter in letters:
                column = column * 26 + ord(letter) - 64
            return (int(digits) if digits else None), (column or None)

        (r1, c1), (r2, c2) = split(start), split(end)
        return tab, r1 or 1, c1 or 1, r2, c2

    def grid_rows(self, tab: str) -> int:
        return max(self.row_count, len(self.tabs[tab]))

    def value_range(self, a1: str, render: str) -> dict:
        tab, r1, c1, r2, c2 = self.parse(a1)
        grid = self.tabs[tab]
        r2 = min(r2 or self.grid_rows(tab), self.grid_rows(tab))
        c2 = c2 or 26
        values = []
        for number in range(r1, r2 + 1):
            source = grid[number - 1] if number - 1 < len(grid) else []
            row = []
            for column in range(c1, c2 + 1):
                stored = source[column - 1] if column - 1 < len(source) else None
                row.append("" if stored is None else (stored[0] if render == "UNFORMATTED_VALUE" else stored[1]))
            while row and row[-1] == "":
                row.pop()  # trailing empty cells are left out
            values.append(row)
        while values and not values[-1]:
            values.pop()  # and trailing empty rows
        shown = f"{tab}!{column_letter(c1)}{r1}:{column_letter(c2)}{r2}"
        return {"range": shown, "majorDimension": "ROWS", **({"values": values} if values else {})}

    def write(self, a1: str, values: list[list]) -> None:
        tab, r1, c1, _, _ = self.parse(a1)
        grid = self.tabs.setdefault(tab, [])
        for offset, row in enumerate(values):
            while len(grid) < r1 + offset:
                grid.append([])
            target = grid[r1 + offset - 1]
            for index, value in enumerate(row):
                while len(target) < c1 + index:
                    target.append(None)
                target[c1 + index - 1] = cell(value)

    def text(self, tab: str, row: int, column_name: str, header_row: int = 1):
        header = [c[1] if c else "" for c in self.tabs[tab][header_row - 1]]
        found = self.tabs[tab][row - 1]
        index = header.index(column_name)
        return found[index][1] if index < len(found) and found[index] else None

    # -- the endpoints ---------------------------------------------------------------------------------

    def install(self, wire: responses.RequestsMock) -> None:
        wire.add(responses.POST, TOKEN_URI, json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
        base = re.escape(f"{SHEETS}/{SHEET_ID}")
        wire.add_callback(responses.GET, re.compile(base + r"/values:batchGet"), callback=self.batch_get)
        wire.add_callback(responses.POST, re.compile(base + r"/values:batchUpdate"), callback=self.values_batch_update)
        wire.add_callback(responses.POST, re.compile(base + r"/values/[^?]*:clear"), callback=self.clear)
        wire.add_callback(responses.GET, re.compile(base + r"/values/"), callback=self.values_get)
        wire.add_callback(responses.PUT, re.compile(base + r"/values/"), callback=self.values_update)
        wire.add_callback(responses.POST, re.compile(base + r":batchUpdate"), callback=self.batch_update)
        wire.add_callback(responses.GET, re.compile(base + r"(\?|$)"), callback=self.get)

    @staticmethod
    def query(request) -> dict:
        return parse_qs(urlsplit(request.url).query)

    @staticmethod
    def answer(body: dict, status: int = 200):
        return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body)

    def get(self, request):
        fields = self.query(request).get("fields", [""])[0]
        self.calls.append(("spreadsheets.get", {"fields": fields}))
        body: dict = {}
        if "properties(" in fields and not fields.startswith("sheets"):
            body["properties"] = {"locale": self.locale, "timeZone": "America/New_York"}
        sheets = []
        for index, title in enumerate(self.tabs):
            properties = {"title": title}
            if "sheetId" in fields:
                properties["sheetId"] = index
            if "gridProperties" in fields:
                properties["gridProperties"] = {"rowCount": self.grid_rows(title), "columnCount": 26}
            sheets.append({"properties": properties})
        body["sheets"] = sheets
        return self.answer(body)

    def batch_get(self, request):
        query = self.query(request)
        self.calls.append(("values.batchGet", query))
        if self.fail_next:
            status = self.fail_next.pop(0)
            return self.answer({"error": {"code": status, "message": "Quota exceeded for quota metric 'Read requests' "
                                          "and limit 'Read requests per minute per user' of service "
                                          "'sheets.googleapis.com' for consumer 'project_number:1'.",
                                          "status": "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE"}}, status)
        render = query["valueRenderOption"][0]
        return self.answer({"spreadsheetId": SHEET_ID,
                            "valueRanges": [self.value_range(a1, render) for a1 in query["ranges"]]})

    def values_get(self, request):
        a1 = unquote(urlsplit(request.url).path.split("/values/", 1)[1])
        self.calls.append(("values.get", self.query(request)))
        return self.answer(self.value_range(a1, self.query(request).get("valueRenderOption", ["FORMATTED_VALUE"])[0]))

    def values_batch_update(self, request):
        body = json.loads(request.body)
        self.calls.append(("values.batchUpdate", {}))
        for data in body["data"]:
            self.write(data["range"], data["values"])
        return self.answer({"spreadsheetId": SHEET_ID, "totalUpdatedCells": len(body["data"])})

    def clear(self, request):
        a1 = unquote(urlsplit(request.url).path.split("/values/", 1)[1]).removesuffix(":clear")
        self.tabs[self.parse(a1)[0]] = []
        return self.answer({"spreadsheetId": SHEET_ID, "clearedRange": a1})

    def values_update(self, request):
        a1 = unquote(urlsplit(request.url).path.split("/values/", 1)[1])
        self.write(a1, json.loads(request.body)["values"])
        return self.answer({"spreadsheetId": SHEET_ID, "updatedRange": a1})

    def batch_update(self, request):
        for change in json.loads(request.body)["requests"]:
            if "addSheet" in change:
                self.tabs.setdefault(change["addSheet"]["properties"]["title"], [])
        return self.answer({"spreadsheetId": SHEET_ID, "replies": [{}]})

    def reads(self) -> list[tuple[str, dict]]:
        """The calls of the pull itself (not the write-back's or hub_results')."""
        return [(what, query) for what, query in self.calls
                if what == "values.batchGet" or (what == "spreadsheets.get" and "gridProperties" in query["fields"])]


# --- set-up ----------------------------------------------------------------------------------------


def settings_for(url: str, key_file: str):
    return load_settings({"HUB_ENV": "test", "HUB_SECRET_KEY": SECRET_KEY, "HUB_DATABASE_URL": url,
                          "HUB_GOOGLE_SERVICE_ACCOUNT_FILE": key_file})


def add_google_sheets(url: str, slug: str = "acme", tabs: str = "io_bookings,metrics_daily", every=None, **extra):
    session = observer(url)
    try:
        state = configure(session, tenant_by_slug(session, slug), "google_sheets",
                          {"spreadsheet_id": SHEET_ID, "tabs": tabs, **extra}, every, SECRET_KEY)
        session.commit()
        return state.config
    finally:
        session.close()


def reader(key_file: str, waits: list | None = None, max_retries: int = 5, **config) -> GoogleSheetsConnector:
    """The connector as the hub builds it, but waiting into a list instead of sleeping."""
    info = json.load(open(key_file))
    credentials = Credentials.from_service_account_info(info, scopes=SHEETS_SCOPES)
    return GoogleSheetsConnector({"spreadsheet_id": SHEET_ID, "tabs": "io_bookings,metrics_daily", **config},
                                 AuthorizedSession(credentials), layouts=LAYOUTS,
                                 sleep=(waits.append if waits is not None else lambda seconds: None),
                                 max_retries=max_retries)


def imports(url: str) -> list[EtlImport]:
    return rows(url, EtlImport, EtlImport.created_at)


# --- the tests ---------------------------------------------------------------------------------------


def test_a_run_reads_every_tab_in_one_batch_and_a_second_run_sends_only_the_edited_row(
        database_url, service_account_file):
    make_tenant(database_url, "acme")
    add_google_sheets(database_url)
    sheet = FakeSpreadsheet({"io_bookings": io_tab(), "metrics_daily": metrics_tab(), "notes": [[cell("x")]]})
    settings = settings_for(database_url, service_account_file)
    tenant_id = rows(database_url, TenantSpreadsheet)[0].tenant_id

    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        first = run_sync(settings, tenant_id, "google_sheets")

    # One spreadsheets.get, then one UNFORMATTED batchGet for both tabs and one FORMATTED batchGet for
    # the identifier and key columns of both.
    reads = sheet.reads()
    assert [what for what, _ in reads] == ["spreadsheets.get", "values.batchGet", "values.batchGet"]
    plain, shown = reads[1][1], reads[2][1]
    assert plain["valueRenderOption"] == ["UNFORMATTED_VALUE"] and plain["dateTimeRenderOption"] == ["SERIAL_NUMBER"]
    assert plain["ranges"] == ["'io_bookings'!1:1000", "'metrics_daily'!1:1000"]
    assert shown["valueRenderOption"] == ["FORMATTED_VALUE"]
    # io_bookings: IO ID (A) and episode_id (D); promo_code and status (G:H); metrics_daily: day to source (A:D).
    assert shown["ranges"] == ["'io_bookings'!A1:A1000", "'io_bookings'!D1:D1000", "'io_bookings'!G1:H1000",
                               "'metrics_daily'!A1:D1000"]
    assert first["rows"] == 5

    ios = {io.io_id: io for io in rows(database_url, IoBooking)}
    assert set(ios) == {"007", "IO-2"}, "an id shown as 007 stays 007"
    assert (ios["007"].flight_start, ios["007"].flight_end) == (date(2030, 1, 1), date(2030, 1, 31))
    assert ios["IO-2"].flight_start == date(2030, 2, 1), "a date-time serial in a date column is its day"
    assert ios["007"].episode_id == "0012" and ios["007"].booked_cpm_cents == 2500 and ios["IO-2"].booked_cpm_cents == 3050
    metrics = {m.day: m for m in rows(database_url, MetricsDaily)}
    assert sorted(metrics) == [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)], "serial 45658 is 2025-01-01"
    assert metrics[date(2025, 1, 1)].podcast_id == "003" and metrics[date(2025, 1, 1)].downloads == 1204
    assert metrics[date(2025, 1, 1)].completion_rate == 0.85 and metrics[date(2025, 1, 1)].revenue_cents == 123450

    # Written back like a push: hub_status beside each row, in the header row found (row 3), not row 1.
    assert sheet.text("io_bookings", 3, "hub_status", header_row=3) == "hub_status"
    assert sheet.text("io_bookings", 4, "hub_status", header_row=3) == "ok: inserted"
    assert sheet.text("io_bookings", 5, "hub_status", header_row=3) == "ok: inserted"
    assert len(sheet.tabs["io_bookings"][0]) == 1, "the title row is left alone"
    assert sheet.text("metrics_daily", 2, "hub_status") == "ok: inserted"
    assert {i.source for i in imports(database_url)} == {"sheets"}
    assert all(i.context["pulled_by"] == "google_sheets" for i in imports(database_url))

    # Someone edits one count; the hub's own hub_status/hub_synced_at cells changed too, and do not count.
    sheet.tabs["metrics_daily"][2][4] = cell(1300, "1,300")
    before = {i.id for i in imports(database_url)}
    sheet.calls.clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        second = run_sync(settings, tenant_id, "google_sheets")
    (new,) = [i for i in imports(database_url) if i.id not in before]
    assert second["rows"] == 1 and new.table_name == "metrics_daily" and new.rows_total == 1 and new.rows_updated == 1
    assert {m.day: m.downloads for m in rows(database_url, MetricsDaily)}[date(2025, 1, 2)] == 1300
    assert sheet.text("metrics_daily", 3, "hub_status") == "ok: updated"
    assert [what for what, _ in sheet.reads()] == ["spreadsheets.get", "values.batchGet", "values.batchGet"]

    # Nothing edited: the sheet is read, and nothing goes through the pipeline.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        third = run_sync(settings, tenant_id, "google_sheets")
    assert third["rows"] == 0 and len(imports(database_url)) == len(before) + 1
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "idle" and state.last_error is None
    assert state.cursor["tabs"]["io_bookings"]["header_row"] == 3 and state.cursor["tabs"]["metrics_daily"]["header_row"] == 1
    assert len(rows(database_url, SheetRowDigest)) == 5


def test_a_key_twice_in_the_tab_is_refused_every_time_its_later_row_changes(database_url, service_account_file):
    tenant = make_tenant(database_url, "acme")
    add_google_sheets(database_url, tabs="metrics_daily")
    tab = metrics_tab()
    tab.append([cell(45658, "2025-01-01"), cell(12, "0012"), cell(3, "003"), cell("manual"), cell(9999, "9,999")])
    sheet = FakeSpreadsheet({"metrics_daily": tab})
    settings = settings_for(database_url, service_account_file)

    def run():
        with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
            sheet.install(wire)
            return run_sync(settings, tenant["id"], "google_sheets")

    assert run()["rows"] == 4
    assert sheet.text("metrics_daily", 5, "hub_status").startswith("error: row 5: duplicate of row 2")
    assert run()["rows"] == 0, "the two rows are remembered apart: neither is sent again"
    tab[4][4] = cell(8888, "8,888")
    assert run()["rows"] == 2, "the edited later row goes with the row whose key it repeats"
    assert sheet.text("metrics_daily", 5, "hub_status").startswith("error: row 5: duplicate of row 2")
    assert {m.day: m.downloads for m in rows(database_url, MetricsDaily)}[date(2025, 1, 1)] == 1204


def test_the_header_is_the_first_row_holding_the_required_columns_and_its_absence_is_named(service_account_file):
    sheet = FakeSpreadsheet({"io_bookings": io_tab()})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        (page,) = list(reader(service_account_file, tabs="io_bookings").sync({}))
    assert page.header_row == 3 and page.header[0] == "IO ID"
    assert [row["row_number"] for row in page.rows] == [4, 5]
    first = page.rows[0]
    assert first["values"][:3] == ["007", "2030-01-01", "2030-01-31"] and first["typed"][:3] == [None, "2030-01-01", "2030-01-31"]

    # A sheet whose flight_end column was renamed has no header row at all.
    broken = io_tab()
    broken[2][2] = cell("Flight Finish")
    sheet = FakeSpreadsheet({"io_bookings": broken})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        with pytest.raises(ConnectorError, match=r"tab 'io_bookings': no header row in rows 1-1000: expected a row "
                                                 r"holding the columns io_id, flight_start, flight_end"):
            list(reader(service_account_file, tabs="io_bookings").sync({}))


def test_a_429_waits_and_the_run_goes_on(database_url, service_account_file):
    tenant = make_tenant(database_url, "acme")
    add_google_sheets(database_url, tabs="metrics_daily")
    sheet = FakeSpreadsheet({"metrics_daily": metrics_tab()})
    sheet.fail_next = [429, 503]
    waits: list[float] = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        result = run_sync(settings_for(database_url, service_account_file), tenant["id"], "google_sheets",
                          connector=reader(service_account_file, waits, tabs="metrics_daily"))
    assert waits == [5.0, 2.0], "a 429 waits the Sheets quota's pause, then the 503 (the second retry) backs off 2 s"
    assert [what for what, _ in sheet.reads()] == ["spreadsheets.get"] + ["values.batchGet"] * 4
    assert result["rows"] == 3 and len(rows(database_url, MetricsDaily)) == 3


def test_quota_spent_leaves_googles_message_as_the_last_error(database_url, service_account_file):
    tenant = make_tenant(database_url, "acme")
    add_google_sheets(database_url, tabs="metrics_daily")
    sheet = FakeSpreadsheet({"metrics_daily": metrics_tab()})
    sheet.fail_next = [429] * 3
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        connector = reader(service_account_file, [], max_retries=2, tabs="metrics_daily")
        with pytest.raises(SyncError) as raised:
            run_sync(settings_for(database_url, service_account_file), tenant["id"], "google_sheets",
                     connector=connector)
    assert raised.value.retriable
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "failed" and "HTTP 429: Quota exceeded for quota metric 'Read requests'" in state.last_error
    assert rows(database_url, MetricsDaily) == []


def test_a_spreadsheet_another_tenant_holds_is_refused_in_a_pushs_words(database_url, hub_env):
    acme = make_tenant(database_url, "acme")
    make_tenant(database_url, "globex")
    add_google_sheets(database_url, "acme")
    session = observer(database_url)
    with pytest.raises(ConnectorError) as refused:
        configure(session, tenant_by_slug(session, "globex"), "google_sheets",
                  {"spreadsheet_id": SHEET_ID, "tabs": "io_bookings"}, None, SECRET_KEY)
    session.rollback()
    session.close()
    # The words a push from it gets (hub/sheets/ownership.py), naming no other tenant.
    assert str(refused.value) == (f"spreadsheet {SHEET_ID} is not registered to this tenant: an operator registers "
                                  f"it with 'python -m hub tenant add-sheet globex {SHEET_ID}'")
    owners = {(s.spreadsheet_id, s.tenant_id, s.bound_by) for s in rows(database_url, TenantSpreadsheet)}
    assert owners == {(SHEET_ID, acme["id"], "connector")}
    assert [s.tenant_id for s in rows(database_url, ConnectorState)] == [acme["id"]], "nothing kept for globex"

    # The command line says the same, and a tab that is not a table is refused naming the tables.
    hub_env(database_url, HUB_SECRET_KEY=SECRET_KEY)
    runner = CliRunner()
    result = runner.invoke(cli, ["connector", "add", "google_sheets", "--tenant", "globex",
                                 "--set", f"spreadsheet_id={SHEET_ID}", "--set", "tabs=io_bookings"])
    assert result.exit_code == 1 and "is not registered to this tenant" in result.output
    result = runner.invoke(cli, ["connector", "add", "google_sheets", "--tenant", "acme",
                                 "--set", f"spreadsheet_id={SHEET_ID}", "--set", "tabs=io_bookings,orders"])
    assert result.exit_code == 1 and "tab 'orders' is not a table the hub imports" in result.output


def test_a_spreadsheet_no_longer_the_tenants_is_not_read(database_url, service_account_file):
    tenant = make_tenant(database_url, "acme")
    add_google_sheets(database_url)
    session = observer(database_url)
    session.delete(session.scalar(select(TenantSpreadsheet)))  # `hub tenant remove-sheet`
    session.commit()
    session.close()
    with responses.RequestsMock() as wire:  # any call to Google would fail the test
        with pytest.raises(SyncError, match="is not registered to this tenant"):
            run_sync(settings_for(database_url, service_account_file), tenant["id"], "google_sheets")
        assert not wire.calls
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "failed" and "tenant add-sheet acme" in state.last_error


def test_a_large_sheet_is_read_in_row_windows_in_bounded_memory(service_account_file):
    total = 100_000

    class Generated(FakeSpreadsheet):
        """100,000 rows made as they are asked for, so only the reader's memory is measured."""

        def value_range(self, a1, render):
            tab, r1, c1, r2, c2 = self.parse(a1)
            r2 = min(r2, total + 1)
            values = []
            for number in range(r1, r2 + 1):
                row = (["day", "episode_id", "source", "downloads"] if number == 1 else
                       [45658 + number % 300, f"ep-{number}", "manual", number])
                if render == "FORMATTED_VALUE":
                    row = [str(v) for v in row]
                values.append(row[c1 - 1:(c2 or 4)])
            return {"range": f"{tab}!{column_letter(c1)}{r1}:{column_letter(c2 or 4)}{r2}", "majorDimension": "ROWS",
                    "values": values}

    sheet = Generated({"metrics_daily": []}, row_count=total + 1)
    connector = reader(service_account_file, tabs="metrics_daily", rows_per_range=10_000)
    sizes = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        tracemalloc.start()
        for page in connector.sync({}):
            sizes.append(len(page.rows))
            del page
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert sizes == [9_999] + [10_000] * 9 + [1], "the header row, then 10,000 rows a window"
    ranges = [q["ranges"] for what, q in sheet.reads() if what == "values.batchGet"]
    assert ranges[0] == ["'metrics_daily'!1:10000"] and ranges[-2] == ["'metrics_daily'!100001:100001"]
    assert len(ranges) == 22, "two batchGets a window"
    # One window at a time (its JSON, rows and page): far below what 100,000 rows at once would take.
    assert peak < 60 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_the_schedule_runs_it_through_a_real_worker_and_it_shows_like_the_others(
        database_url, redis_url, service_account_file, hub_env):
    tenant = make_tenant(database_url, "acme")
    hub_env(database_url, redis_url, HUB_SECRET_KEY=SECRET_KEY, HUB_GOOGLE_SERVICE_ACCOUNT_FILE=service_account_file)
    add_google_sheets(database_url, tabs="metrics_daily", every=60)
    sheet = FakeSpreadsheet({"metrics_daily": metrics_tab()})
    connection = Redis.from_url(redis_url)
    cron = CronScheduler(connection=connection)
    cron.load_config_from_file("hub.jobs.cron")  # the hub's own schedule, as `python -m hub scheduler` runs it
    assert "sync-due-connectors" in [job.name for job in cron.get_jobs()]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        sheet.install(wire)
        cron.enqueue_jobs()
        work(redis_url)  # the due sync, then its write-back and hub_results, in a real RQ worker
    assert len(rows(database_url, MetricsDaily)) == 3
    assert sheet.text("metrics_daily", 2, "hub_status") == "ok: inserted", "written back by the worker"
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "idle" and state.last_sync_at is not None and state.last_error is None

    app = create_app({"database_url": database_url, "redis_url": None})
    client = app.test_client()
    listed = client.get("/api/v1/connectors", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"}).get_json()
    (shown,) = listed["connectors"]
    assert shown["connector"] == "google_sheets" and shown["every_minutes"] == 60 and shown["last_error"] is None
    assert shown["last_sync_at"] == state.last_sync_at.isoformat()
    assert shown["next_sync_at"] == state.next_sync_at.isoformat()
    assert state.next_sync_at - state.last_sync_at == timedelta(minutes=60)
    page = client.get("/admin", headers={"Authorization": "Basic " + base64.b64encode(
        f"admin:{ADMIN_TOKEN}".encode()).decode()})
    assert page.status_code == 200
    row = re.search(r'<tr data-connector="google_sheets">(.*?)</tr>', page.text, re.S)
    assert row and "acme" in row.group(1) and "idle" in row.group(1)
    assert state.next_sync_at.isoformat().replace("T", " ")[:19] in row.group(1)
