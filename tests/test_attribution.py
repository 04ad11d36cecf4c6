"""Attribution: promo codes beat vanity URLs, windows, one IO per order, and totals recomputed, never added."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hub.attribution.attribute import apply_order, url_key
from connectors.orders import Order

from hub.models import AttributionEvent, MetricsDaily
from tests.helpers import import_text, observer, rows

IOS = (
    "io_id,flight_start,flight_end,episode_id,promo_code,vanity_url,status,currency\n"
    "IO-1,2025-01-01,2025-01-31,ep-1,TECH20,https://acme.example/techtalk,live,USD\n"
    "IO-2,2025-01-10,2025-01-20,ep-2,,https://www.acme.example/run/,live,USD\n"
    "IO-3,2025-01-01,2025-01-31,ep-3,GONE,,cancelled,USD\n"
)


@pytest.fixture
def booked(database_url, tenant):
    assert import_text(database_url, tenant["id"], "io_bookings", IOS)["status"] == "completed"
    return tenant


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc)


def order(order_id="1001", day="2025-01-15", total=4999, codes=(), urls=(), version=None, **extra) -> Order:
    return Order(platform="shopify", order_id=order_id, occurred_at=at(day), total_cents=total, currency=extra.pop("currency", "USD"),
                 codes=list(codes), urls=list(urls), version_at=version or at(day), **extra)


def apply(url, tenant, *orders):
    session = observer(url)
    try:
        results = [apply_order(session, tenant["id"], o) for o in orders]
        session.commit()
        return results
    finally:
        session.close()


def shop_totals(url) -> dict:
    return {(r.day.isoformat(), r.episode_id): (r.conversions, r.revenue_cents)
            for r in rows(url, MetricsDaily) if r.source == "shopify"}


def test_url_keys_ignore_query_www_and_trailing_slash():
    assert url_key("https://www.Acme.example/TechTalk/?utm_source=pod") == ("acme.example", "/techtalk")
    assert url_key("/techtalk?ref=x") == (None, "/techtalk")
    assert url_key("acme.example/techtalk") == ("acme.example", "/techtalk")


def test_promo_code_case_and_space_insensitive(database_url, booked):
    (event,) = apply(database_url, booked, order(codes=[" tech20 "]))
    assert (event.io_id, event.matched_by, event.status) == ("IO-1", "promo_code", "open")
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (1, 4999)}


def test_vanity_url_by_host_and_path_or_bare_path(database_url, booked):
    apply(database_url, booked, order("2001", urls=["https://acme.example/run?utm=ad"]),
          order("2002", urls=["/run/"]), order("2003", urls=["https://other.example/run"]))
    events = {e.order_id: e for e in rows(database_url, AttributionEvent)}
    assert (events["2001"].io_id, events["2001"].matched_by) == ("IO-2", "vanity_url")
    assert events["2002"].io_id == "IO-2"
    assert (events["2003"].io_id, events["2003"].status) == (None, "unattributed"), "another host is not our URL"


def test_codes_win_over_urls_and_an_order_counts_once(database_url, booked):
    (event,) = apply(database_url, booked, order(codes=["TECH20"], urls=["https://acme.example/run"]))
    assert event.io_id == "IO-1"
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (1, 4999)}


def test_conversion_window_after_flight_end(database_url, booked):
    apply(database_url, booked, order("3001", day="2025-03-02", codes=["TECH20"]),   # 30 days after Jan 31
          order("3002", day="2025-03-03", codes=["TECH20"]),                         # 31 days: too late
          order("3003", day="2024-12-31", codes=["TECH20"]),                         # before the flight
          order("3004", codes=["GONE"]))                                             # a cancelled IO attracts nothing
    events = {e.order_id: e.io_id for e in rows(database_url, AttributionEvent)}
    assert events == {"3001": "IO-1", "3002": None, "3003": None, "3004": None}


def test_updates_refunds_cancellations_and_replays_converge(database_url, booked):
    apply(database_url, booked, order(total=4999, codes=["TECH20"]), order("1002", total=1000, codes=["TECH20"]))
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (2, 5999)}
    later = at("2025-01-16")
    apply(database_url, booked, order(total=2999, codes=["TECH20"], version=later))   # partly refunded
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (2, 3999)}
    apply(database_url, booked, order(total=4999, codes=["TECH20"], version=later - timedelta(hours=1)))  # an old retry
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (2, 3999)}, "an older version never overwrites"
    apply(database_url, booked, order(total=2999, codes=["TECH20"], version=later))   # the same again
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (2, 3999)}
    apply(database_url, booked, order(total=2999, codes=["TECH20"], version=at("2025-01-17"), cancelled=True))
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (1, 1000)}, "a cancelled order counts for nothing"


def test_an_order_that_changes_io_moves_its_totals(database_url, booked):
    apply(database_url, booked, order(codes=["TECH20"]))
    apply(database_url, booked, order(codes=[], urls=["/run"], version=at("2025-01-16")))  # code removed on edit
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (0, 0), ("2025-01-15", "ep-2"): (1, 4999)}


def test_other_currency_is_flagged_not_summed(database_url, booked):
    apply(database_url, booked, order(codes=["TECH20"], total=5000, currency="EUR"), order("1002", codes=["TECH20"], total=100))
    statuses = {e.order_id: e.status for e in rows(database_url, AttributionEvent)}
    assert statuses == {"1001": "currency_mismatch", "1002": "open"}
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (2, 100)}


def test_a_lead_converts_without_revenue(database_url, booked):
    apply(database_url, booked, order(codes=["TECH20"], total=0, currency=None, kind="lead"))
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (1, 0)}


def test_zapier_conversions_stream_goes_through_the_pipeline(client, database_url, booked):
    body = [{"order_id": "Z-1", "occurred_at": "2025-01-15T10:00:00Z", "revenue": "19.99", "currency": "USD",
             "promo_code": "tech20"},
            {"order_id": "Z-2", "occurred_at": "2025-01-15", "kind": "lead", "landing_url": "https://acme.example/run"},
            {"order_id": "Z-3", "occurred_at": "someday"}]
    response = client.post(f"/webhooks/zapier/{booked['slug']}/conversions", json=body,
                           headers={"Authorization": f"Bearer {booked['secrets']['zapier']}"})
    assert response.status_code == 202
    assert response.get_json()["status"] == "completed_with_errors"
    zap = {(r.day.isoformat(), r.episode_id): (r.conversions, r.revenue_cents) for r in rows(database_url, MetricsDaily)
           if r.source == "zapier"}
    assert zap == {("2025-01-15", "ep-1"): (1, 1999), ("2025-01-15", "ep-2"): (1, 0)}


def test_versions_with_utc_offsets_compare_as_instants(database_url, booked):
    """Shopify sends -04:00 times; SQLite keeps no offset, so they must be stored as UTC to compare right."""
    eastern = timezone(timedelta(hours=-4))
    newer = datetime(2025, 1, 16, 10, 0, tzinfo=eastern)                # 14:00 UTC
    apply(database_url, booked, order(total=2999, codes=["TECH20"], version=newer))
    older = datetime(2025, 1, 16, 13, 0, tzinfo=timezone.utc)          # an hour before it
    assert apply(database_url, booked, order(total=4999, codes=["TECH20"], version=older)) == [None]
    assert shop_totals(database_url) == {("2025-01-15", "ep-1"): (1, 2999)}
    (event,) = rows(database_url, AttributionEvent)
    assert event.version_at == newer
