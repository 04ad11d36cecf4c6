"""A data error is a row error, never an import failure: hostile values through a real worker, values
the database refuses after validation, and undecodable bytes deep in a CSV."""
from __future__ import annotations

import io
import json

import pytest

from hub import create_app
from hub.ingest import bounds
from hub.ingest.summary import import_summary

from hub.models import EtlImport, EtlRowError, IoBooking, MetricsDaily
from tests.helpers import import_text, load_import, messages, observer, rows, upload_csv, work

HEADER = "day,episode_id,source,podcast_id,downloads,revenue\n"
INT64_MAX = 9223372036854775807


def good(day: int) -> str:
    return f"2025-01-{day:02d},ep,csv,pod,{day},1.50\n"


# Each poison row, and the words its row error must carry (column, expected, found).
POISON = [
    ("2025-02-01,ep,csv,pod,100000000000000000000,1", "downloads",
     f"expected a whole number up to {INT64_MAX}, found '100000000000000000000'"),
    ("2025-02-02,ep,csv,pod," + "7" * 5000 + ",1", "downloads",
     "expected a number of at most 40 characters, found '7777"),
    ("2025-02-03,ep,csv,pod,1,1e999999", "revenue",
     "expected an amount up to 92233720368547758.07, found '1e999999'"),
    ("2025-02-04,ep,csv,po\x00d,1,1", "podcast_id", "expected text without NUL (\\x00) characters"),
]


def _errors(url: str, import_id: str) -> list[EtlRowError]:
    session = observer(url)
    try:
        return session.query(EtlRowError).filter_by(import_id=import_id).order_by(EtlRowError.row_number).all()
    finally:
        session.close()


def test_poison_values_through_a_worker_cost_only_their_rows(database_url, redis_url, tenant, hub_env):
    # Batches of 3, so poison sits in the middle of a batch with good rows before, beside and after it.
    hub_env(database_url, redis_url, HUB_IMPORT_BATCH_ROWS="3")
    client = create_app({"database_url": database_url, "redis_url": redis_url, "import_batch_rows": 3}).test_client()
    poison = [line + "\n" for line, _, _ in POISON]
    # Rows 2..10 in batches [2 3 4] [5 6 7] [8 9 10]; poison at rows 3, 4, 6 and 7.
    body = HEADER + good(1) + poison[0] + poison[1] + good(6) + poison[2] + poison[3] + good(10) + good(20) + good(21)
    accepted = upload_csv(client, tenant["secrets"]["api"], body)
    work(redis_url)

    imp = load_import(database_url, accepted["import_id"])
    assert (imp.status, imp.attempts) == ("completed_with_errors", 1), imp.error
    assert (imp.rows_total, imp.rows_inserted, imp.rows_refused) == (9, 5, 4)
    stored = rows(database_url, MetricsDaily, MetricsDaily.day)
    assert [(r.day.day, r.downloads, r.revenue_cents) for r in stored] == [
        (1, 1, 150), (6, 6, 150), (10, 10, 150), (20, 20, 150), (21, 21, 150)]
    errors = _errors(database_url, imp.id)
    assert [e.row_number for e in errors] == [3, 4, 6, 7]
    for error, (_, column, words) in zip(errors, POISON):
        assert error.column == column and words in error.message, error.message
    assert len(errors[1].message) < 200, "a 5,000-digit cell is not quoted back whole"


def test_text_over_its_columns_length_is_a_row_error(database_url, redis_url, tenant, hub_env):
    # vanity_url is String(500) in the model; the URL parser itself sets no length.
    hub_env(database_url, redis_url)
    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    long_url = "https://brand.example/" + "a" * 600
    body = ("io_id,flight_start,flight_end,vanity_url\n"
            "io-1,2025-01-01,2025-01-31,https://brand.example/a\n"
            f"io-2,2025-01-01,2025-01-31,{long_url}\n"
            "io-3,2025-01-01,2025-01-31,https://brand.example/c\n")
    accepted = upload_csv(client, tenant["secrets"]["api"], body, table="io_bookings")
    work(redis_url)
    imp = load_import(database_url, accepted["import_id"])
    assert (imp.status, imp.attempts, imp.rows_inserted) == ("completed_with_errors", 1, 2)
    assert [b.io_id for b in rows(database_url, IoBooking, IoBooking.io_id)] == ["io-1", "io-3"]
    (error,) = _errors(database_url, imp.id)
    assert (error.row_number, error.column) == (3, "vanity_url")
    assert f"expected text of at most 500 characters, found {len(long_url)} characters" in error.message


def _json_poison_rows():
    # JSON numbers as a JSON parser hands them over: 1e300 a float, 1e999999 an infinity, 10^20 an int.
    return [
        {"day": "2025-01-01", "episode_id": "ep", "source": "zapier", "downloads": 1},
        {"day": "2025-01-02", "episode_id": "ep", "source": "zapier", "downloads": 10**20},
        {"day": "2025-01-03", "episode_id": "ep", "source": "zapier", "downloads": 1e300},
        {"day": "2025-01-04", "episode_id": "ep", "source": "zapier", "downloads": 4, "revenue": "1e999999"},
        {"day": "2025-01-05", "episode_id": "ep", "source": "zapier", "downloads": 5},
    ]


