"""The sheets webhook, fed the exact request the Apps Script sends (tests/fixtures/appscript_push.json,
written by appscript/test/fixture.test.js), and every way a push can be refused."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest


from hub.db import make_session_factory
from hub.models import EtlImport, MetricsDaily
from hub.tenants import set_secret, tenant_by_slug
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import observer, rows
from webhooks import sheets

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "appscript_push.json").read_text())


@pytest.fixture
def acme(database_url):
    made = make_tenant(database_url, FIXTURE["tenant"])
    session = observer(database_url)
    set_secret(session, tenant_by_slug(session, FIXTURE["tenant"]), "sheets", FIXTURE["secret"], SECRET_KEY)
    session.commit()
    session.close()
    return made


@pytest.fixture
def at_fixture_time(monkeypatch):
    monkeypatch.setattr(sheets, "clock", lambda: int(FIXTURE["timestamp"]) + 30)


def replay(client, body=None, headers=None, tenant=None):
    return client.post(
        f"/webhooks/sheets/{tenant or FIXTURE['tenant']}",
        data=(body if body is not None else FIXTURE["body"]).encode(),
        headers=headers if headers is not None else FIXTURE["headers"],
    )


def sign(secret: str, body: str, timestamp: int | None = None) -> dict:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Timestamp": ts, "X-Hub-Signature-256": f"sha256={digest}"}


def test_the_scripts_own_push_lands_its_rows(client, database_url, acme, at_fixture_time):
    response = replay(client)
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert accepted["status"] == "completed" and accepted["replayed"] is False

    stored = {r.episode_id: r for r in rows(database_url, MetricsDaily)}
    assert sorted(stored) == ["007", "008", "ep-0042"]
    assert (stored["007"].downloads, stored["007"].completion_rate, stored["007"].revenue_cents) == (1204, 0.85, 11996)
    assert stored["ep-0042"].completion_rate == 0.775

    session = observer(database_url)
    imp = session.get(EtlImport, accepted["import_id"])
    assert imp.row_outcomes == {"2": "inserted", "3": "inserted", "4": "inserted"}
    assert imp.context["spreadsheet_id"] == "1FixtureSpreadsheetId_acme_metrics"
    session.close()


def test_same_push_id_answers_the_same_import_and_processes_nothing_twice(client, database_url, acme, at_fixture_time):
    first = replay(client).get_json()
    second = replay(client)
    assert second.status_code == 202
    assert second.get_json()["import_id"] == first["import_id"] and second.get_json()["replayed"] is True
    session = observer(database_url)
    assert session.query(EtlImport).count() == 1
    session.close()


def test_wrong_signature_is_refused(client, acme, at_fixture_time):
    headers = dict(FIXTURE["headers"], **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    response = replay(client, headers=headers)
    assert response.status_code == 401
    assert "does not match the body" in response.get_json()["error"]


def test_tampered_body_is_refused(client, acme, at_fixture_time):
    response = replay(client, body=FIXTURE["body"].replace("1,204", "9,999"))
    assert response.status_code == 401


def test_stale_timestamp_is_refused(client, acme, monkeypatch):
    monkeypatch.setattr(sheets, "clock", lambda: int(FIXTURE["timestamp"]) + 301)
    response = replay(client)
    assert response.status_code == 401
    assert response.get_json()["error"].startswith("X-Hub-Timestamp is 301 seconds old")


def test_missing_headers_are_named(client, acme, at_fixture_time):
    response = replay(client, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert "missing X-Hub-Timestamp" in response.get_json()["error"]


def test_another_tenants_secret_never_writes_this_tenants_rows(client, database_url, acme):
    other = make_tenant(database_url, "globex")
    body = FIXTURE["body"]
    # Signed with globex's own secret, sent to acme's URL: refused.
    response = replay(client, body=body, headers=sign(other["secrets"]["sheets"], body))
    assert response.status_code == 401
    # Signed with acme's secret, sent to globex's URL: refused too.
    response = replay(client, body=body, headers=sign(FIXTURE["secret"], body), tenant="globex")
    assert response.status_code == 401
    assert rows(database_url, MetricsDaily) == []


def test_unknown_tenant_is_refused_without_saying_more(client, acme):
    response = replay(client, headers=sign(FIXTURE["secret"], FIXTURE["body"]), tenant="nobody")
    assert response.status_code == 401


def test_oversized_push_gives_413(database_url, acme):
    from hub import create_app

    client = create_app({"database_url": database_url, "max_webhook_bytes": 500}).test_client()
    response = replay(client, headers=sign(FIXTURE["secret"], FIXTURE["body"]))
    assert response.status_code == 413
    assert "limit is 500 bytes" in response.get_json()["error"]


def test_the_webhook_signer_is_the_tenant_its_secret_and_its_own_limits(database_url):
    from hub.quotas import set_quota
    from hub.tenants import webhook_signer

    made = make_tenant(database_url, "signer-one")
    session = observer(database_url)
    tenant = tenant_by_slug(session, "signer-one")
    tenant.locale = "de-DE"
    set_quota(session, made["id"], "rows_per_day", 1234)
    session.commit()
    session.close()

    session = make_session_factory(database_url)()
    signer = webhook_signer(session, "signer-one", "sheets", SECRET_KEY)
    assert (signer.tenant_id, signer.slug, signer.locale, signer.secret, signer.quota_limits) == (
        made["id"], "signer-one", "de-DE", made["secrets"]["sheets"], {"rows_per_day": 1234})
    # A source the tenant has no secret for, and a tenant that does not exist, look the same.
    assert webhook_signer(session, "signer-one", "shopify", SECRET_KEY) is None
    assert webhook_signer(session, "signer-two", "sheets", SECRET_KEY) is None
    set_secret(session, tenant_by_slug(session, "signer-one"), "shopify", "shpss_x", SECRET_KEY)
    session.commit()
    assert webhook_signer(session, "signer-one", "shopify", SECRET_KEY).secret == "shpss_x"
    session.close()


def test_a_pushs_stored_bytes_are_compressed_with_lz4(postgres_url):
    """Migration 0025: the payload's INSERT is on the ack's path, and lz4 compresses faster than pglz."""
    from sqlalchemy import text

    from hub import create_app

    made = make_tenant(postgres_url)
    push = json.loads(FIXTURE["body"])
    push["rows"] = [{"row_number": n, "values": ["2025-01-01", "pod-1", f"ep-{n}", "apple", "1204"]}
                    for n in range(2, 402)]
    push["header"] = ["day", "podcast_id", "episode_id", "source", "downloads"]
    body = json.dumps(push)
    client = create_app({"database_url": postgres_url, "redis_url": None}).test_client()
    response = client.post(f"/webhooks/sheets/{made['slug']}", data=body.encode(), headers=sign(made["secrets"]["sheets"], body))
    assert response.status_code == 202, response.get_json()

    session = observer(postgres_url)
    stored = session.execute(text("SELECT pg_column_compression(data), octet_length(data) FROM etl_import_chunks")).all()
    session.close()
    assert stored == [("lz4", len(body.encode()))]


@pytest.mark.parametrize("body, status, fragment", [
    ("{not json", 400, "body is not valid JSON"),
    ('{"push_id": "p1", "sheet": "Sheet1", "header": [], "rows": []}', 422, "sheet 'Sheet1' is not a table the hub imports"),
    ('{"sheet": "metrics_daily", "header": [], "rows": []}', 422, "push_id: expected a non-empty string"),
    ('{"push_id": "p2", "sheet": "metrics_daily", "header": "day", "rows": []}', 422, "expected 'header'"),
])
def test_malformed_pushes_name_the_problem(client, acme, body, status, fragment):
    response = replay(client, body=body, headers=sign(FIXTURE["secret"], body))
    assert response.status_code == status
    assert fragment in response.get_json()["error"]


def test_push_with_a_bad_row_reports_it_per_row(client, database_url, acme):
    push = {"push_id": "p-bad", "spreadsheet_id": "s", "sheet": "io_bookings",
            "header": ["io_id", "flight_start", "flight_end", "status"],
            "rows": [{"row_number": 5, "values": ["IO-1", "2025-02-01", "2025-01-01", "live"]},
                     {"row_number": 6, "values": ["IO-2", "2025-01-01", "2025-01-31", "live"]}]}
    body = json.dumps(push)
    accepted = replay(client, body=body, headers=sign(FIXTURE["secret"], body)).get_json()
    session = observer(database_url)
    imp = session.get(EtlImport, accepted["import_id"])
    assert imp.row_outcomes == {
        "5": "error: row 5, flight_end: 2025-01-01 is before flight_start 2025-02-01",
        "6": "inserted",
    }
    session.close()
