"""An import's refused rows as a file to fix and upload again (hub/ingest/refused_rows.py): the API and the
admin page, CSV and XLSX, the row as it was sent with an `error` column, and no formula on the way."""
from __future__ import annotations

import csv
import io
import os

from openpyxl import load_workbook

from tests.helpers import upload_csv

BODY = ("episode_id,day,source,downloads,podcast_id\n"
        "ep-1,2025-01-06,manual,100,pod-1\n"
        "ep-2,2025-01-06,manual,lots,pod-1\n"           # row 3: downloads
        "=HYPERLINK(\"http://x\"),2025-01-07,manual,-5,pod-1\n"   # row 4: negative downloads; id looks like a formula
        "ep-4,not a day,manual,7,pod-1\n")              # row 5: day


def test_refused_rows_download_fix_and_upload_again(client, tenant):
    token = tenant["secrets"]["api"]
    auth = {"Authorization": f"Bearer {token}"}
    first = upload_csv(client, token, BODY)
    counts = client.get(first["status_url"], headers=auth).get_json()["counts"]
    assert (counts["inserted"], counts["refused"]) == (1, 3)

    answer = client.get(f"/api/v1/etl/imports/{first['import_id']}/refused", headers=auth)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert f'refused-{first["import_id"]}.csv' in answer.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    # The input's own column order, then what to fix.
    assert table[0] == ["episode_id", "day", "source", "downloads", "podcast_id", "error"]
    assert [row[0] for row in table[1:]] == ["ep-2", "'=HYPERLINK(\"http://x\")", "ep-4"]
    assert table[1][5].startswith("row 3, downloads:") and table[3][5].startswith("row 5, day:")
    assert table[2][3] == "-5", "a plain negative number is left as it is"

    # The person fixes the cells the errors name, drops the error column and sends the file again.
    fixed = [row[:5] for row in table]
    fixed[1][3], fixed[2][0], fixed[2][3], fixed[3][1] = "250", "ep-3", "5", "2025-01-08"
    out = io.StringIO()
    csv.writer(out).writerows(fixed)
    again = client.get(upload_csv(client, token, out.getvalue())["status_url"], headers=auth).get_json()
    assert (again["counts"]["inserted"], again["counts"]["refused"]) == (3, 0), again["row_errors"]


def test_refused_rows_as_xlsx_keep_text_as_text(client, tenant):
    token = tenant["secrets"]["api"]
    auth = {"Authorization": f"Bearer {token}"}
    first = upload_csv(client, token, BODY)
    answer = client.get(f"/api/v1/etl/imports/{first['import_id']}/refused?format=xlsx", headers=auth)
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.get_data()))["refused rows"]
    cell = sheet["A3"]
    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://x")', "s"), "stored as text, never a formula"
    assert sheet["F2"].value.startswith("row 3, downloads:")
    assert client.get(f"/api/v1/etl/imports/{first['import_id']}/refused?format=pdf",
                      headers=auth).status_code == 422


def test_another_tenants_refused_rows_are_not_found_and_the_admin_page_links_them(client, tenant, database_url):
    from tests.conftest import make_tenant

    other = make_tenant(database_url, "other")
    first = upload_csv(client, tenant["secrets"]["api"], BODY)
    stranger = client.get(f"/api/v1/etl/imports/{first['import_id']}/refused",
                          headers={"Authorization": f"Bearer {other['secrets']['api']}"})
    assert stranger.status_code == 404

    admin = {"Authorization": f"Bearer {os.environ['HUB_ADMIN_TOKEN']}"}
    page = client.get(f"/admin/imports/{first['import_id']}", headers=admin).get_data(as_text=True)
    assert f"/admin/imports/{first['import_id']}/refused.csv" in page
    download = client.get(f"/admin/imports/{first['import_id']}/refused.xlsx", headers=admin)
    assert download.status_code == 200 and download.data[:2] == b"PK"
