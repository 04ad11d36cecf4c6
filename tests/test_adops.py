"""Ad-ops intelligence (issue 20): pacing states and their events, under-delivery at flight end,
make-good suggestions, the sheet's colours for them."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import responses
from openpyxl import load_workbook

from hub import create_app
from hub.config import Settings
from hub.ingest.intake import create_import
from hub.jobs.after_import import refresh_io_delivery
from hub.models import Event, IoBooking, utcnow
from hub.sheets.ownership import register
from hub.sheets.results import HEADER, MAKE_GOODS_HEADER, write_results
from hub.sheets.targets import GoogleSheetsTarget, Highlight, LocalWorkbookTarget
from tests.helpers import import_text, observer
from tests.test_writeback import SHEETS, TOKEN_URI, service_account_file  # noqa: F401  (a fixture)

IO_HEADER = "io_id,flight_start,flight_end,episode_id,podcast_id,booked_impressions,booked_cpm_cents,status\n"


def add_ios(url, tenant_id, *lines):
    summary = import_text(url, tenant_id, "io_bookings", IO_HEADER + "".join(line + "\n" for line in lines))
    assert summary["row_errors"] == [], summary["row_errors"]


def add_downloads(url, tenant_id, *rows):
    """rows: (day, episode, downloads) or (day, episode, downloads, podcast, source)."""
    body = "day,episode_id,podcast_id,source,downloads\n" + "".join(
        f"{r[0]},{r[1]},{r[3] if len(r) > 3 else ''},{r[4] if len(r) > 4 else 'buzzsprout'},{r[2]}\n" for r in rows)
    summary = import_text(url, tenant_id, "metrics_daily", body)
    assert summary["row_errors"] == [], summary["row_errors"]


def each_day(first: date, last: date, episode: str, downloads: int):
    return [((first + timedelta(days=n)).isoformat(), episode, downloads) for n in range((last - first).days + 1)]


def events(url, name):
    session = observer(url)
    try:
        return [e for e in session.query(Event).order_by(Event.created_at) if e.name == name]
    finally:
        session.close()


def the_io(url, io_id="IO-1") -> IoBooking:
    session = observer(url)
    try:
        return session.query(IoBooking).filter_by(io_id=io_id).one()
    finally:
        session.close()


def sheet_import(url, tenant_id, spreadsheet_id="s"):
    """Makes `spreadsheet_id` the tenant's spreadsheet (where hub_results goes), as a sheet push would."""
    session = observer(url)
    create_import(session, tenant_id=tenant_id, source="sheets", table_name="io_bookings", input_format="sheet_push",
                  payload=b"{}", context={"spreadsheet_id": spreadsheet_id, "sheet": "io_bookings"})
    register(session, tenant_id, spreadsheet_id)
    session.commit()
    session.close()


# --- pacing --------------------------------------------------------------------------------------

