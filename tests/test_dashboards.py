"""Dashboards as data: the creator, advertiser and ops figures against seeded rows, and the flag."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from hub import create_app
from hub.config import FeatureFlags

from hub.models import (
    Campaign,
    ConnectorState,
    Episode,
    Event,
    HookDelivery,
    HookSubscription,
    IoBooking,
    MetricsDaily,
    Podcast,
    Sponsor,
    utcnow,
)
from tests.conftest import make_tenant
from tests.helpers import add_attributed_order, import_text, observer

AS_OF = "2025-03-31"


def auth(tenant):
    return {"Authorization": f"Bearer {tenant['secrets']['api']}"}


@pytest.fixture
def cards(database_url):
    return create_app({"database_url": database_url, "redis_url": None,
                       "flags": replace(FeatureFlags(), new_dashboard_cards=True)}).test_client()


def metric(tenant_id, day, episode, downloads, podcast="pod-a", source="buzzsprout"):
    return MetricsDaily(tenant_id=tenant_id, day=date.fromisoformat(day), episode_id=episode, podcast_id=podcast,
                        source=source, downloads=downloads)


def seed(url, tenant_id):
    session = observer(url)
    session.add_all([
        Podcast(tenant_id=tenant_id, podcast_id="pod-a", title="Tech Talk", category="Technology"),
        Podcast(tenant_id=tenant_id, podcast_id="pod-b", title="Quiet Show"),
        Episode(tenant_id=tenant_id, episode_id="a2", podcast_id="pod-a", title="The big one"),
        Sponsor(tenant_id=tenant_id, sponsor_id="sp-1", name="Acme", category="Tech"),
        Sponsor(tenant_id=tenant_id, sponsor_id="sp-2", name="Idle Corp"),
        Campaign(tenant_id=tenant_id, campaign_id="camp-1", sponsor_id="sp-1", name="Acme Q1", budget_cents=500000,
                 stage="won"),
        Campaign(tenant_id=tenant_id, campaign_id="camp-2", sponsor_id="sp-1", name="Acme Q2", stage="proposal"),
        metric(tenant_id, "2025-03-31", "a1", 100),
        metric(tenant_id, "2025-03-25", "a1", 50),            # the first day of the last 7
        metric(tenant_id, "2025-03-10", "a1", 200),
        metric(tenant_id, "2025-02-20", "a1", 300),           # the 30 days before
        metric(tenant_id, "2025-01-20", "a1", 4000),          # older than both windows
        metric(tenant_id, "2025-05-01", "a1", 4000),          # after as_of (and IO-1's flight)
        metric(tenant_id, "2025-03-30", "a1", 9999, source="shopify"),  # shop rows are not downloads
        metric(tenant_id, "2025-03-20", "a2", 500),
        metric(tenant_id, "2025-03-21", "a2", 100, podcast=None),  # its podcast comes from the episode
        metric(tenant_id, "2025-03-30", "a3", 10),
        IoBooking(tenant_id=tenant_id, io_id="IO-1", campaign_id="camp-1", episode_id="a1", status="live",
                  flight_start=date(2025, 3, 1), flight_end=date(2025, 4, 30), booked_impressions=1000,
                  booked_cpm_cents=2000, promo_code="ACME"),
        IoBooking(tenant_id=tenant_id, io_id="IO-2", campaign_id="camp-1", episode_id="a2", status="completed",
                  flight_start=date(2025, 3, 15), flight_end=date(2025, 3, 25), booked_impressions=500,
                  booked_cpm_cents=4000),
        IoBooking(tenant_id=tenant_id, io_id="IO-3", status="scheduled", flight_start=date(2025, 4, 1),
                  flight_end=date(2025, 4, 10), booked_impressions=200),
        IoBooking(tenant_id=tenant_id, io_id="IO-4", campaign_id="camp-1", status="cancelled",
                  flight_start=date(2025, 3, 1), flight_end=date(2025, 3, 2), booked_impressions=10000,
                  booked_cpm_cents=1000),
    ])
    add_attributed_order(session, tenant_id, "o1", "IO-1", 1500)
    add_attributed_order(session, tenant_id, "o2", "IO-1", 2500)
    add_attributed_order(session, tenant_id, "o3", "IO-1", 7000, status="cancelled")
    session.commit()
    session.close()


def test_creator_dashboard(cards, database_url, tenant):
    seed(database_url, tenant["id"])
    response = cards.get(f"/api/v1/dashboard/creator?as_of={AS_OF}", headers=auth(tenant))
    assert response.status_code == 200
    body = response.get_json()
    assert body["as_of"] == AS_OF
    pod_a, pod_b = body["podcasts"]
    assert (pod_a["podcast_id"], pod_a["title"], pod_a["downloads_7d"], pod_a["downloads_30d"],
            pod_a["downloads_prev_30d"], pod_a["growth"]) == ("pod-a", "Tech Talk", 160, 960, 300, 2.2)
    assert pod_a["top_episodes"] == [
        {"episode_id": "a2", "title": "The big one", "downloads_30d": 600},
        {"episode_id": "a1", "title": None, "downloads_30d": 350},
        {"episode_id": "a3", "title": None, "downloads_30d": 10},
    ]
    (active,) = pod_a["active_ios"]
    assert (active["io_id"], active["status"], active["delivered_impressions"]) == ("IO-1", "live", 350)
    assert active["pacing"] == round(350 / (1000 * 31 / 61), 3)
    assert (pod_b["podcast_id"], pod_b["downloads_30d"], pod_b["growth"], pod_b["top_episodes"], pod_b["active_ios"]) \
        == ("pod-b", 0, None, [], [])
    assert [io["io_id"] for io in body["unassigned"]["active_ios"]] == ["IO-3"]


def test_advertiser_dashboard(cards, database_url, tenant):
    seed(database_url, tenant["id"])
    body = cards.get(f"/api/v1/dashboard/advertiser?as_of={AS_OF}", headers=auth(tenant)).get_json()
    by_id = {c["campaign_id"]: c for c in body["campaigns"]}
    assert list(by_id) == ["camp-1", "camp-2", None]
    camp = by_id["camp-1"]
    assert (camp["name"], camp["sponsor_id"], camp["stage"], camp["budget_cents"]) == ("Acme Q1", "sp-1", "won", 500000)
    assert [io["io_id"] for io in camp["ios"]] == ["IO-1", "IO-4", "IO-2"], "a cancelled IO is listed"
    assert camp["totals"] == {"ios": 2, "booked_impressions": 1500, "delivered_impressions": 950, "conversions": 2,
                              "revenue_cents": 4000, "cost_cents": 4000, "cpa_cents": 2000,
                              "delivered_vs_booked": 0.633}, "but not counted"
    io_1 = next(io for io in camp["ios"] if io["io_id"] == "IO-1")
    assert (io_1["conversions"], io_1["revenue_cents"], io_1["cpa_cents"]) == (2, 4000, 1000)
    assert by_id["camp-2"]["totals"]["ios"] == 0 and by_id["camp-2"]["totals"]["cpa_cents"] is None
    assert [io["io_id"] for io in by_id[None]["ios"]] == ["IO-3"]
    sponsors = {s["sponsor_id"]: s for s in body["sponsors"]}
    assert sponsors["sp-1"]["campaigns"] == ["camp-1", "camp-2"]
    assert (sponsors["sp-1"]["name"], sponsors["sp-1"]["totals"]["conversions"], sponsors["sp-1"]["totals"]["cpa_cents"],
            sponsors["sp-1"]["totals"]["delivered_vs_booked"]) == ("Acme", 2, 2000, 0.633)
    assert sponsors["sp-2"]["totals"]["ios"] == 0 and sponsors["sp-2"]["campaigns"] == []

    other = make_tenant(database_url, "other")
    assert cards.get("/api/v1/dashboard/advertiser", headers=auth(other)).get_json()["campaigns"] == []


def test_ops_dashboard(cards, database_url, tenant):
    tenant_id = tenant["id"]
    import_text(database_url, tenant_id, "metrics_daily", "day,episode_id,source,downloads\n2025-01-01,e1,manual,5\n")
    import_text(database_url, tenant_id, "metrics_daily",
                "day,episode_id,source,downloads\n2025-01-02,e1,manual,5\n2025-01-03,e1,manual,many\n")
    import_text(database_url, tenant_id, "metrics_daily", "episode_id,downloads\ne1,5\n")  # no day, no source
    session = observer(database_url)
    subscription = HookSubscription(tenant_id=tenant_id, event="etl.error", target_url="https://hooks.example/x")
    event = Event(id="e" * 32, tenant_id=tenant_id, name="etl.error", payload={}, dispatched_at=utcnow())
    session.add_all([
        ConnectorState(tenant_id=tenant_id, connector="transistor", status="failed",
                       last_error="401 Unauthorized: bad api_key"),
        ConnectorState(tenant_id=tenant_id, connector="buzzsprout", status="idle"),
        subscription, event,
    ])
    session.flush()
    session.add(HookDelivery(tenant_id=tenant_id, subscription_id=subscription.id, event_id=event.id, status="pending",
                             attempts=2, last_status_code=503))
    session.commit()
    session.close()

    body = cards.get("/api/v1/dashboard/ops", headers=auth(tenant)).get_json()
    assert body["imports"] == {"by_status": {"completed": 1, "completed_with_errors": 1, "failed": 1},
                               "total": 3, "rows": 3, "rows_refused": 1}
    (failed,) = body["failed_imports"]
    assert failed["error"].startswith("header: missing required columns day, source")
    assert [e["message"] for e in body["recent_row_errors"]][0].startswith("header: missing required columns")
    assert "row 3, downloads: expected a whole number >= 0, found 'many'" in [e["message"] for e in body["recent_row_errors"]]
    assert body["connectors"] == [
        {"connector": "buzzsprout", "status": "idle", "last_sync_at": None, "last_error": None},
        {"connector": "transistor", "status": "failed", "last_sync_at": None, "last_error": "401 Unauthorized: bad api_key"},
    ]
    deliveries = body["hook_deliveries"]
    assert (deliveries["pending"], deliveries["by_status"]) == (1, {"pending": 1})
    assert [(d["event"], d["target_url"], d["attempts"], d["last_status_code"]) for d in deliveries["pending_list"]] == [
        ("etl.error", "https://hooks.example/x", 2, 503)]
    # etl.import_completed x2 and etl.error x2 from the imports, not yet dispatched (no dispatch ran here).
    assert body["events_waiting_dispatch"] == 4

    other = make_tenant(database_url, "other")
    theirs = cards.get("/api/v1/dashboard/ops", headers=auth(other)).get_json()
    assert theirs["imports"]["total"] == 0 and theirs["connectors"] == [] and theirs["hook_deliveries"]["pending"] == 0


def test_dashboard_figures_default_to_today(cards, database_url, tenant):
    session = observer(database_url)
    today = utcnow().date()
    session.add_all([metric(tenant["id"], (today - timedelta(days=d)).isoformat(), "a1", 10) for d in (0, 6, 7, 29, 30)])
    session.commit()
    session.close()
    (pod,) = cards.get("/api/v1/dashboard/creator", headers=auth(tenant)).get_json()["podcasts"]
    assert (pod["downloads_7d"], pod["downloads_30d"], pod["downloads_prev_30d"]) == (20, 40, 10)
    bad = cards.get("/api/v1/dashboard/creator?as_of=31/03/2025", headers=auth(tenant))
    assert (bad.status_code, bad.get_json()["error"]) == (400, "as_of: expected a date like 2025-01-31, found '31/03/2025'")
    assert cards.get("/api/v1/dashboard/creator").status_code == 401


def test_dashboards_switched_off(database_url, tenant):
    client = create_app({"database_url": database_url, "redis_url": None,
                         "flags": replace(FeatureFlags(), new_dashboard_cards=False)}).test_client()
    for card in ("creator", "advertiser", "ops"):
        response = client.get(f"/api/v1/dashboard/{card}", headers=auth(tenant))
        assert (response.status_code, response.get_json()["error"]) == (
            404, "Dashboard cards are switched off on this hub (ENABLE_NEW_DASHBOARD_CARDS=false)")
