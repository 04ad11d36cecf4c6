"""Values the hub owns (an IO's status, a deal's stage) mirrored back into the sheet, and pushes that lag behind them."""
from __future__ import annotations

import json
from datetime import date

from openpyxl import load_workbook


from hub.models import SheetValue
from hub.sheets.local_push import workbook_push
from hub.tenants import set_secret, tenant_by_slug
from hub.workflows import io_lifecycle
from hub.workflows.deals import move_stage
from tests.conftest import SECRET_KEY
from tests.helpers import import_text, messages, observer, rows
from tests.test_sheets_webhook import sign
from tests.test_writeback import FIXTURE, acme_app, make_workbook, read_tab  # noqa: F401 (acme_app is a fixture)

IO_HEADER = ["io_id", "flight_start", "flight_end", "episode_id", "status"]


def push_tab(client, workbook, tab: str) -> dict:
    """Push what the tab shows now, as the Apps Script would; returns the import's outcome per row."""
    text = json.dumps(workbook_push(str(workbook), tab, spreadsheet_id=workbook.stem))  # the file is the spreadsheet
    accepted = client.post("/webhooks/sheets/acme", data=text, headers=sign(FIXTURE["secret"], text))
    assert accepted.status_code == 202, accepted.get_json()
    import_id = accepted.get_json()["import_id"]
    status = client.get(f"/webhooks/sheets/acme/imports/{import_id}", headers=sign(FIXTURE["secret"], import_id))
    return status.get_json()["row_outcomes"]


def column(workbook, tab: str, name: str) -> list:
    table = read_tab(workbook, tab)
    at = table[0].index(name)
    return [row[at] for row in table[1:]]


def edit(workbook, tab: str, row: int, name: str, value: str) -> None:
    book = load_workbook(workbook)
    sheet = book[tab]
    header = [cell.value for cell in sheet[1]]
    sheet.cell(row=row, column=header.index(name) + 1).value = value
    book.save(workbook)


def complete_without_mirror(database_url) -> list[str]:
    """The lifecycle completes the ended flights, and the sheet is not told (a failed or pending write-back)."""
    session = observer(database_url)
    try:
        completed = io_lifecycle.refresh_delivery(session, acme_id(database_url), date(2025, 3, 1))
        session.commit()
        return completed
    finally:
        session.close()


def test_ios_the_lifecycle_completes_get_completed_in_the_sheet(acme_app):
    app, workbook = acme_app
    make_workbook(workbook, "io_bookings", [IO_HEADER,
                                            ["IO-1", "2025-01-01", "2025-01-31", "007", "live"],
                                            ["IO-2", "2025-01-01", "2025-01-31", "008", "live"],
                                            ["IO-3", "2025-01-01", "2099-12-31", "009", "live"]])
    client = app.test_client()
    assert push_tab(client, workbook, "io_bookings") == {"2": "inserted", "3": "inserted", "4": "inserted"}
    edit(workbook, "io_bookings", 3, "status", "cancelled")  # typed by a person, not pushed yet
    book = load_workbook(workbook)
    metrics = book.create_sheet("metrics_daily")
    metrics.append(["day", "episode_id", "source", "downloads"])
    metrics.append(["2025-01-06", "007", "buzzsprout", "10"])
    book.save(workbook)

    assert push_tab(client, workbook, "metrics_daily") == {"2": "inserted"}  # then the flights that ended complete
    assert column(workbook, "io_bookings", "status") == ["completed", "cancelled", "live"], \
        "the hub's value where the cell still showed the old one; the person's edit is left to their push"
    assert column(workbook, "io_bookings", "hub_status") == ["ok: inserted"] * 3

    again = push_tab(client, workbook, "io_bookings")
    assert again["2"] == "unchanged"
    assert again["3"].startswith("error: row 3, status: cannot move an IO from completed to cancelled")
    assert again["4"] == "unchanged"


