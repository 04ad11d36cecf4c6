"""Write-back of each pushed row's outcome: the local workbook end to end, and gspread at the HTTP wire."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from openpyxl import Workbook, load_workbook

from hub import create_app
from tests.helpers import observer
from hub.ingest.intake import create_import
from hub.ingest.tables import TABLES
from hub.models import EtlImport
from hub.sheets.ownership import register
from hub.sheets.targets import GoogleSheetsTarget, LocalWorkbookTarget
from hub.sheets.writeback import write_back
from hub.tenants import set_secret, tenant_by_slug
from tests.conftest import SECRET_KEY, make_tenant
from tests.test_sheets_webhook import FIXTURE, sign

FIXTURE_PUSH = json.loads(FIXTURE["body"])
SHEET = FIXTURE_PUSH["spreadsheet_id"]  # every push of this file comes from acme's one spreadsheet


def sheet_rows(push: dict) -> list[list[str]]:
    """The tab as the sheet owner has it: the pushed header and rows, and the script's hub_status column."""
    return [push["header"] + ["hub_status"]] + [row["values"] + ["sent"] for row in push["rows"]]


def make_workbook(path: Path, tab: str, rows: list[list[str]]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = tab
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def read_tab(path: Path, tab: str) -> list[list]:
    return [list(row) for row in load_workbook(path)[tab].iter_rows(values_only=True)]


@pytest.fixture
def acme_app(database_url, tmp_path):
    make_tenant(database_url, "acme")
    session = observer(database_url)
    set_secret(session, tenant_by_slug(session, "acme"), "sheets", FIXTURE["secret"], SECRET_KEY)
    session.commit()
    session.close()
    workbook = tmp_path / f"{SHEET}.xlsx"  # the local workbook folder holds a file per spreadsheet
    return create_app({"database_url": database_url, "workbook_dir": str(tmp_path)}), workbook


def push(client, body: dict):
    text = json.dumps(body)
    response = client.post("/webhooks/sheets/acme", data=text, headers=sign(FIXTURE["secret"], text))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def test_push_then_each_row_gets_its_status_in_the_local_workbook(acme_app):
    app, workbook = acme_app
    body = json.loads(FIXTURE["body"])
    body["push_id"] = "p-local"
    body["rows"][1]["values"][4] = "=IMPORTXML(\"http://evil.example\",\"//a\")"  # downloads of row 3
    rows = sheet_rows(body)
    make_workbook(workbook, "metrics_daily", rows)

    push(app.test_client(), body)
    tab = read_tab(workbook, "metrics_daily")
    header = tab[0]
    status_col, synced_col = header.index("hub_status"), header.index("hub_synced_at")
    assert tab[1][status_col] == "ok: inserted"
    assert tab[2][status_col] == (
        "error: row 3, downloads: expected a whole number >= 0, found '=IMPORTXML(\"http://evil.example\",\"//a\")'")
    assert tab[3][status_col] == "ok: inserted"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", tab[1][synced_col])
    # The formula someone typed stays text in the data cell and nothing the hub wrote is a formula.
    cells = load_workbook(workbook)["metrics_daily"]
    assert all(cell.data_type != "f" for row in cells.iter_rows() for cell in row if cell.column > 10)


def test_rows_inserted_above_do_not_get_someone_elses_status(acme_app, database_url):
    app, workbook = acme_app
    body = json.loads(FIXTURE["body"])
    body["push_id"] = "p-moved"
    rows = sheet_rows(body)
    # Between the push and the write-back someone inserted a new row above row 2.
    rows.insert(1, ["2025-01-05", "pod-1", "999", "manual", "1", "1", "1%", "0", "0", "0", "pending"])
    make_workbook(workbook, "metrics_daily", rows)
    push(app.test_client(), body)
    tab = read_tab(workbook, "metrics_daily")
    status_col = tab[0].index("hub_status")
    assert [row[status_col] for row in tab[1:]] == ["pending", "ok: inserted", "ok: inserted", "ok: inserted"]


def test_a_refused_push_tells_every_row_why(acme_app):
    app, workbook = acme_app
    body = {"push_id": "p-header", "spreadsheet_id": SHEET, "sheet": "io_bookings",
            "header": ["io_id", "flight_start"], "rows": [{"row_number": 2, "values": ["IO-1", "2025-01-01"]}]}
    make_workbook(workbook, "io_bookings", [["io_id", "flight_start"], ["IO-1", "2025-01-01"]])
    push(app.test_client(), body)
    tab = read_tab(workbook, "io_bookings")
    assert tab[0] == ["io_id", "flight_start", "hub_status", "hub_synced_at"]
    assert tab[1][2] == "error: header: missing required column flight_end for table io_bookings (found: io_id, flight_start)"


def test_local_workbook_writes_text_never_formulas(tmp_path):
    target = LocalWorkbookTarget(str(tmp_path))
    target.write_cells("w", "t", [(1, 1, "=1+1")])
    cell = load_workbook(tmp_path / "w.xlsx")["t"]["A1"]
    assert (cell.value, cell.data_type) == ("=1+1", "s")


# --- gspread at the wire ---------------------------------------------------------------------

SHEETS = "https://sheets.googleapis.com/v4/spreadsheets"
TOKEN_URI = "https://oauth2.googleapis.com/token"


@pytest.fixture
def service_account_file(tmp_path):
    """A service-account key file shaped like the one Google issues (a real RSA key; the token call is mocked)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "hub-test", "private_key_id": "k1", "private_key": pem,
            "client_email": "hub@hub-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": TOKEN_URI}
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(info))
    return str(path)


def stored_push(database_url, row_count: int) -> str:
    """An imported sheet push of `row_count` rows, as the webhook and pipeline would have left it."""
    tenant = make_tenant(database_url, "acme")
    header = ["day", "episode_id", "source", "downloads"]
    rows = [{"row_number": n + 2, "values": [f"2025-01-{n % 28 + 1:02d}", f"ep-{n}", "manual", "1"]} for n in range(row_count)]
    body = {"push_id": f"p{row_count}", "spreadsheet_id": SHEET, "sheet": "metrics_daily", "header": header, "rows": rows}
    session = observer(database_url)
    imp, _ = create_import(session, tenant_id=tenant["id"], source="sheets", table_name="metrics_daily",
                           input_format="sheet_push", payload=json.dumps(body).encode(),
                           context={"spreadsheet_id": SHEET, "sheet": "metrics_daily", "track_rows": True})
    imp.status = "completed"
    imp.row_outcomes = {str(r["row_number"]): "inserted" for r in rows}
    session.commit()
    session.close()
    return imp.id, [header] + [r["values"] for r in rows]


def run_write_back(database_url, import_id, target):
    session = observer(database_url)
    try:
        imp = session.get(EtlImport, import_id)
        return write_back(session, target, imp, TABLES[imp.table_name].key, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    finally:
        session.close()


def mock_sheets(wire, values):
    wire.add(responses.POST, TOKEN_URI, json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
    # Shapes from the Sheets API v4 reference: spreadsheets.values/get returns a ValueRange,
    # spreadsheets.values/batchUpdate returns totals and per-range responses.
    wire.add(responses.GET, re.compile(rf"{SHEETS}/{SHEET}/values/.*"),
             json={"range": "metrics_daily!A1:E10001", "majorDimension": "ROWS", "values": values})
    wire.add(responses.POST, f"{SHEETS}/{SHEET}/values:batchUpdate",
             json={"spreadsheetId": SHEET, "totalUpdatedRows": 1, "totalUpdatedColumns": 2,
                   "totalUpdatedCells": 2, "totalUpdatedSheets": 1, "responses": []})


@pytest.mark.parametrize("row_count", [10, 10_000])
def test_gspread_write_back_costs_two_sheets_calls_whatever_the_rows(database_url, service_account_file, row_count):
    import_id, values = stored_push(database_url, row_count)
    with responses.RequestsMock() as wire:
        mock_sheets(wire, values)
        result = run_write_back(database_url, import_id, GoogleSheetsTarget.from_service_account_file(service_account_file))
        sheets_calls = [c for c in wire.calls if c.request.url.startswith(SHEETS)]
    assert result.written == row_count
    assert [c.request.method for c in sheets_calls] == ["GET", "POST"]
    get, post = sheets_calls
    assert "valueRenderOption=FORMATTED_VALUE" in get.request.url
    assert get.request.headers["Authorization"] == "Bearer ya29.test"
    sent = json.loads(post.request.body)
    assert sent["valueInputOption"] == "RAW"
    # Header cells for the two new columns, then status and time for each row.
    assert sent["data"][:2] == [{"range": "'metrics_daily'!E1", "values": [["hub_status"]]},
                                {"range": "'metrics_daily'!F1", "values": [["hub_synced_at"]]}]
    assert sent["data"][2:4] == [{"range": "'metrics_daily'!E2", "values": [["ok: inserted"]]},
                                 {"range": "'metrics_daily'!F2", "values": [["2026-01-02 03:04:05Z"]]}]
    assert len(sent["data"]) == 2 + 2 * row_count


def test_gspread_retries_429_and_5xx_with_backoff(database_url, service_account_file, monkeypatch):
    import gspread.http_client

    slept = []
    monkeypatch.setattr(gspread.http_client.time, "sleep", slept.append)
    import_id, values = stored_push(database_url, 3)
    with responses.RequestsMock() as wire:
        wire.add(responses.POST, TOKEN_URI, json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
        wire.add(responses.GET, re.compile(rf"{SHEETS}/{SHEET}/values/.*"), status=429,
                 json={"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}})
        wire.add(responses.GET, re.compile(rf"{SHEETS}/{SHEET}/values/.*"), status=503,
                 json={"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}})
        wire.add(responses.GET, re.compile(rf"{SHEETS}/{SHEET}/values/.*"), json={"values": values})
        wire.add(responses.POST, f"{SHEETS}/{SHEET}/values:batchUpdate", json={"spreadsheetId": SHEET})
        result = run_write_back(database_url, import_id, GoogleSheetsTarget.from_service_account_file(service_account_file))
    assert result.written == 3
    assert slept == [2, 4]


def test_push_workbook_command_drives_the_whole_sheets_loop(database_url, tmp_path, hub_env):
    """The demo's path: a local tab is pushed, signed, imported and gets its statuses back."""
    import shutil

    from click.testing import CliRunner

    from hub.cli import main

    workbook = tmp_path / "workbook-demo.xlsx"  # the demo tenant's local workbook in HUB_WORKBOOK_DIR
    shutil.copyfile("samples/hub_samples.xlsx", workbook)
    make_tenant(database_url, "demo")
    hub_env(database_url, HUB_WORKBOOK_DIR=str(tmp_path))
    result = CliRunner().invoke(main, ["push-workbook", "--tenant", "demo", "--tab", "io_bookings"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    tab = read_tab(workbook, "io_bookings")
    status_col = tab[0].index("hub_status")
    assert [row[status_col] for row in tab[1:]] == ["ok: inserted"] * 10
    again = CliRunner().invoke(main, ["push-workbook", "--tenant", "demo", "--tab", "io_bookings"])
    assert again.exit_code == 0
    assert [row[status_col] for row in read_tab(workbook, "io_bookings")[1:]] == ["ok: unchanged"] * 10


# --- the hub_results tab -------------------------------------------------------------------------

def test_hub_results_tab_shows_each_ios_delivery_and_results(acme_app, database_url):
    app, workbook = acme_app
    make_workbook(workbook, "io_bookings", [["io_id", "flight_start", "flight_end", "episode_id", "booked_impressions",
                                             "booked_cpm_cents", "promo_code", "status"]])
    client = app.test_client()
    push(client, {"push_id": "p-io", "spreadsheet_id": SHEET, "sheet": "io_bookings",
                  "header": ["io_id", "flight_start", "flight_end", "episode_id", "booked_impressions",
                             "booked_cpm_cents", "promo_code", "status"],
                  "rows": [{"row_number": 2, "values": ["IO-1", "2025-01-01", "2099-12-31", "007", "10,000", "2500",
                                                        "CODE1", "live"]}]})
    push(client, {"push_id": "p-m", "spreadsheet_id": SHEET, "sheet": "metrics_daily",
                  "header": ["day", "episode_id", "source"] + ["downloads"],
                  "rows": [{"row_number": 2, "values": ["2025-01-06", "007", "buzzsprout", "1,500"]}]})
    tab = read_tab(workbook, "hub_results")
    assert tab[0][:9] == ["io_id", "status", "episode_id", "flight_start", "flight_end", "booked_impressions",
                          "delivered_impressions", "pacing", "conversions"]
    # Numbers and dates are numeric cells with number formats (SUM and charts work); ids stay text.
    assert tab[1][:7] == ["IO-1", "live", "007", datetime(2025, 1, 1), datetime(2099, 12, 31), 10000, 1500]
    assert len(tab) == 2
    cells = load_workbook(workbook)["hub_results"][2]
    assert [c.data_type for c in cells[:7]] == ["s", "s", "s", "d", "d", "n", "n"]
    assert (cells[3].number_format, cells[5].number_format) == ("yyyy-mm-dd", "#,##0")


@pytest.mark.parametrize("io_count", [10, 1000])
def test_gspread_results_tab_costs_the_same_calls_whatever_the_ios(database_url, service_account_file, io_count):
    from hub.sheets.results import write_results

    tenant = make_tenant(database_url, "acme")
    body = "io_id,flight_start,flight_end,episode_id,status\n" + "".join(
        f"IO-{n},2025-01-01,2025-01-31,ep-{n},live\n" for n in range(io_count))
    from tests.helpers import import_text

    assert import_text(database_url, tenant["id"], "io_bookings", body)["counts"]["inserted"] == io_count
    session = observer(database_url)
    create_import(session, tenant_id=tenant["id"], source="sheets", table_name="io_bookings", input_format="sheet_push",
                  payload=b"{}", context={"spreadsheet_id": SHEET, "sheet": "io_bookings"})
    register(session, tenant["id"], SHEET)  # results go only to a spreadsheet of the tenant's
    session.commit()
    with responses.RequestsMock() as wire:
        wire.add(responses.POST, TOKEN_URI, json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
        # spreadsheets.get with fields=sheets.properties.title (Sheets API v4 reference: Spreadsheet resource).
        wire.add(responses.GET, f"{SHEETS}/{SHEET}", json={"sheets": [{"properties": {"title": "io_bookings"}}]})
        wire.add(responses.POST, f"{SHEETS}/{SHEET}:batchUpdate", json={"spreadsheetId": SHEET, "replies": [{}]})
        wire.add(responses.POST, re.compile(rf"{SHEETS}/{SHEET}/values/.*:clear"),
                 json={"spreadsheetId": SHEET, "clearedRange": "hub_results!A1:Z1000"})
        wire.add(responses.PUT, re.compile(rf"{SHEETS}/{SHEET}/values/.*"),
                 json={"spreadsheetId": SHEET, "updatedRows": io_count + 1})
        written = write_results(session, GoogleSheetsTarget.from_service_account_file(service_account_file),
                                tenant["id"], datetime(2025, 1, 16).date())
        calls = [(c.request.method, c.request.url.split("?")[0].rsplit("/", 1)[-1]) for c in wire.calls
                 if c.request.url.startswith(SHEETS)]
        put = [c for c in wire.calls if c.request.method == "PUT"][0]
        batch = [c for c in wire.calls if c.request.url.split("?")[0].endswith(":batchUpdate")][0]
    session.close()
    assert written == io_count
    assert [m for m, _ in calls] == ["GET", "POST", "POST", "PUT"]  # tabs, addSheet + formats, clear, write
    assert "valueInputOption=RAW" in put.request.url
    sent = json.loads(put.request.body)["values"]
    # RAW JSON numbers: the count 0, the flight start 2025-01-01 as its day serial (45658).
    assert len(sent) == io_count + 1 and sent[0][0] == "io_id" and sent[1][6] == 0 and sent[1][3] == 45658
    added, *formats = json.loads(batch.request.body)["requests"]
    new_id = added["addSheet"]["properties"]["sheetId"]
    assert added["addSheet"]["properties"]["title"] == "hub_results"
    shown = {f["repeatCell"]["range"]["startColumnIndex"]: f["repeatCell"]["cell"]["userEnteredFormat"]["numberFormat"]
             for f in formats if "repeatCell" in f and f["repeatCell"]["range"]["sheetId"] == new_id}
    assert shown[3] == {"type": "DATE", "pattern": "yyyy-mm-dd"} and shown[6] == {"type": "NUMBER", "pattern": "#,##0"}


def test_matches_tab_lists_the_top_scores(acme_app, database_url):
    from hub.models import Match
    from hub.sheets.results import write_results
    from hub.sheets.targets import LocalWorkbookTarget

    app, workbook = acme_app
    push(app.test_client(), dict(FIXTURE_PUSH, push_id="p-matches"))
    session = observer(database_url)
    tenant_id = tenant_by_slug(session, "acme").id
    session.add_all([Match(tenant_id=tenant_id, advertiser_id="spon-a", podcast_id="pod-1", score=72.5, rationale="big audience"),
                     Match(tenant_id=tenant_id, advertiser_id="spon-b", podcast_id="pod-1", score=91.0, rationale="converts")])
    session.commit()
    write_results(session, LocalWorkbookTarget(str(workbook.parent)), tenant_id, datetime(2025, 1, 16).date())
    session.close()
    tab = read_tab(workbook, "matches")
    assert [row[:3] for row in tab] == [["advertiser_id", "podcast_id", "score"], ["spon-b", "pod-1", 91.0],
                                        ["spon-a", "pod-1", 72.5]]


def test_results_tab_keeps_text_that_looks_like_a_formula_as_text(database_url, tmp_path):
    from hub.sheets.results import write_results
    from tests.helpers import import_text

    tenant = make_tenant(database_url, "acme")
    body = "io_id,flight_start,flight_end,episode_id,booked_impressions,status\n=1+1,2025-01-01,2025-01-31,@ep,1000,live\n"
    assert import_text(database_url, tenant["id"], "io_bookings", body)["counts"]["inserted"] == 1
    session = observer(database_url)
    create_import(session, tenant_id=tenant["id"], source="sheets", table_name="io_bookings", input_format="sheet_push",
                  payload=b"{}", context={"spreadsheet_id": SHEET, "sheet": "io_bookings"})
    register(session, tenant["id"], SHEET)  # results go only to a spreadsheet of the tenant's
    session.commit()
    workbook = tmp_path / f"{SHEET}.xlsx"
    write_results(session, LocalWorkbookTarget(str(tmp_path)), tenant["id"], datetime(2025, 1, 16).date())
    session.close()
    cells = load_workbook(workbook)["hub_results"][2]
    assert (cells[0].value, cells[0].data_type) == ("=1+1", "s")
    assert (cells[2].value, cells[2].data_type) == ("@ep", "s")
    assert (cells[5].value, cells[5].data_type) == (1000, "n")


def test_ignored_columns_are_named_in_the_sheet_and_a_near_miss_refuses_every_row(acme_app):
    app, workbook = acme_app
    header = ["day", "episode_id", "source", "downloads", "notes"]
    make_workbook(workbook, "metrics_daily", [header, ["2025-01-06", "007", "manual", "12", "good week"]])
    push(app.test_client(), {"push_id": "p-notes", "spreadsheet_id": SHEET, "sheet": "metrics_daily", "header": header,
                             "rows": [{"row_number": 2, "values": ["2025-01-06", "007", "manual", "12", "good week"]}]})
    tab = read_tab(workbook, "metrics_daily")
    assert tab[1][tab[0].index("hub_status")] == "ok: inserted; ignored column 'notes'"

    typo = ["day", "episode_id", "source", "downlaods"]
    make_workbook(workbook, "metrics_daily", [typo, ["2025-01-07", "007", "manual", "12"]])
    push(app.test_client(), {"push_id": "p-typo", "spreadsheet_id": SHEET, "sheet": "metrics_daily", "header": typo,
                             "rows": [{"row_number": 2, "values": ["2025-01-07", "007", "manual", "12"]}]})
    tab = read_tab(workbook, "metrics_daily")
    assert tab[1][tab[0].index("hub_status")] == (
        "error: header: column 'downlaods' is not a column of metrics_daily; did you mean 'downloads'?")
