"""The IO lifecycle: refused moves, io.scheduled, io.delivered exactly once, and the IO API."""
from __future__ import annotations

import io
import threading
from dataclasses import replace
from datetime import date

from openpyxl import load_workbook

from hub import create_app
from hub.config import FeatureFlags

from hub.models import Event, IoBooking
from hub.workflows.io_lifecycle import refresh_delivery
from tests.conftest import make_tenant
from tests.helpers import backend_pid, import_text, messages, observer, rows, wait_until_blocked_by

HEADER = "io_id,flight_start,flight_end,episode_id,booked_impressions,booked_cpm_cents,promo_code,status\n"


def ios(url, tenant, *lines):
    return import_text(url, tenant["id"], "io_bookings", HEADER + "".join(line + "\n" for line in lines))


def downloads(url, tenant, *day_counts, episode="ep-1"):
    body = "day,episode_id,source,downloads\n" + "".join(f"{d},{episode},buzzsprout,{n}\n" for d, n in day_counts)
    return import_text(url, tenant["id"], "metrics_daily", body)


def events(url, name):
    return [e for e in rows(url, Event, Event.created_at) if e.name == name]


def test_moves_follow_the_lifecycle_and_bad_ones_are_refused(database_url, tenant):
    ios(database_url, tenant, "IO-1,2025-01-01,2025-01-31,ep-1,1000,2500,A1,draft",
        "IO-2,2025-01-01,2025-01-31,ep-2,1000,2500,A2,completed")
    summary = ios(database_url, tenant, "IO-1,2025-01-01,2025-01-31,ep-1,1000,2500,A1,scheduled",
                  "IO-2,2025-01-01,2025-01-31,ep-2,1000,2500,A2,live")
    assert messages(summary) == [
        "row 3, status: cannot move an IO from completed to live; from completed it can move to nothing: it is final"]
    assert [(e.subject, e.payload["previous_status"]) for e in events(database_url, "io.scheduled")] == [("IO-1", "draft")]
    # The same rows again: nothing moves, nothing is emitted twice.
    ios(database_url, tenant, "IO-1,2025-01-01,2025-01-31,ep-1,1000,2500,A1,scheduled")
    assert len(events(database_url, "io.scheduled")) == 1
    summary = ios(database_url, tenant, "IO-1,2025-01-01,2025-01-31,ep-1,1000,2500,A1,draft")
    assert summary["counts"]["updated"] == 1, "scheduled can go back to draft"
    assert events(database_url, "io.delivered") == [], "an IO loaded as completed is history, not a delivery"


def test_reaching_booked_impressions_completes_the_io_once(database_url, tenant):
    ios(database_url, tenant, "IO-1,2025-01-01,2025-12-31,ep-1,1000,2500,A1,live")
    session = observer(database_url)
    downloads(database_url, tenant, ("2025-01-05", 600), ("2024-12-31", 5000))   # the second is before the flight
    assert refresh_delivery(session, tenant["id"], date(2025, 1, 6)) == []
    session.commit()
    downloads(database_url, tenant, ("2025-01-06", 400))
    assert refresh_delivery(session, tenant["id"], date(2025, 1, 7)) == ["IO-1"]
    session.commit()
    assert refresh_delivery(session, tenant["id"], date(2025, 1, 8)) == []
    session.commit()
    session.close()
    (io_row,) = rows(database_url, IoBooking)
    assert (io_row.status, io_row.delivered_impressions) == ("completed", 1000)
    (delivered,) = events(database_url, "io.delivered")
    assert delivered.payload["delivered_impressions"] == 1000 and delivered.payload["reason"] == "booked impressions reached"


def test_a_flight_that_ends_completes_the_io(database_url, tenant):
    ios(database_url, tenant, "IO-1,2025-01-01,2025-01-31,ep-1,100000,2500,A1,scheduled")
    downloads(database_url, tenant, ("2025-01-10", 50))
    session = observer(database_url)
    assert refresh_delivery(session, tenant["id"], date(2025, 1, 31)) == []
    assert refresh_delivery(session, tenant["id"], date(2025, 2, 1)) == ["IO-1"]
    session.commit()
    session.close()
    (delivered,) = events(database_url, "io.delivered")
    assert delivered.payload == {**delivered.payload, "reason": "flight ended", "delivered_impressions": 50}


