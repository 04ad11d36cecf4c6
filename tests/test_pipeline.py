"""The ingest pipeline on SQLite and PostgreSQL: validation messages, upsert outcomes, replays, resumes."""
from __future__ import annotations

from datetime import date

import pytest


from hub.ingest import pipeline
from hub.ingest.intake import create_import
from hub.ingest.summary import import_summary
from hub.models import EtlImport, EtlRowError, Event, IoBooking, MetricsDaily
from tests.helpers import import_text, messages, observer, rows

METRICS_HEADER = "day,podcast_id,episode_id,source,downloads,listeners,completion_rate,ctr,conversions,revenue_cents\n"
IO_HEADER = "io_id,flight_start,flight_end,episode_id,booked_impressions,promo_code,vanity_url,status\n"


def metrics(*lines: str) -> str:
    return METRICS_HEADER + "".join(line + "\n" for line in lines)


def test_insert_update_unchanged_counts_and_replay(database_url, tenant):
    first = metrics(
        "2025-01-06,pod-1,007,buzzsprout,\"1,204\",980,85%,0.031,4,11996",
        "2025-01-07,pod-1,007,buzzsprout,900,700,0.8,0.02,1,2999",
    )
    summary = import_text(database_url, tenant["id"], "metrics_daily", first)
    assert summary["status"] == "completed"
    assert summary["counts"] == {"rows": 2, "inserted": 2, "updated": 0, "unchanged": 0, "refused": 0}

    stored = rows(database_url, MetricsDaily, MetricsDaily.day)
    assert [(r.episode_id, r.downloads, r.completion_rate, r.revenue_cents) for r in stored] == [
        ("007", 1204, 0.85, 11996), ("007", 900, 0.8, 2999)]
    stamps = [r.last_updated for r in stored]

    replay = import_text(database_url, tenant["id"], "metrics_daily", first)
    assert replay["counts"] == {"rows": 2, "inserted": 0, "updated": 0, "unchanged": 2, "refused": 0}
    again = rows(database_url, MetricsDaily, MetricsDaily.day)
    assert [r.last_updated for r in again] == stamps, "an unchanged row must not be rewritten"
    assert {r.import_id for r in again} == {stored[0].import_id}

    changed = metrics(
        "2025-01-06,pod-1,007,buzzsprout,1300,980,85%,0.031,4,11996",
        "2025-01-07,pod-1,007,buzzsprout,900,700,0.8,0.02,1,2999",
        "2025-01-08,pod-1,007,buzzsprout,500,400,0.7,0.01,0,0",
    )
    summary = import_text(database_url, tenant["id"], "metrics_daily", changed)
    assert summary["counts"] == {"rows": 3, "inserted": 1, "updated": 1, "unchanged": 1, "refused": 0}
    assert [r.downloads for r in rows(database_url, MetricsDaily, MetricsDaily.day)] == [1300, 900, 500]


def test_absent_columns_are_left_alone_on_update(database_url, tenant):
    import_text(database_url, tenant["id"], "metrics_daily",
                metrics("2025-01-06,pod-1,ep-1,shopify,100,50,0.5,0.01,3,4500"))
    summary = import_text(database_url, tenant["id"], "metrics_daily",
                          "day,episode_id,source,conversions\n2025-01-06,ep-1,shopify,5\n")
    assert summary["counts"]["updated"] == 1
    (row,) = rows(database_url, MetricsDaily)
    assert (row.downloads, row.conversions, row.revenue_cents, row.podcast_id) == (100, 5, 4500, "pod-1")


def test_refused_rows_name_row_column_expected_and_found(database_url, tenant):
    body = metrics(
        "2025-01-06,pod-1,ep-1,buzzsprout,-5,1,0.5,0.01,0,0",        # row 2: negative count
        "2025-01-07,pod-1,ep-1,buzzsprout,10,1,120%,0.01,0,0",       # row 3: rate over 100%
        "2025-02-30,pod-1,ep-1,buzzsprout,10,1,0.5,0.01,0,0",        # row 4: no such day
        "2025-01-08,pod-1,,buzzsprout,10,1,0.5,0.01,0,0",            # row 5: missing key
        "2025-01-09,pod-1,ep-1,buzzsprout,10,20,0.5,0.01,0,0",       # row 6: listeners > downloads
        "2025-01-10,pod-1,ep-1,buzzsprout,10,5,0.5,0.01,1.5,0",      # row 7: fractional count
        "2025-01-11,pod-1,ep-1,buzzsprout,10,5,0.5,0.01,1,0",        # row 8: good
    )
    summary = import_text(database_url, tenant["id"], "metrics_daily", body)
    assert summary["status"] == "completed_with_errors"
    assert summary["counts"] == {"rows": 7, "inserted": 1, "updated": 0, "unchanged": 0, "refused": 6}
    assert messages(summary) == [
        "row 2, downloads: expected a whole number >= 0, found -5",
        "row 3, completion_rate: expected a rate between 0 and 1 (or 0% to 100%), found '120%'",
        "row 4, day: expected a date like 2025-01-31, 1/31/2025, 31.01.2025, 31 Jan 2025 or Jan 31, 2025, found '2025-02-30' (no such day)",
        "row 5, episode_id: expected a value, found an empty cell",
        "row 6, listeners: 20 is more than downloads 10; a listener downloads at least once",
        "row 7, conversions: expected a whole number >= 0, found '1.5'",
    ]
    # Nothing refused is lost: its raw values are kept, by header, to be fixed and sent again.
    assert summary["row_errors"][0]["raw"]["downloads"] == "-5"
    assert summary["row_errors"][0]["raw"]["episode_id"] == "ep-1"
    assert [e["column"] for e in summary["row_errors"]][:2] == ["downloads", "completion_rate"]