def test_json_records_from_zapier_refuse_poison_numbers_as_rows(client, database_url, tenant):
    response = client.post(f"/webhooks/zapier/{tenant['slug']}/metrics_daily", json=_json_poison_rows(),
                           headers={"Authorization": f"Bearer {tenant['secrets']['zapier']}"})
    assert response.status_code == 202, response.get_json()
    imp = load_import(database_url, response.get_json()["import_id"])
    assert (imp.status, imp.rows_inserted, imp.rows_refused) == ("completed_with_errors", 2, 3)
    assert [r.downloads for r in rows(database_url, MetricsDaily, MetricsDaily.day)] == [1, 5]
    found = [(e.row_number, e.column, e.message) for e in _errors(database_url, imp.id)]
    assert [f[:2] for f in found] == [(2, "downloads"), (3, "downloads"), (4, "revenue")]
    assert "found 100000000000000000000" in found[0][2] and "found 1e+300" in found[1][2]


def test_sheet_push_refuses_poison_json_numbers_as_rows(database_url, tenant):
    pushed = _json_poison_rows()
    header = ["day", "episode_id", "source", "downloads", "revenue"]
    body = {"header": header, "rows": [{"row_number": n, "values": [r.get(k) for k in header]}
                                       for n, r in enumerate(pushed, start=2)]}
    # json.dumps writes 1e300 as 1e+300 and the 1e999999 text as text: the push carries both as sent.
    summary = import_text(database_url, tenant["id"], "metrics_daily", json.dumps(body), input_format="sheet_push")
    assert summary["status"] == "completed_with_errors"
    assert summary["counts"]["inserted"] == 2 and summary["counts"]["refused"] == 3
    assert [m.split(":")[0] for m in messages(summary)] == ["row 3, downloads", "row 4, downloads", "row 5, revenue"]


def test_a_value_the_database_refuses_is_isolated_to_its_row(database_url, tenant, monkeypatch):
    # Let an out-of-range count through validation: only the database can refuse it now.
    monkeypatch.setattr(bounds, "INT64_MAX", 10**30)
    body = HEADER + good(1) + good(2) + "2025-01-03,ep,csv,pod,100000000000000000000,1\n" + good(4) + good(5) + good(6)
    summary = import_text(database_url, tenant["id"], "metrics_daily", body, batch_rows=4)
    assert summary["status"] == "completed_with_errors"
    assert summary["counts"] == {"rows": 6, "inserted": 5, "updated": 0, "unchanged": 0, "refused": 1}
    assert [r.day.day for r in rows(database_url, MetricsDaily, MetricsDaily.day)] == [1, 2, 4, 5, 6]
    (message,) = messages(summary)
    assert message.startswith("row 4: expected a value the database accepts, found one it refused: ")
    assert "\n" not in message and "INSERT" not in message and "COPY" not in message.split(": ", 2)[-1][:4]


def _post_bytes(client, token: str, body: bytes) -> dict:
    response = client.post("/api/v1/etl/upload", data={"table": "metrics_daily", "file": (io.BytesIO(body), "m.csv")},
                           headers={"Authorization": f"Bearer {token}"}, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def test_invalid_utf8_deep_in_a_csv_refuses_only_its_row(postgres_url, redis_url, tenant_pg, hub_env):
    hub_env(postgres_url, redis_url)
    client = create_app({"database_url": postgres_url, "redis_url": redis_url}).test_client()
    lines = [b"day,episode_id,source,downloads\n"]
    for number in range(2, 12011):  # the row number a sheet shows: the header is row 1
        episode = b"ep-\xff" if number == 12002 else b"ep-%d" % number
        lines.append(b"2025-01-01,%s,csv,%d\n" % (episode, number))
    accepted = _post_bytes(client, tenant_pg["secrets"]["api"], b"".join(lines))
    work(redis_url)
    imp = load_import(postgres_url, accepted["import_id"])
    assert (imp.status, imp.rows_total, imp.rows_inserted, imp.rows_refused) == ("completed_with_errors", 12009, 12008, 1)
    (error,) = _errors(postgres_url, imp.id)
    assert (error.row_number, error.column) == (12002, "episode_id")
    assert error.message == "row 12002, episode_id: expected UTF-8 text, found undecodable bytes b'\\xff'"


def test_a_cp1252_file_is_still_read_as_cp1252(database_url, tenant):
    body = "day,episode_id,source,podcast_id,downloads\n2025-01-01,ep,csv,Caf\u00e9,3\n".encode("cp1252")
    summary = import_text(database_url, tenant["id"], "metrics_daily", body)
    assert summary["status"] == "completed", summary
    assert [r.podcast_id for r in rows(database_url, MetricsDaily)] == ["Caf\u00e9"]


@pytest.fixture
def tenant_pg(postgres_url):
    from tests.conftest import make_tenant

    return make_tenant(postgres_url)
