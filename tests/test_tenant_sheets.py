"""Spreadsheets belong to one tenant (hub/sheets/ownership.py): a signed push naming another tenant's
spreadsheet is refused and nothing is read from or written to that sheet, at the Google wire and in
the local workbooks; write-back, hub_results and matches only go to the tenant's own spreadsheets."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import responses

from hub import create_app
from hub.config import load_settings
from hub.jobs.writeback import execute_results, execute_write_back
from hub.models import EtlImport, Tenant, TenantSpreadsheet
from hub.ingest.intake import create_import
from hub.sheets.local_push import local_spreadsheet_id, workbook_push
from hub.sheets.ownership import SpreadsheetRefused, register
from hub.tenants import set_secret
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import observer, rows
from tests.test_sheets_webhook import sign
from tests.test_writeback import SHEETS, TOKEN_URI, make_workbook, read_tab, service_account_file  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
ALPHA_SHEET = "1AaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAa"
BETA_SHEET = "1BbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBbBb"
NOBODYS_SHEET = "1CcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCcCc"
METRICS_HEADER = ["day", "episode_id", "source", "downloads"]


def tenant_with_sheets_secret(url: str, slug: str) -> dict:
    made = make_tenant(url, slug)
    session = observer(url)
    set_secret(session, session.get(Tenant, made["id"]), "sheets", f"{slug}-sheets-secret", SECRET_KEY)
    session.commit()
    session.close()
    return made


def push_body(spreadsheet_id: str, push_id: str, downloads: str = "100") -> str:
    return json.dumps({"push_id": push_id, "spreadsheet_id": spreadsheet_id, "sheet": "metrics_daily",
                       "header": METRICS_HEADER,
                       "rows": [{"row_number": 2, "values": ["2025-01-06", "007", "manual", downloads]}]})


def post_push(client, slug: str, body: str):
    return client.post(f"/webhooks/sheets/{slug}", data=body, headers=sign(f"{slug}-sheets-secret", body))


def registered(url: str) -> dict[str, int]:
    return {s.spreadsheet_id: s.tenant_id for s in rows(url, TenantSpreadsheet)}


def test_a_tenants_first_push_binds_its_spreadsheet_and_a_second_needs_the_operator(database_url):
    alpha = tenant_with_sheets_secret(database_url, "alpha")
    client = create_app({"database_url": database_url, "redis_url": None, "workbook_dir": "/nonexistent"}).test_client()
    # No write-back target can be reached (no such folder): binding happens before anything is written.
    first = post_push(client, "alpha", push_body(ALPHA_SHEET, "p1"))
    assert first.status_code == 202, first.get_json()
    assert registered(database_url) == {ALPHA_SHEET: alpha["id"]}

    second = post_push(client, "alpha", push_body(NOBODYS_SHEET, "p2"))
    assert second.status_code == 403
    assert second.get_json()["error"] == (
        f"spreadsheet {NOBODYS_SHEET} is not registered to this tenant: an operator registers it with "
        f"'python -m hub tenant add-sheet alpha {NOBODYS_SHEET}'")
    with pytest.raises(ValueError, match="spreadsheet_id: expected"):
        session = observer(database_url)
        try:
            register(session, alpha["id"], "../../etc/passwd")
        finally:
            session.close()
    traversal = post_push(client, "alpha", push_body("../workbook-beta", "p3"))
    assert traversal.status_code == 422 and "spreadsheet_id: expected" in traversal.get_json()["error"]
    assert [imp.context["spreadsheet_id"] for imp in rows(database_url, EtlImport)] == [ALPHA_SHEET]


def test_a_push_naming_another_tenants_spreadsheet_is_refused_before_google_is_called(
        database_url, service_account_file):  # noqa: F811 (a fixture)
    alpha = tenant_with_sheets_secret(database_url, "alpha")
    beta = tenant_with_sheets_secret(database_url, "beta")
    session = observer(database_url)
    register(session, alpha["id"], ALPHA_SHEET)
    register(session, beta["id"], BETA_SHEET)
    session.commit()
    session.close()
    app = create_app({"database_url": database_url, "redis_url": None,
                      "google_service_account_file": str(service_account_file)})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        # Nothing is registered at the wire: any call to Google (token, read, write) would fail the push.
        refused = post_push(app.test_client(), "alpha", push_body(BETA_SHEET, "p-steal"))
        nobodys = post_push(app.test_client(), "alpha", push_body(NOBODYS_SHEET, "p-other"))
        assert len(wire.calls) == 0
    assert refused.status_code == 403
    message = refused.get_json()["error"]
    assert "beta" not in message and str(beta["id"]) not in message.replace(BETA_SHEET, "")
    # Another tenant's spreadsheet and nobody's are refused in the same words: no way to tell them apart.
    assert message.replace(BETA_SHEET, "X") == nobodys.get_json()["error"].replace(NOBODYS_SHEET, "X")
    assert rows(database_url, EtlImport) == []


def test_results_and_write_back_go_only_to_the_tenants_own_spreadsheets_at_the_wire(
        database_url, service_account_file, hub_env):  # noqa: F811 (a fixture)
    """The leak of issue 16: alpha's import that names beta's spreadsheet (as one accepted before the fix
    would) makes neither write-back nor alpha's hourly hub_results refresh touch beta's sheet."""
    alpha = tenant_with_sheets_secret(database_url, "alpha")
    beta = tenant_with_sheets_secret(database_url, "beta")
    session = observer(database_url)
    register(session, alpha["id"], ALPHA_SHEET)
    register(session, beta["id"], BETA_SHEET)
    legacy, _ = create_import(session, tenant_id=alpha["id"], source="sheets", table_name="metrics_daily",
                              input_format="sheet_push", payload=push_body(BETA_SHEET, "old").encode(),
                              context={"spreadsheet_id": BETA_SHEET, "sheet": "metrics_daily"})
    legacy.status = "completed"
    session.commit()
    legacy_id = legacy.id
    session.close()
    hub_env(database_url, HUB_GOOGLE_SERVICE_ACCOUNT_FILE=str(service_account_file))
    settings = load_settings()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        wire.add(responses.POST, TOKEN_URI, json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
        # Only alpha's spreadsheet answers (Sheets API v4: spreadsheets.get, batchUpdate, values.clear, values.update).
        wire.add(responses.GET, f"{SHEETS}/{ALPHA_SHEET}", json={"sheets": [{"properties": {"sheetId": 0, "title": "metrics_daily"}}]})
        wire.add(responses.POST, f"{SHEETS}/{ALPHA_SHEET}:batchUpdate", json={"spreadsheetId": ALPHA_SHEET, "replies": [{}]})
        wire.add(responses.POST, re.compile(rf"{SHEETS}/{ALPHA_SHEET}/values/.*:clear"),
                 json={"spreadsheetId": ALPHA_SHEET, "clearedRange": "hub_results!A1:Z1000"})
        wire.add(responses.PUT, re.compile(rf"{SHEETS}/{ALPHA_SHEET}/values/.*"),
                 json={"spreadsheetId": ALPHA_SHEET, "updatedRows": 1})
        with pytest.raises(SpreadsheetRefused, match="nothing was read or written"):
            execute_write_back(settings, legacy_id)
        assert execute_results(settings, alpha["id"]) == 0
        touched = {call.request.url.split("/spreadsheets/")[1].split("/")[0].split(":")[0].split("?")[0]
                   for call in wire.calls if call.request.url.startswith(SHEETS)}
    assert touched == {ALPHA_SHEET}


def test_local_workbooks_one_file_per_tenant_and_a_push_naming_anothers_is_refused(database_url, tmp_path):
    alpha = tenant_with_sheets_secret(database_url, "alpha")
    tenant_with_sheets_secret(database_url, "beta")
    client = create_app({"database_url": database_url, "redis_url": None, "workbook_dir": str(tmp_path)}).test_client()
    books = {}
    for slug in ("alpha", "beta"):
        books[slug] = tmp_path / f"{local_spreadsheet_id(slug)}.xlsx"
        make_workbook(books[slug], "metrics_daily", [METRICS_HEADER, ["2025-01-06", "007", "manual", f"{len(slug)}00"]])
        body = json.dumps(workbook_push(str(books[slug]), "metrics_daily", local_spreadsheet_id(slug)))
        assert post_push(client, slug, body).status_code == 202
    assert read_tab(books["alpha"], "metrics_daily")[1][4] == "ok: inserted"
    assert read_tab(books["beta"], "metrics_daily")[1][4] == "ok: inserted"
    beta_before = books["beta"].read_bytes()

    stolen = json.dumps(workbook_push(str(books["alpha"]), "metrics_daily", local_spreadsheet_id("beta")))
    refused = post_push(client, "alpha", stolen)
    assert refused.status_code == 403 and "python -m hub tenant add-sheet alpha" in refused.get_json()["error"]
    assert books["beta"].read_bytes() == beta_before, "nothing was written into beta's workbook"
    assert {imp.tenant_id for imp in rows(database_url, EtlImport)
            if imp.context["spreadsheet_id"] == local_spreadsheet_id("beta")} != {alpha["id"]}
    assert sorted(p.name for p in tmp_path.glob("*.xlsx")) == ["workbook-alpha.xlsx", "workbook-beta.xlsx"]


def test_the_operator_registers_lists_and_removes_spreadsheets(database_url):
    make_tenant(database_url, "alpha")
    make_tenant(database_url, "beta")
    env = dict(os.environ, HUB_DATABASE_URL=database_url)

    def hub(*args):
        return subprocess.run([sys.executable, "-m", "hub", "tenant", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True)

    assert hub("add-sheet", "alpha", ALPHA_SHEET).stdout.strip() == f"spreadsheet {ALPHA_SHEET} registered to alpha"
    assert hub("add-sheet", "alpha", ALPHA_SHEET).stdout.strip() == f"spreadsheet {ALPHA_SHEET} was already registered to alpha"
    taken = hub("add-sheet", "beta", ALPHA_SHEET)
    assert taken.returncode == 1 and f"spreadsheet {ALPHA_SHEET} is registered to another tenant" in taken.stderr
    bad = hub("add-sheet", "beta", "a/b")
    assert bad.returncode == 1 and "spreadsheet_id: expected" in bad.stderr
    listed = hub("sheets", "alpha")
    assert listed.stdout.split("\t")[:2] == [ALPHA_SHEET, "cli"] and "never pushed" in listed.stdout
    assert hub("sheets", "beta").stdout == ""
    assert hub("remove-sheet", "alpha", ALPHA_SHEET).returncode == 0
    assert hub("add-sheet", "beta", ALPHA_SHEET).returncode == 0
    assert hub("remove-sheet", "alpha", ALPHA_SHEET).returncode == 1
