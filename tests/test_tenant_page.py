"""`/tenant`: sign in with the tenant's API token, upload a file, see the outcome and the refused rows,
and the dashboards drawn as SVG on the server; only the signed-in tenant's data, no script."""
from __future__ import annotations

import io
import re

from tests.conftest import make_tenant
from tests.helpers import import_text
from tests.test_status_page import csrf_from

CSV = ("day,episode_id,podcast_id,source,downloads\n"
       "2025-01-06,ep-<b>1</b>,pod-1,manual,100\n"
       "2025-01-07,ep-2,pod-1,manual,lots\n")


def sign_in(client, token: str):
    form = client.get("/tenant/login")
    return client.post("/tenant/login", data={"token": token, "csrf_token": csrf_from(form.text)})


def test_sign_in_upload_outcome_and_refused_rows(client, tenant):
    assert client.get("/tenant").headers["Location"].endswith("/tenant/login")
    assert sign_in(client, "not-a-token").status_code == 401
    assert sign_in(client, tenant["secrets"]["api"]).headers["Location"].endswith("/tenant")
    page = client.get("/tenant")
    assert page.status_code == 200 and "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    sent = client.post("/tenant/upload", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page.text), "table": "metrics_daily", "locale": "en-US",
        "file": (io.BytesIO(CSV.encode()), "week.csv")})
    outcome = client.get(sent.headers["Location"])
    assert re.search(r'id="outcome-counts">2 rows: 1 inserted, 0 updated,\s+0 unchanged, 1 refused', outcome.text)
    assert "row 3, downloads:" in outcome.text
    refused = client.get(re.search(r'id="refused-csv" href="([^"]+)"', outcome.text).group(1))
    assert refused.status_code == 200 and "lots" in refused.get_data(as_text=True)
    forged = client.post("/tenant/upload", content_type="multipart/form-data", data={
        "csrf_token": "forged", "table": "metrics_daily", "file": (io.BytesIO(CSV.encode()), "again.csv")})
    assert "CSRF" in client.get(forged.headers["Location"]).text


def test_the_dashboards_are_svg_of_this_tenant_only_and_escape_its_text(client, database_url, tenant):
    from datetime import date, timedelta

    other = make_tenant(database_url, "other")
    yesterday = date.today() - timedelta(days=1)
    import_text(database_url, tenant["id"], "metrics_daily",
                f"day,episode_id,podcast_id,source,downloads\n{yesterday},ep-<b>1</b>,pod-1,manual,321\n")
    import_text(database_url, other["id"], "metrics_daily",
                f"day,episode_id,podcast_id,source,downloads\n{yesterday},secret-ep,pod-9,manual,999\n")
    sign_in(client, tenant["secrets"]["api"])
    page = client.get("/tenant").text
    bars = dict(re.findall(r'data-day="([\d-]+)" data-value="(\d+)"', page.split('data-chart="conversions"')[0]))
    assert bars[yesterday.isoformat()] == "321"
    assert 'data-chart="heatmap"' in page and "ep-&lt;b&gt;1&lt;/b&gt;" in page and "<b>1</b>" not in page
    assert "secret-ep" not in page and "999" not in page


def test_another_tenants_import_is_not_found_on_the_page(client, database_url, tenant):
    other = make_tenant(database_url, "other")
    theirs = import_text(database_url, other["id"], "metrics_daily", CSV)
    sign_in(client, tenant["secrets"]["api"])
    assert client.get(f"/tenant/imports/{theirs['import_id']}").status_code == 404
    assert client.get(f"/tenant/imports/{theirs['import_id']}/refused.csv").status_code == 404


def test_a_file_past_the_json_body_limit_is_taken_like_the_apis_upload(client, tenant):
    """The page's upload has the upload limit (HUB_MAX_UPLOAD_BYTES), not the 1 MiB of other endpoints."""
    sign_in(client, tenant["secrets"]["api"])
    page = client.get("/tenant")
    rows = "".join(f"2025-01-{d % 28 + 1:02d},ep-{n},pod-1,manual,{n}\n" for n in range(30_000) for d in (n,))
    body = ("day,episode_id,podcast_id,source,downloads\n" + rows).encode()
    assert len(body) > 1_048_576
    sent = client.post("/tenant/upload", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page.text), "table": "metrics_daily", "locale": "en-US",
        "file": (io.BytesIO(body), "month.csv")})
    assert sent.status_code == 302 and "/tenant/imports/" in sent.headers["Location"]
    outcome = client.get(sent.headers["Location"])
    assert re.search(r'id="outcome-counts">30000 rows: 30000 inserted', outcome.text)