def test_same_key_twice_in_one_input_is_reported_not_last_wins(database_url, tenant):
    body = metrics(
        "2025-01-06,pod-1,007,buzzsprout,100,50,0.5,0.01,0,0",
        "2025-01-06,pod-1,007,buzzsprout,999,50,0.5,0.01,0,0",
    )
    summary = import_text(database_url, tenant["id"], "metrics_daily", body, batch_rows=1)
    assert messages(summary) == [
        "row 3: duplicate of row 2: same day, episode_id, source (2025-01-06, 007, buzzsprout); expected each key once per input"]
    assert [r.downloads for r in rows(database_url, MetricsDaily)] == [100]


@pytest.mark.parametrize("header, fragment", [
    ("day,episode_id,downloads\n", "missing required column source for table metrics_daily"),
    ("day,episode_id,,source\n", "column 3 has no header"),
    ("day,Episode ID,episode_id,source\n", "columns 2 and 3 are both 'episode_id'"),
    ("day,episode_id,source,revenue,revenue_cents\n", "both 'revenue_cents' and 'revenue' are given"),
])
def test_unusable_header_refuses_whole_input(database_url, tenant, header, fragment):
    summary = import_text(database_url, tenant["id"], "metrics_daily", header + "2025-01-06,ep,src,1,1\n")
    assert summary["status"] == "failed"
    assert fragment in summary["error"]
    assert summary["counts"]["rows"] == 0
    assert rows(database_url, MetricsDaily) == []
    assert [e.name for e in rows(database_url, Event)] == ["etl.error"]


def test_a_csv_unreadable_midway_keeps_the_whole_batches_before_it(database_url, tenant):
    # csv.reader refuses a field over its limit (131,072 characters): row 9 cannot be read, nor anything after it.
    good = [f"2025-01-{d:02d},pod-1,ep-1,buzzsprout,{d},1,0.5,0.01,0,0" for d in range(1, 8)]
    body = metrics(*good, "2025-01-08,pod-1,ep-1,buzzsprout,8,1,0.5,0.01,0," + "9" * 140_000)
    summary = import_text(database_url, tenant["id"], "metrics_daily", body, batch_rows=3)
    assert summary["status"] == "failed"
    assert summary["error"].startswith("row 9: the file cannot be read as CSV from here on (field larger than field limit")
    # Batches of 3: rows 2-4 and 5-7 were whole and stay written; row 8 waited for a batch that never filled.
    assert summary["counts"] == {"rows": 6, "inserted": 6, "updated": 0, "unchanged": 0, "refused": 0}
    assert [r.downloads for r in rows(database_url, MetricsDaily, MetricsDaily.day)] == [1, 2, 3, 4, 5, 6]


def test_a_payload_stored_in_many_chunks_is_read_whole_while_batches_are_written(database_url, tenant, monkeypatch):
    # 64-byte chunks: the rows after the first are fetched while earlier batches are written (on PostgreSQL by
    # the read-ahead thread, on a session of its own that must see the tenant's chunks under row-level security).
    monkeypatch.setattr("hub.ingest.intake.CHUNK_BYTES", 64)
    body = metrics(*(f"2025-02-{d:02d},pod-1,ep-1,buzzsprout,{d},1,0.5,0.01,0,0" for d in range(1, 29)))
    summary = import_text(database_url, tenant["id"], "metrics_daily", body, batch_rows=4)
    assert summary["status"] == "completed"
    assert summary["counts"] == {"rows": 28, "inserted": 28, "updated": 0, "unchanged": 0, "refused": 0}
    assert [r.downloads for r in rows(database_url, MetricsDaily, MetricsDaily.day)] == list(range(1, 29))