def test_an_io_moving_on_track_behind_at_risk_emits_each_change_once(database_url, tenant):
    """A 30-day flight booked at 3000 (100 a day expected); the defaults: behind < 0.95, at_risk < 0.90."""
    settings = Settings(database_url=database_url)
    tid = tenant["id"]
    add_ios(database_url, tid, "IO-1,2025-03-01,2025-03-30,ep-1,,3000,2500,live")
    add_downloads(database_url, tid, *each_day(date(2025, 3, 1), date(2025, 3, 10), "ep-1", 100))

    # 10 complete days: delivered 1000 = expected 1000 (pace 1.0); run-rate 100 → projected 1000 + 100×20 = 3000.
    refresh_io_delivery(settings, tid, today=date(2025, 3, 11))
    refresh_io_delivery(settings, tid, today=date(2025, 3, 11))  # the same state again: nothing new
    assert [(e.payload["previous_state"], e.payload["state"]) for e in events(database_url, "io.pacing_changed")] \
        == [(None, "on_track")]

    # 3-11 brings 20: delivered 1020 of 1100 expected → pace 0.927 (< 0.95: behind); run-rate over 3-5..3-11
    # = (6×100 + 20) / 7 = 88.57 → projected 1020 + 88.57×19 = 2703 → 0.901 of booked (not yet at risk).
    add_downloads(database_url, tid, ("2025-03-11", "ep-1", 20))
    refresh_io_delivery(settings, tid, today=date(2025, 3, 12))
    # 3-12 brings nothing: pace 1020/1200 = 0.85; run-rate (5×100 + 20 + 0)/7 = 74.29 → projected
    # 1020 + 74.29×18 = 2357 → 0.786 of booked: at risk.
    add_downloads(database_url, tid, ("2025-03-12", "ep-1", 0))
    refresh_io_delivery(settings, tid, today=date(2025, 3, 13))
    refresh_io_delivery(settings, tid, today=date(2025, 3, 13))

    changed = events(database_url, "io.pacing_changed")
    assert [(e.payload["previous_state"], e.payload["state"]) for e in changed] == [
        (None, "on_track"), ("on_track", "behind"), ("behind", "at_risk")]
    behind, at_risk = changed[1].payload, changed[2].payload
    assert (behind["delivered_to_date"], behind["expected_to_date"], behind["projected_impressions"],
            behind["pacing"], behind["projected_ratio"], behind["as_of"]) == (1020, 1100, 2703, 0.927, 0.901, "2025-03-11")
    assert (at_risk["delivered_to_date"], at_risk["expected_to_date"], at_risk["projected_impressions"],
            at_risk["pacing"], at_risk["projected_ratio"]) == (1020, 1200, 2357, 0.85, 0.786)
    assert all(e.subject == "IO-1" for e in changed)
    assert the_io(database_url).pacing_state == "at_risk"

    # A strong week brings it over: 3-13..3-19 at 200 a day → delivered 2420 of 1900 expected (pace 1.274 ≥ 1.20).
    add_downloads(database_url, tid, *each_day(date(2025, 3, 13), date(2025, 3, 19), "ep-1", 200))
    refresh_io_delivery(settings, tid, today=date(2025, 3, 20))
    assert events(database_url, "io.pacing_changed")[-1].payload["state"] == "over"


def test_thresholds_are_settings(database_url, tenant):
    """The same IO as above at 3-12 (pace 0.927, projected 0.901) is on track when behind starts at 0.90."""
    tid = tenant["id"]
    add_ios(database_url, tid, "IO-1,2025-03-01,2025-03-30,ep-1,,3000,2500,live")
    add_downloads(database_url, tid, *each_day(date(2025, 3, 1), date(2025, 3, 10), "ep-1", 100),
                  ("2025-03-11", "ep-1", 20))
    lenient = Settings(database_url=database_url, pacing_behind_ratio=0.90, pacing_at_risk_ratio=0.5)
    refresh_io_delivery(lenient, tid, today=date(2025, 3, 12))
    assert [e.payload["state"] for e in events(database_url, "io.pacing_changed")] == ["on_track"]


