"""The ETL upload API: auth, flags, limits, and what a tenant may see."""
from __future__ import annotations

import io

from hub import create_app
from tests.conftest import make_tenant

CSV = "day,episode_id,source,downloads\n2025-01-06,007,buzzsprout,\"1,204\"\n2025-01-07,007,buzzsprout,oops\n"


def upload(client, token, body=CSV, table="metrics_daily", filename="m.csv", headers=None):
    return client.post(
        "/api/v1/etl/upload",
        data={"table": table, "file": (io.BytesIO(body.encode() if isinstance(body, str) else body), filename)},
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        content_type="multipart/form-data",
    )


def test_upload_runs_inline_and_reports_status(client, tenant):
    token = tenant["secrets"]["api"]
    response = upload(client, token)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "completed_with_errors"  # no Redis configured: the job ran inline
    assert body["status_url"].endswith(f"/api/v1/etl/status/{body['import_id']}")

    status = client.get(f"/api/v1/etl/status/{body['import_id']}", headers={"Authorization": f"Bearer {token}"})
    summary = status.get_json()
    assert summary["counts"] == {"rows": 2, "inserted": 1, "updated": 0, "unchanged": 0, "refused": 1}
    assert summary["row_errors"][0]["message"] == "row 3, downloads: expected a whole number >= 0, found 'oops'"
    assert summary["row_errors"][0]["raw"] == {"day": "2025-01-07", "episode_id": "007", "source": "buzzsprout", "downloads": "oops"}

    history = client.get("/api/v1/etl/history", headers={"X-Hub-Token": token}).get_json()
    assert [item["import_id"] for item in history["imports"]] == [body["import_id"]]


def test_workbook_upload(client, tenant):
    with open("samples/hub_samples.xlsx", "rb") as handle:
        response = upload(client, tenant["secrets"]["api"], body=handle.read(), table="io_bookings", filename="book.xlsx")
    assert response.status_code == 202
    assert response.get_json()["status"] == "completed"


def test_auth_is_required_and_checked(client, tenant):
    assert upload(client, "").status_code == 401
    wrong = upload(client, "not-a-token")
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid api token"
    # The sheets secret is not an API token.
    assert upload(client, tenant["secrets"]["sheets"]).status_code == 401


def test_other_tenants_imports_are_invisible(client, database_url, tenant):
    other = make_tenant(database_url, "globex")
    import_id = upload(client, tenant["secrets"]["api"]).get_json()["import_id"]
    seen = client.get(f"/api/v1/etl/status/{import_id}", headers={"Authorization": f"Bearer {other['secrets']['api']}"})
    assert seen.status_code == 404
    history = client.get("/api/v1/etl/history", headers={"Authorization": f"Bearer {other['secrets']['api']}"})
    assert history.get_json()["imports"] == []


def test_bad_requests_say_what_is_wrong(client, tenant):
    token = tenant["secrets"]["api"]
    assert upload(client, token, table="nope").get_json()["error"] == (
        "form field 'table': expected one of metrics_daily, io_bookings, conversions, deals, podcasts, episodes, "
        "found 'nope'")
    assert upload(client, token, filename="m.pdf").get_json()["error"] == "file 'm.pdf': expected a .csv, .xlsx or .ods file"


def test_idempotency_key_makes_a_retried_upload_the_same_import(client, tenant):
    token = tenant["secrets"]["api"]
    first = upload(client, token, headers={"Idempotency-Key": "k-1"}).get_json()
    second = upload(client, token, headers={"Idempotency-Key": "k-1"}).get_json()
    assert first["import_id"] == second["import_id"]


def test_upload_size_limit_gives_413(database_url, tenant):
    app = create_app({"database_url": database_url, "max_upload_bytes": 1000, "max_webhook_bytes": 1000})
    response = upload(app.test_client(), tenant["secrets"]["api"], body="x" * 5000)
    assert response.status_code == 413
    assert "limit of 1000 bytes" in response.get_json()["error"]


def test_flag_off_answers_404_with_the_reason(database_url, tenant):
    from dataclasses import replace

    from hub.config import FeatureFlags

    app = create_app({"database_url": database_url, "flags": replace(FeatureFlags(), etl_csv_upload=False)})
    response = upload(app.test_client(), tenant["secrets"]["api"])
    assert response.status_code == 404
    assert "ENABLE_ETL_CSV_UPLOAD=false" in response.get_json()["error"]