def test_headers_any_case_order_and_unknown_columns_reported(database_url, tenant):
    body = "  Source ,EPISODE_ID,Notes,Day,Revenue,hub_status\nanchor,0042,great,1/6/2025,$19.99,ok\n"
    summary = import_text(database_url, tenant["id"], "metrics_daily", body)
    assert summary["status"] == "completed"
    assert summary["unknown_columns"] == ["notes"]  # the hub's own columns are not "unknown"
    assert summary["warnings"] == ["column 'notes' is not a column of metrics_daily; its values were ignored"]
    (row,) = rows(database_url, MetricsDaily)
    assert (row.day, row.episode_id, row.source, row.revenue_cents) == (date(2025, 1, 6), "0042", "anchor", 1999)


def test_io_rules_flight_status_url_and_promo_codes(database_url, tenant):
    body = IO_HEADER + "".join(line + "\n" for line in [
        "IO-1,2025-02-01,2025-01-01,ep-1,10000,CODE1,https://a.example/x,live",      # row 2: flight backwards
        "IO-2,2025-01-01,2025-01-31,ep-1,10000,CODE2,https://a.example/x,paused",    # row 3: status
        "IO-3,2025-01-01,2025-01-31,ep-1,10000,CODE3,not a url,live",                # row 4: URL
        "IO-4,2025-01-01,2025-01-31,ep-1,10000,SHARED,https://a.example/4,live",     # row 5: good
        "IO-5,2025-01-01,2025-01-31,ep-1,10000,shared,https://a.example/5,draft",    # row 6: code taken by IO-4
        "IO-6,2025-01-01,2025-01-31,ep-1,10000,SHARED,https://a.example/6,completed",  # row 7: fine, not active
    ])
    summary = import_text(database_url, tenant["id"], "io_bookings", body)
    assert messages(summary) == [
        "row 2, flight_end: 2025-01-01 is before flight_start 2025-02-01",
        "row 3, status: expected one of draft/scheduled/live/completed/cancelled, found 'paused'",
        "row 4, vanity_url: expected a URL like https://brand.example/show, found 'not a url'",
        "row 6, promo_code: shared is already the promo code of active IO IO-4 (row 5); expected a code no other draft/scheduled/live IO uses",
    ]
    assert [r.io_id for r in rows(database_url, IoBooking, IoBooking.io_id)] == ["IO-4", "IO-6"]

    # A later input cannot give an active IO's code to another active IO either.
    later = IO_HEADER + "IO-7,2025-03-01,2025-03-31,ep-2,5000,Shared,https://b.example/7,scheduled\n"
    summary = import_text(database_url, tenant["id"], "io_bookings", later)
    assert messages(summary) == [
        "row 2, promo_code: Shared is already the promo code of active IO IO-4; expected a code no other draft/scheduled/live IO uses"]
    # ...but the IO holding it may be updated, and the defaults fill what the input leaves out.
    update = "io_id,flight_start,flight_end,promo_code\nIO-4,2025-01-01,2025-02-15,SHARED\n"
    assert import_text(database_url, tenant["id"], "io_bookings", update)["counts"]["updated"] == 1
    io4 = rows(database_url, IoBooking, IoBooking.io_id)[0]
    assert (io4.flight_end, io4.status, io4.currency, io4.vanity_url) == (date(2025, 2, 15), "live", "USD", "https://a.example/4")


def test_tenants_do_not_see_each_others_rows(database_url, tenant):
    from tests.conftest import make_tenant

    other = make_tenant(database_url, "globex")
    line = "2025-01-06,pod-1,007,buzzsprout,100,50,0.5,0.01,0,0"
    import_text(database_url, tenant["id"], "metrics_daily", metrics(line))
    summary = import_text(database_url, other["id"], "metrics_daily", metrics(line))
    assert summary["counts"]["inserted"] == 1  # same key, other tenant: its own row
    assert sorted(r.tenant_id for r in rows(database_url, MetricsDaily)) == sorted([tenant["id"], other["id"]])


def test_workbook_samples_import_with_serial_dates_and_text_ids(database_url, tenant):
    with open("samples/hub_samples.xlsx", "rb") as handle:
        workbook = handle.read()
    summary = import_text(database_url, tenant["id"], "metrics_daily", workbook, input_format="xlsx")
    assert summary["status"] == "completed", summary["row_errors"][:3]
    assert summary["counts"]["inserted"] == 439
    episodes = {r.episode_id for r in rows(database_url, MetricsDaily)}
    assert "007" in episodes and "0099" in episodes
    csv_replay = import_text(database_url, tenant["id"], "metrics_daily", open("samples/metrics_daily.csv").read())
    assert csv_replay["counts"]["unchanged"] == 439, "the CSV and the workbook hold the same values"