def test_the_io_api_and_the_results_tab_show_pacing(database_url, tenant, tmp_path):
    """Dated from the real today, since the API reads the clock."""
    today = utcnow().date()
    tid = tenant["id"]
    start, end = today - timedelta(days=10), today + timedelta(days=9)   # 20 days, 10 complete
    add_ios(database_url, tid, f"IO-1,{start},{end},ep-1,,2000,2500,live")
    add_downloads(database_url, tid, *each_day(start, today - timedelta(days=1), "ep-1", 50))
    app = create_app({"database_url": database_url, "redis_url": None})
    body = app.test_client().get("/api/v1/io/IO-1", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"}).get_json()
    # delivered 500 of 1000 expected: pace 0.5, projected 500 + 50×10 = 1000 = half the booking.
    assert (body["delivered_to_date"], body["expected_to_date"], body["projected_impressions"], body["pacing"],
            body["pacing_state"], body["delivery"]) == (500, 1000, 1000, 0.5, "at_risk", None)

    sheet_import(database_url, tid)
    workbook = tmp_path / "s.xlsx"  # the local workbook of the tenant's spreadsheet "s"
    session = observer(database_url)
    write_results(session, LocalWorkbookTarget(str(tmp_path)), tid, today)
    session.close()
    sheet = load_workbook(workbook)["hub_results"]
    row = dict(zip(HEADER, [c.value for c in sheet[2]]))
    assert (row["pacing_state"], row["expected_impressions"], row["projected_impressions"]) == ("at_risk", 1000, 1000)
    # The sheet colours the state: one rule per state (and one for an under-delivery) on their columns.
    state_col = chr(ord("A") + HEADER.index("pacing_state"))
    rules = {str(rng.sqref).split(":")[0]: [r.formula[0] for r in rng.rules] for rng in sheet.conditional_formatting}
    assert sorted(rules[f"{state_col}2"]) == ['"at_risk"', '"behind"', '"on_track"', '"over"']


def test_google_conditional_formats_are_added_once(service_account_file):  # noqa: F811
    target = GoogleSheetsTarget.from_service_account_file(service_account_file)
    highlights = (Highlight(12, "at_risk", "#f4c7c3"), Highlight(15, "under", "#f4c7c3"))
    already = [{"ranges": [{"sheetId": 7, "startRowIndex": 1, "startColumnIndex": 12, "endColumnIndex": 13}],
                "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": "at_risk"}]},
                                "format": {"backgroundColor": {"red": 0.9}}}}]
    with responses.RequestsMock() as wire:
        wire.add(responses.POST, TOKEN_URI, json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
        # spreadsheets.get with fields=sheets(properties(sheetId,title),conditionalFormats): the tab has one rule.
        wire.add(responses.GET, f"{SHEETS}/S1", json={"sheets": [
            {"properties": {"title": "hub_results", "sheetId": 7}, "conditionalFormats": already}]})
        wire.add(responses.POST, f"{SHEETS}/S1:batchUpdate", json={"spreadsheetId": "S1", "replies": [{}]})
        wire.add(responses.POST, re.compile(rf"{SHEETS}/S1/values/.*:clear"), json={"spreadsheetId": "S1"})
        wire.add(responses.PUT, re.compile(rf"{SHEETS}/S1/values/.*"), json={"spreadsheetId": "S1"})
        target.replace_tab("S1", "hub_results", [["io_id"], ["IO-1"]], {}, highlights)
        get = [c for c in wire.calls if c.request.method == "GET"][0]
        batch = [c for c in wire.calls if c.request.url.split("?")[0].endswith(":batchUpdate")]
    assert "conditionalFormats" in get.request.url
    (sent,) = batch
    added = [r["addConditionalFormatRule"] for r in json.loads(sent.request.body)["requests"]]
    # Only the missing rule is added, on the tab's own sheetId, below the header.
    assert added == [{"index": 0, "rule": {
        "ranges": [{"sheetId": 7, "startRowIndex": 1, "startColumnIndex": 15, "endColumnIndex": 16}],
        "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": "under"}]},
                        "format": {"backgroundColor": {"red": 0.9569, "green": 0.7804, "blue": 0.7647}}}}}]


# --- under-delivery and make-goods ---------------------------------------------------------------