def test_a_push_still_carrying_the_last_status_is_no_move_and_gets_the_hubs_value(acme_app, database_url):
    app, workbook = acme_app
    make_workbook(workbook, "io_bookings", [IO_HEADER, ["IO-1", "2025-01-01", "2025-01-31", "007", "live"]])
    client = app.test_client()
    push_tab(client, workbook, "io_bookings")
    assert complete_without_mirror(database_url) == ["IO-1"]

    lagging = push_tab(client, workbook, "io_bookings")  # the sheet still says live, as it did
    assert lagging == {"2": "unchanged (status is completed: flight ended 2025-01-31)"}
    assert column(workbook, "io_bookings", "hub_status") == ["ok: unchanged (status is completed: flight ended 2025-01-31)"]
    assert column(workbook, "io_bookings", "status") == ["completed"], "written back with the row's status"
    assert [(v.row_key, v.value, v.origin) for v in rows(database_url, SheetValue)] == [("IO-1", "completed", "written")]

    edit(workbook, "io_bookings", 2, "status", "live")  # now a person really moves it back
    refused = push_tab(client, workbook, "io_bookings")
    assert refused == {"2": "error: row 2, status: cannot move an IO from completed to live; "
                            "from completed it can move to nothing: it is final"}
    assert column(workbook, "io_bookings", "status") == ["live"], "a refused edit is the person's to fix"
    assert push_tab(client, workbook, "io_bookings")["2"].startswith("error: row 2, status: cannot move"), \
        "and stays refused however often it is pushed"


def test_files_and_zaps_carrying_a_stale_status_are_still_refused(acme_app, database_url):
    """Only sheet rows are remembered: a CSV cannot be written back, so what it says is taken as meant."""
    app, workbook = acme_app
    make_workbook(workbook, "io_bookings", [IO_HEADER, ["IO-1", "2025-01-01", "2025-01-31", "007", "live"]])
    push_tab(app.test_client(), workbook, "io_bookings")
    complete_without_mirror(database_url)
    summary = import_text(database_url, acme_id(database_url), "io_bookings",
                          "io_id,flight_start,flight_end,episode_id,status\nIO-1,2025-01-01,2025-01-31,007,live\n",
                          source="upload")
    assert messages(summary) == ["row 2, status: cannot move an IO from completed to live; "
                                 "from completed it can move to nothing: it is final"]
    assert [v.value for v in rows(database_url, SheetValue)] == ["live"], "a file does not change what the sheet holds"


def test_a_deal_moved_through_the_api_gets_its_stage_in_the_sheet(acme_app, database_url):
    app, workbook = acme_app
    make_workbook(workbook, "deals", [["campaign_id", "name", "stage"],
                                      ["camp-1", "Acme Q1", "negotiation"], ["camp-2", "Globex", "proposal"]])
    client = app.test_client()
    assert push_tab(client, workbook, "deals") == {"2": "inserted", "3": "inserted"}
    token = {"Authorization": "Bearer " + _api_token(database_url)}
    assert client.patch("/api/v1/deals/camp-1/stage", json={"stage": "won"}, headers=token).status_code == 200
    assert column(workbook, "deals", "stage") == ["won", "proposal"]
    assert push_tab(client, workbook, "deals") == {"2": "unchanged", "3": "unchanged"}

    session = observer(database_url)
    move_stage(session, acme_id(database_url), "camp-2", "lost")  # moved while the sheet was not told
    session.commit()
    session.close()
    lagging = push_tab(client, workbook, "deals")
    assert lagging["3"].startswith("unchanged (stage is lost: moved in the hub on ")
    assert column(workbook, "deals", "stage") == ["won", "lost"]
    edit(workbook, "deals", 3, "stage", "proposal")
    assert push_tab(client, workbook, "deals")["3"] == (
        "error: row 3, stage: cannot move deal camp-2 from lost to proposal; lost is final")


def _api_token(database_url) -> str:
    session = observer(database_url)
    try:
        set_secret(session, tenant_by_slug(session, "acme"), "api", "acme-api-token-for-mirror-tests", SECRET_KEY)
        session.commit()
        return "acme-api-token-for-mirror-tests"
    finally:
        session.close()


def acme_id(database_url) -> int:
    session = observer(database_url)
    try:
        return tenant_by_slug(session, "acme").id
    finally:
        session.close()