def test_two_concurrent_refreshes_emit_io_delivered_once(postgres_url):
    tenant = make_tenant(postgres_url)
    ios(postgres_url, tenant, "IO-1,2025-01-01,2025-01-31,ep-1,10,2500,A1,live")
    downloads(postgres_url, tenant, ("2025-01-05", 20))
    first, second = observer(postgres_url), observer(postgres_url)
    assert refresh_delivery(first, tenant["id"], date(2025, 1, 6)) == ["IO-1"]  # holds the row, not committed
    result = {}

    def racing():
        result["second"] = refresh_delivery(second, tenant["id"], date(2025, 1, 6))  # waits on the row lock
        second.commit()

    thread = threading.Thread(target=racing)
    holder = backend_pid(first)
    thread.start()
    wait_until_blocked_by(postgres_url, holder)  # the second waits on the row lock the first holds
    first.commit()
    thread.join(timeout=30)
    first.close(), second.close()
    assert result["second"] == []
    assert len(events(postgres_url, "io.delivered")) == 1


def test_metrics_import_job_completes_ios(client, database_url, tenant):
    ios(database_url, tenant, "IO-1,2025-01-01,2099-12-31,ep-1,100,2500,A1,live")
    body = "day,episode_id,source,downloads\n2025-01-05,ep-1,buzzsprout,150\n"
    response = client.post("/api/v1/etl/upload", data={"table": "metrics_daily", "file": (io.BytesIO(body.encode()), "m.csv")},
                           headers={"Authorization": f"Bearer {tenant['secrets']['api']}"}, content_type="multipart/form-data")
    assert response.status_code == 202
    (io_row,) = rows(database_url, IoBooking)
    assert io_row.status == "completed"
    assert len(events(database_url, "io.delivered")) == 1


def auth(tenant):
    return {"Authorization": f"Bearer {tenant['secrets']['api']}"}


def test_io_api_create_read_export(client, database_url, tenant):
    created = client.post("/api/v1/io", json={"io_id": "IO-9", "flight_start": "2025-01-01", "flight_end": "2025-01-10",
                                               "episode_id": "ep-9", "booked_impressions": "10,000", "booked_cpm": "25.00",
                                               "promo_code": "NINE", "status": "live"}, headers=auth(tenant))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["cost_cents"] == 25000  # 10,000 impressions at $25 CPM
    downloads(database_url, tenant, ("2025-01-02", 3000), episode="ep-9")
    import_text(database_url, tenant["id"], "conversions",
                '[{"order_id": "o1", "occurred_at": "2025-01-03", "revenue": "50.00", "currency": "USD", "promo_code": "nine"}]',
                input_format="records")
    summary = client.get("/api/v1/io/IO-9", headers=auth(tenant)).get_json()
    assert (summary["delivered_impressions"], summary["conversions"], summary["revenue_cents"], summary["cpa_cents"]) == (
        3000, 1, 5000, 25000)
    exported = client.get("/api/v1/io/IO-9/export", headers=auth(tenant))
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.data))["Insertion order"]
    assert sheet["A1"].value == "Insertion order IO-9"
    assert ("Total", "250.00 USD") in [(r[0], r[1]) for r in sheet.iter_rows(min_row=4, values_only=True)]


def test_io_api_refusals(client, database_url, tenant):
    bad = client.post("/api/v1/io", json={"io_id": "IO-1", "flight_start": "2025-02-01", "flight_end": "2025-01-01"},
                      headers=auth(tenant))
    assert bad.status_code == 422
    assert bad.get_json()["error"] == "row 1, flight_end: 2025-01-01 is before flight_start 2025-02-01"
    assert client.get("/api/v1/io/IO-404", headers=auth(tenant)).status_code == 404
    other = make_tenant(database_url, "globex")
    client.post("/api/v1/io", json={"io_id": "IO-2", "flight_start": "2025-01-01", "flight_end": "2025-01-02"}, headers=auth(tenant))
    assert client.get("/api/v1/io/IO-2", headers=auth(other)).status_code == 404


def test_io_api_flag_off(database_url, tenant):
    app = create_app({"database_url": database_url, "flags": replace(FeatureFlags(), io_bookings=False)})
    response = app.test_client().get("/api/v1/io/IO-1", headers=auth(tenant))
    assert response.status_code == 404
    assert "ENABLE_IO_BOOKINGS=false" in response.get_json()["error"]