def test_an_under_delivered_io_completes_with_its_shortfall_in_the_event_and_the_sheet(database_url, tenant, tmp_path):
    settings = Settings(database_url=database_url)
    tid = tenant["id"]
    add_ios(database_url, tid, "IO-1,2025-01-01,2025-01-10,ep-1,,1000,2500,live",
            "IO-2,2025-01-01,2025-01-10,ep-2,,500,2500,live")
    add_downloads(database_url, tid, ("2025-01-05", "ep-1", 600), ("2025-01-05", "ep-2", 300),
                  ("2025-01-06", "ep-2", 300))
    # IO-2 reached its booking when the downloads came in; IO-1's flight ends short.
    assert refresh_io_delivery(settings, tid, today=date(2025, 1, 7)) == ["IO-2"]
    assert refresh_io_delivery(settings, tid, today=date(2025, 1, 11)) == ["IO-1"]
    assert refresh_io_delivery(settings, tid, today=date(2025, 1, 12)) == []
    delivered = {e.subject: e.payload for e in events(database_url, "io.delivered")}
    assert len(events(database_url, "io.delivered")) == 2
    assert {k: delivered["IO-1"][k] for k in ("delivered", "booked", "ratio", "under_delivered", "shortfall",
                                               "reason")} == {"delivered": 600, "booked": 1000, "ratio": 0.6,
                                                              "under_delivered": True, "shortfall": 400,
                                                              "reason": "flight ended"}
    assert (delivered["IO-2"]["ratio"], delivered["IO-2"]["under_delivered"]) == (1.2, False)
    assert the_io(database_url).status == "completed"

    sheet_import(database_url, tid)
    workbook = tmp_path / "s.xlsx"  # the local workbook of the tenant's spreadsheet "s"
    session = observer(database_url)
    write_results(session, LocalWorkbookTarget(str(tmp_path)), tid, date(2025, 1, 12))
    session.close()
    sheet = load_workbook(workbook)["hub_results"]
    by_io = {r[0]: dict(zip(HEADER, r)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert (by_io["IO-1"]["status"], by_io["IO-1"]["delivery"], by_io["IO-1"]["delivered_impressions"]) \
        == ("completed", "under", 600)
    assert (by_io["IO-2"]["status"], by_io["IO-2"]["delivery"]) == ("completed", "full")
    assert by_io["IO-1"]["pacing_state"] is None and by_io["IO-1"]["projected_impressions"] is None
    delivery_col = chr(ord("A") + HEADER.index("delivery"))
    rules = {str(rng.sqref): [r.formula[0] for r in rng.rules] for rng in sheet.conditional_formatting}
    assert rules[f"{delivery_col}2:{delivery_col}3"] == ['"under"']  # below the header, over the IOs' rows


def test_make_goods_worked_example(database_url, tenant, tmp_path):
    """IO-1 booked 10,000 at a $25.00 CPM and delivered 6,000: 4,000 short, worth $100.00.

    Downloads in the 30 days before today (host sources only; the IO's own episode left out):
      a1 3,000 (pod-a)  a2 4,500 (pod-a)  b1 5,000 (pod-b)  x1 12,000 (no show)
      shows: pod-a 7,500, pod-b 5,000
    Those covering 4,000, cheapest first at 2500 cents per 1000: a2 4,500 → $112.50; b1 5,000 → $125.00;
    pod-b 5,000 → $125.00 (an episode first on a tie); pod-a 7,500 → $187.50; x1 12,000 → $300.00.
    a1 (3,000) cannot cover it; a1's shop row (99,999) and its row older than the window (7,000) are not counted.
    """
    today = utcnow().date()
    tid = tenant["id"]
    day = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731
    add_ios(database_url, tid, f"IO-1,{day(50)},{day(41)},io-ep,pod-a,10000,2500,live",
            f"IO-2,{day(50)},{day(41)},other,,100,2500,live")
    add_downloads(database_url, tid, (day(45), "io-ep", 6000, "pod-a"), (day(45), "other", 100),
                  (day(30), "a1", 1000, "pod-a"), (day(1), "a1", 2000, "pod-a"), (day(31), "a1", 7000, "pod-a"),
                  (day(2), "a1", 99999, "pod-a", "shopify"), (day(10), "a2", 4500, "pod-a"),
                  (day(3), "b1", 2500, "pod-b"), (day(4), "b1", 2500, "pod-b"), (day(5), "x1", 12000),
                  (day(6), "io-ep", 9000, "pod-a"))
    refresh_io_delivery(Settings(database_url=database_url), tid, today=today)
    assert the_io(database_url).status == "completed"

    app = create_app({"database_url": database_url, "redis_url": None})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tenant['secrets']['api']}"}
    body = client.get("/api/v1/io/IO-1/make-goods", headers=headers).get_json()
    assert (body["shortfall"], body["shortfall_value_cents"]) == (4000, 10000)
    assert [(s["kind"], s["id"], s["expected_downloads"], s["value_cents"], s["surplus"]) for s in body["suggestions"]] == [
        ("episode", "a2", 4500, 11250, 500), ("episode", "b1", 5000, 12500, 1000), ("show", "pod-b", 5000, 12500, 1000),
        ("show", "pod-a", 7500, 18750, 3500), ("episode", "x1", 12000, 30000, 8000)]
    assert client.get("/api/v1/io/IO-2/make-goods", headers=headers).get_json()["suggestions"] == [], \
        "IO-2 delivered what it booked"
    assert client.get("/api/v1/io/IO-9/make-goods", headers=headers).status_code == 404

    sheet_import(database_url, tid)
    workbook = tmp_path / "s.xlsx"  # the local workbook of the tenant's spreadsheet "s"
    session = observer(database_url)
    write_results(session, LocalWorkbookTarget(str(tmp_path)), tid, today)
    session.close()
    tab = [list(r) for r in load_workbook(workbook)["make_goods"].iter_rows(values_only=True)]
    assert tab[0] == MAKE_GOODS_HEADER
    assert [(r[0], r[1], r[3], r[5], r[8], r[9]) for r in tab[1:]] == [
        ("IO-1", 4000, 1, "a2", 4500, 112.5), ("IO-1", 4000, 2, "b1", 5000, 125),
        ("IO-1", 4000, 3, "pod-b", 5000, 125), ("IO-1", 4000, 4, "pod-a", 7500, 187.5),
        ("IO-1", 4000, 5, "x1", 12000, 300)]


# --- stale sources -------------------------------------------------------------------------------

def test_learnt_cadence_is_the_90th_percentile_gap_at_least_15_minutes():
    from hub.workflows.source_health import learnt_cadence

    start = datetime(2025, 1, 1, 9, tzinfo=timezone.utc)
    minutes = lambda *ms: [start + timedelta(minutes=m) for m in ms]  # noqa: E731
    assert learnt_cadence(minutes(0, 60)) is None, "two arrivals are too few to learn from"
    # Daily pushes, each a burst of three a minute apart: 10 gaps, 6 of 1 minute and 4 of about a day;
    # the 90th percentile (rank 9 of 10) is a day-sized gap, not the median minute.
    day = 24 * 60
    bursts = minutes(*[d * day + b for d in range(4) for b in (0, 1, 2)]) + minutes(4 * day)
    assert learnt_cadence(bursts) == timedelta(minutes=day - 2)
    assert learnt_cadence(minutes(0, 1, 2, 3)) == timedelta(minutes=15), "never under 15 minutes"


def test_a_scheduled_connector_goes_stale_and_fresh_again_once_each(database_url, tenant):
    from hub.jobs.sources import check_sources
    from hub.models import ConnectorState

    settings = Settings(database_url=database_url)  # HUB_STALE_FACTOR 2: stale after 2 × its 60 minutes
    synced = datetime(2025, 1, 1, 9, tzinfo=timezone.utc)
    session = observer(database_url)
    session.add(ConnectorState(tenant_id=tenant["id"], connector="buzzsprout", interval_minutes=60,
                               last_sync_at=synced, cursor={}))
    session.commit()
    session.close()
    minutes = lambda m: synced + timedelta(minutes=m)  # noqa: E731

    assert check_sources(settings, now=minutes(90)) == {tenant["id"]: []}, "first judged fresh: nothing to say"
    assert check_sources(settings, now=minutes(120)) == {tenant["id"]: []}, "exactly 2 × 60 minutes is not past it"
    assert check_sources(settings, now=minutes(121)) == {tenant["id"]: [("connector:buzzsprout", "stale")]}
    assert check_sources(settings, now=minutes(300)) == {tenant["id"]: []}, "still stale: said once"
    (stale,) = events(database_url, "source.stale")
    assert (stale.subject, stale.payload["kind"], stale.payload["cadence_seconds"], stale.payload["cadence_from"],
            stale.payload["silent_seconds"], stale.payload["last_seen_at"]) == (
        "connector:buzzsprout", "connector", 3600, "schedule", 121 * 60, synced.isoformat())

    # The status page draws it red, and /metrics counts it (totals only: no tenant, no source key).
    app = create_app({"database_url": database_url, "redis_url": None})
    client = app.test_client()
    page = client.get("/admin", auth=("admin", "test-admin-token-0123456789")).get_data(as_text=True)
    assert '<tr data-source="connector:buzzsprout" class="source-stale">' in page
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'hub_sources{kind="connector",state="stale"} 1.0' in scraped and "connector:buzzsprout" not in scraped

    session = observer(database_url)
    state = session.query(ConnectorState).one()
    state.last_sync_at = minutes(310)  # a sync landed a page
    session.commit()
    session.close()
    assert check_sources(settings, now=minutes(315)) == {tenant["id"]: [("connector:buzzsprout", "fresh")]}
    assert check_sources(settings, now=minutes(320)) == {tenant["id"]: []}
    (fresh,) = events(database_url, "source.fresh")
    assert fresh.payload["previous_state"] == "stale" and len(events(database_url, "source.stale")) == 1
    page = client.get("/admin", auth=("admin", "test-admin-token-0123456789")).get_data(as_text=True)
    assert '<tr data-source="connector:buzzsprout" class="source-fresh">' in page


def test_sheet_tabs_and_shop_webhooks_have_a_learnt_cadence(database_url, tenant):
    from hub.jobs.sources import check_sources
    from hub.models import EtlImport, WebhookReceipt

    settings = Settings(database_url=database_url)
    start = datetime(2025, 1, 1, 9, tzinfo=timezone.utc)
    session = observer(database_url)
    for day in range(4):  # a tab pushed daily, and a shop's orders every 6 hours
        imp, _ = create_import(session, tenant_id=tenant["id"], source="sheets", table_name="metrics_daily",
                               input_format="sheet_push", payload=f'{{"d": {day}}}'.encode(),
                               context={"spreadsheet_id": "SHEET1", "sheet": "metrics_daily"})
        imp.created_at = start + timedelta(days=day)
    for n in range(5):
        session.add(WebhookReceipt(tenant_id=tenant["id"], platform="shopify", topic="orders/create",
                                   event_id=f"e{n}", body=b"{}", created_at=start + timedelta(hours=6 * n)))
    # An upload is no source with a cadence: people upload when they like.
    create_import(session, tenant_id=tenant["id"], source="upload", table_name="metrics_daily", input_format="csv",
                  payload=b"day\n")
    session.commit()
    session.close()

    # Last push day 3 09:00, cadence 1 day: stale after day 5 09:00. Last order day 1 09:00, cadence 6 h: stale after 21:00.
    assert check_sources(settings, now=start + timedelta(days=1, hours=11)) == {tenant["id"]: []}
    assert check_sources(settings, now=start + timedelta(days=1, hours=13)) == {
        tenant["id"]: [("webhooks:shopify", "stale")]}
    assert check_sources(settings, now=start + timedelta(days=5, minutes=1)) == {
        tenant["id"]: [("sheets:SHEET1/metrics_daily", "stale")]}
    # Long after the 14 days of history: the sources are still known, and still stale (nothing said again).
    assert check_sources(settings, now=start + timedelta(days=40)) == {tenant["id"]: []}
    by_source = {e.subject: e.payload for e in events(database_url, "source.stale")}
    assert set(by_source) == {"webhooks:shopify", "sheets:SHEET1/metrics_daily"}
    assert (by_source["sheets:SHEET1/metrics_daily"]["cadence_seconds"], by_source["webhooks:shopify"]["cadence_seconds"],
            by_source["webhooks:shopify"]["cadence_from"]) == (86400, 6 * 3600, "learnt")


# --- a row's history -----------------------------------------------------------------------------

def history_rows(url, table):
    from hub.models import RowHistory

    session = observer(url)
    try:
        return session.query(RowHistory).filter_by(table_name=table).order_by(RowHistory.id).all()
    finally:
        session.close()


def test_every_change_to_an_io_a_deal_and_a_metrics_row_keeps_its_old_and_new_values(database_url, tenant):
    tid = tenant["id"]
    headers = {"Authorization": f"Bearer {tenant['secrets']['api']}"}
    io_v1 = IO_HEADER + "IO-1,2025-01-01,2025-01-10,ep-1,,1000,2500,live\n"
    import_text(database_url, tid, "io_bookings", io_v1, source="sheets")
    assert history_rows(database_url, "io_bookings") == [], "an insert is the row itself, not a change"
    io_v2 = IO_HEADER + "IO-1,2025-01-01,2025-01-12,ep-1,,2000,2500,live\n"
    summary = import_text(database_url, tid, "io_bookings", io_v2, source="upload")
    import_text(database_url, tid, "io_bookings", io_v2, source="upload")  # a replay changes nothing
    refresh_io_delivery(Settings(database_url=database_url), tid, today=date(2025, 1, 13))  # the flight ended

    app = create_app({"database_url": database_url, "redis_url": None})
    client = app.test_client()
    body = client.get("/api/v1/io/IO-1/history", headers=headers).get_json()
    assert [(h["source"], h["import_id"], h["changes"]) for h in body["history"]] == [
        ("lifecycle", None, {"status": {"old": "live", "new": "completed"}}),
        ("upload", summary["import_id"], {"flight_end": {"old": "2025-01-10", "new": "2025-01-12"},
                                          "booked_impressions": {"old": 1000, "new": 2000}}),
    ]
    assert client.get("/api/v1/io/IO-9/history", headers=headers).status_code == 404

    metrics = "day,episode_id,source,downloads,completion_rate\n2025-01-05,ep-1,buzzsprout,10,0.5\n"
    import_text(database_url, tid, "metrics_daily", metrics, source="buzzsprout")
    import_text(database_url, tid, "metrics_daily", metrics.replace(",10,", ",12,"), source="buzzsprout")
    (change,) = history_rows(database_url, "metrics_daily")
    assert (change.row_key, change.source, change.changes) == (
        "2025-01-05|ep-1|buzzsprout", "buzzsprout", {"downloads": {"old": 10, "new": 12}})
    # An empty cell filled, a rate changed and a value emptied: null and float values keep their JSON shape.
    sparse = "day,episode_id,source,downloads,completion_rate,ctr\n2025-01-05,ep-1,buzzsprout,,0.25,0.125\n"
    import_text(database_url, tid, "metrics_daily", sparse, source="buzzsprout")
    assert history_rows(database_url, "metrics_daily")[-1].changes == {
        "downloads": {"old": 12, "new": None}, "completion_rate": {"old": 0.5, "new": 0.25},
        "ctr": {"old": None, "new": 0.125}}

    import_text(database_url, tid, "deals", "campaign_id,name,stage\ncamp-1,Acme,lead\n", source="sheets")
    import_text(database_url, tid, "deals", "campaign_id,name,stage\ncamp-1,Acme Q1,proposal\n", source="zapier")
    assert client.patch("/api/v1/deals/camp-1/stage", json={"stage": "won"}, headers=headers).status_code == 200
    assert [(h.row_key, h.source, h.changes) for h in history_rows(database_url, "deals")] == [
        ("camp-1", "zapier", {"name": {"old": "Acme", "new": "Acme Q1"}, "stage": {"old": "lead", "new": "proposal"}}),
        ("camp-1", "api", {"stage": {"old": "proposal", "new": "won"}})]


def test_history_is_pruned_after_its_retention(database_url, tenant):
    from hub.jobs.sources import prune_row_history
    from hub.models import RowHistory

    tid = tenant["id"]
    import_text(database_url, tid, "io_bookings", IO_HEADER + "IO-1,2025-01-01,2025-01-10,ep-1,,1000,2500,live\n")
    for booked in (2000, 3000):
        import_text(database_url, tid, "io_bookings", IO_HEADER + f"IO-1,2025-01-01,2025-01-10,ep-1,,{booked},2500,live\n")
    now = utcnow()
    session = observer(database_url)
    older, newer = session.query(RowHistory).order_by(RowHistory.id).all()
    older.changed_at, newer.changed_at = now - timedelta(days=31), now - timedelta(days=29)
    session.commit()
    session.close()
    assert prune_row_history(Settings(database_url=database_url, history_retention_days=30), now=now) == 1
    assert [h.changes["booked_impressions"]["new"] for h in history_rows(database_url, "io_bookings")] == [3000]


# --- reconciling numbers -------------------------------------------------------------------------

def test_two_sources_differing_over_the_tolerance_are_flagged(database_url, tenant, tmp_path):
    """Tolerance 0.05: 1000 vs 960 (spread 0.04) agrees; 1000 vs 900 (0.10) is flagged; one source alone
    and a shop row (no downloads) are never compared."""
    tid = tenant["id"]
    add_ios(database_url, tid, "IO-1,2025-01-01,2099-12-31,ep-1,,100000,2500,live")
    add_downloads(database_url, tid, ("2025-01-05", "ep-1", 1000), ("2025-01-05", "ep-1", 960, "", "simplecast"),
                  ("2025-01-06", "ep-1", 1000), ("2025-01-06", "ep-1", 900, "", "simplecast"),
                  ("2025-01-06", "ep-2", 50), ("2025-01-07", "ep-1", 700),
                  ("2025-01-07", "ep-1", 5, "", "shopify"))
    headers = {"Authorization": f"Bearer {tenant['secrets']['api']}"}
    client = create_app({"database_url": database_url, "redis_url": None}).test_client()
    flagged = {"day": "2025-01-06", "episode_id": "ep-1", "sources": {"buzzsprout": 1000, "simplecast": 900},
               "difference": 100, "spread": 0.1}
    body = client.get("/api/v1/metrics/discrepancies?first=2025-01-01&last=2025-01-31", headers=headers).get_json()
    assert (body["tolerance"], body["discrepancies"]) == (0.05, [flagged])
    assert client.get("/api/v1/io/IO-1", headers=headers).get_json()["source_conflicts"] == [flagged]

    sheet_import(database_url, tid)
    workbook = tmp_path / "s.xlsx"  # the local workbook of the tenant's spreadsheet "s"
    session = observer(database_url)
    write_results(session, LocalWorkbookTarget(str(tmp_path)), tid, date(2025, 1, 8), tolerance=0.03)
    session.close()
    row = dict(zip(HEADER, [c.value for c in load_workbook(workbook)["hub_results"][2]]))
    assert row["source_conflicts"] == 2, "at 3% the 4% day is flagged too"