def test_crash_midway_leaves_whole_batches_and_rerun_resumes(database_url, tenant, batch_fault):
    body = metrics(*(f"2025-01-{d:02d},pod-1,ep-1,buzzsprout,{d * 10},1,0.5,0.01,0,0" for d in range(1, 11)))
    session = observer(database_url)
    imp, _ = create_import(session, tenant_id=tenant["id"], source="test", table_name="metrics_daily",
                           input_format="csv", payload=body.encode())
    session.commit()

    batch_fault.fail(ConnectionError("worker lost its database mid-import"), from_call=3)
    with pytest.raises(ConnectionError):
        pipeline.run_import(session, imp.id, batch_rows=3)
    session.rollback()
    assert len(rows(database_url, MetricsDaily)) == 6, "two whole batches, nothing of the third"

    batch_fault.heal()
    pipeline.run_import(session, imp.id, batch_rows=3)
    summary = import_summary(session, session.get(EtlImport, imp.id))
    session.close()
    assert summary["status"] == "completed"
    assert summary["counts"] == {"rows": 10, "inserted": 10, "updated": 0, "unchanged": 0, "refused": 0}
    assert summary["attempts"] == 2
    assert [r.downloads for r in rows(database_url, MetricsDaily, MetricsDaily.day)] == [d * 10 for d in range(1, 11)]


def test_events_recorded_with_the_import(database_url, tenant):
    import_text(database_url, tenant["id"], "metrics_daily", metrics("2025-01-06,p,e,s,1,1,0.5,0.5,0,0", "bad,p,e,s,1,1,0.5,0.5,0,0"))
    events = rows(database_url, Event, Event.name)
    assert [e.name for e in events] == ["etl.error", "etl.import_completed"]
    assert events[1].payload["inserted"] == 1 and events[1].payload["refused"] == 1
    assert len(rows(database_url, EtlRowError)) == 1


def test_refused_rows_keep_the_inputs_columns_in_its_order(database_url, tenant, tmp_path):
    from openpyxl import Workbook

    # zeta before alpha: sorted keys (PostgreSQL's jsonb) would put them the other way round.
    body = "source,zeta,episode_id,day,downloads,alpha\nbuzzsprout,z,ep-1,2025-01-06,lots,a\n"
    summary = import_text(database_url, tenant["id"], "metrics_daily", body)
    assert list(summary["row_errors"][0]["raw"].items()) == [
        ("source", "buzzsprout"), ("zeta", "z"), ("episode_id", "ep-1"), ("day", "2025-01-06"),
        ("downloads", "lots"), ("alpha", "a")]

    # A workbook with formatted but empty columns far to the right: the raw row keeps only its columns.
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "metrics_daily"
    sheet.append(["day", "episode_id", "source", "downloads"])
    sheet.append(["2025-01-06", "ep-1", "buzzsprout", "-3"])
    for column in range(5, 190):
        sheet.cell(row=2, column=column).number_format = "0.00"
    sheet.cell(row=2, column=7, value="stray")
    path = tmp_path / "wide.xlsx"
    workbook.save(path)
    summary = import_text(database_url, tenant["id"], "metrics_daily", path.read_bytes(), input_format="xlsx")
    assert summary["row_errors"][0]["raw"] == {"day": "2025-01-06", "episode_id": "ep-1", "source": "buzzsprout",
                                               "downloads": "-3", "column 7": "stray"}


@pytest.mark.parametrize("header, message", [
    ("day,episode_id,source,downlaods", "column 'downlaods' is not a column of metrics_daily; did you mean 'downloads'?"),
    ("day,episode_id,source,Listners", "column 'listners' is not a column of metrics_daily; did you mean 'listeners'?"),
    ("day,episode_id,source,revenuecents", "did you mean 'revenue_cents'?"),
    ("day,episode_id,source,Completion-Rate2", "did you mean 'completion_rate'?"),
    ("dya,episode_id,source,downloads", "column 'dya' is not a column of metrics_daily; did you mean 'day'?"),
])
def test_a_header_near_a_missing_column_refuses_the_input(database_url, tenant, header, message):
    summary = import_text(database_url, tenant["id"], "metrics_daily", header + "\n2025-01-06,ep-1,manual,12\n")
    assert summary["status"] == "failed" and message in summary["error"]
    assert summary["counts"]["rows"] == 0 and rows(database_url, MetricsDaily) == []


def test_a_near_miss_of_a_column_the_input_has_is_only_a_warning(database_url, tenant):
    # `download` is near `downloads`, but downloads is there: nothing is left empty, so it is just ignored;
    # `url` is two edits from `ctr`, too many for a three-letter column.
    body = "day,episode_id,source,downloads,download,url\n2025-01-06,ep-1,manual,12,13,x\n"
    summary = import_text(database_url, tenant["id"], "metrics_daily", body)
    assert summary["status"] == "completed" and summary["unknown_columns"] == ["download", "url"]
    assert [row.downloads for row in rows(database_url, MetricsDaily)] == [12]
