"""Matchmaking: scores from seeded downloads, growth, completion and past results per category; the
job and its event; the API; ENABLE_MATCHMAKING switching it off."""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import delete

from hub import create_app
from hub.config import FeatureFlags

from hub.models import Campaign, Event, IoBooking, Match, MetricsDaily, Podcast, Sponsor, utcnow
from hub.workflows.matchmaking import recalculate
from tests.helpers import add_attributed_order, observer, rows

TODAY = date(2025, 3, 31)


def seed(url: str, tenant_id: int, today: date) -> None:
    """Three podcasts, three sponsors (one known only from a campaign), two IOs with known results."""
    session = observer(url)
    day = lambda n: today - timedelta(days=n)  # noqa: E731
    session.add_all([
        Podcast(tenant_id=tenant_id, podcast_id="pod-a", title="Tech Talk", category="Technology"),
        Podcast(tenant_id=tenant_id, podcast_id="pod-b", title="Laugh Hour", category="Comedy"),
        Sponsor(tenant_id=tenant_id, sponsor_id="sp-tech", name="Gadgets Inc", category="technology"),
        Sponsor(tenant_id=tenant_id, sponsor_id="sp-food", name="Snacks Co", category="Food"),
        Campaign(tenant_id=tenant_id, campaign_id="camp-1", sponsor_id="sp-tech", stage="won"),
        Campaign(tenant_id=tenant_id, campaign_id="camp-2", sponsor_id="sp-orphan", stage="lead"),
        # pod-c is known only from its metrics; a1's older rows carry no podcast_id (the episode says).
        MetricsDaily(tenant_id=tenant_id, day=day(0), episode_id="a1", podcast_id="pod-a", source="buzzsprout",
                     downloads=600, completion_rate=0.9),
        MetricsDaily(tenant_id=tenant_id, day=day(29), episode_id="a1", podcast_id="pod-a", source="buzzsprout",
                     downloads=400, completion_rate=0.7),
        MetricsDaily(tenant_id=tenant_id, day=day(30), episode_id="a1", podcast_id=None, source="buzzsprout",
                     downloads=500),
        MetricsDaily(tenant_id=tenant_id, day=day(60), episode_id="a1", podcast_id="pod-a", source="buzzsprout",
                     downloads=7000, completion_rate=0.1),  # before both windows
        MetricsDaily(tenant_id=tenant_id, day=day(3), episode_id="a1", podcast_id="pod-a", source="shopify",
                     downloads=99999, conversions=3),  # shop rows are money, not listens
        MetricsDaily(tenant_id=tenant_id, day=day(5), episode_id="b1", podcast_id="pod-b", source="transistor",
                     downloads=100),
        MetricsDaily(tenant_id=tenant_id, day=day(40), episode_id="b1", podcast_id="pod-b", source="transistor",
                     downloads=100),
        MetricsDaily(tenant_id=tenant_id, day=day(1), episode_id="c1", podcast_id="pod-c", source="simplecast",
                     downloads=10, completion_rate=0.5),
        IoBooking(tenant_id=tenant_id, io_id="IO-1", campaign_id="camp-1", podcast_id="pod-a", flight_start=day(50),
                  flight_end=day(20), booked_impressions=10000, booked_cpm_cents=2500, status="completed"),
        IoBooking(tenant_id=tenant_id, io_id="IO-2", campaign_id="camp-1", episode_id="b1", flight_start=day(50),
                  flight_end=day(20), booked_impressions=10000, booked_cpm_cents=2500, status="completed"),
        IoBooking(tenant_id=tenant_id, io_id="IO-3", campaign_id="camp-1", podcast_id="pod-a", flight_start=day(-5),
                  flight_end=day(-1), booked_impressions=10**6, booked_cpm_cents=2500, status="scheduled"),  # not started
    ])
    for n in range(5):
        add_attributed_order(session, tenant_id, f"o{n}", "IO-1", 1000)
    add_attributed_order(session, tenant_id, "o-cancelled", "IO-2", status="cancelled")
    session.commit()
    session.close()


def run(url: str, tenant_id: int, today: date = TODAY) -> int:
    session = observer(url)
    try:
        scored = recalculate(session, tenant_id, today)
        session.commit()
        return scored
    finally:
        session.close()


def matches(url):
    return {(m.advertiser_id, m.podcast_id): m for m in rows(url, Match, Match.id)}


def auth(tenant):
    return {"Authorization": f"Bearer {tenant['secrets']['api']}"}


def test_scores_come_from_audience_growth_completion_and_category_results(database_url, tenant):
    seed(database_url, tenant["id"], TODAY)
    assert run(database_url, tenant["id"]) == 9  # 3 sponsors x 3 podcasts
    found = matches(database_url)
    best = found[("sp-tech", "pod-a")]
    # audience 30 (the biggest show), growth +100% clamped to 10, completion 0.8 -> 16,
    # fit: 5 conversions (15 * 5/20) at a CPA of 50.00 against 100.00 for all IOs (25).
    assert best.score == 84.75
    assert best.signals == {
        "as_of": "2025-03-31", "downloads_30d": 1000, "downloads_prev_30d": 500, "max_downloads_30d": 1000,
        "growth": 1.0, "completion_rate": 0.8, "sponsor_category": "technology", "podcast_category": "technology",
        "category_ios": 1, "category_conversions": 5, "category_cpa_cents": 5000, "tenant_cpa_cents": 10000,
        "components": {"audience": 30.0, "growth": 10.0, "completion": 16.0, "fit": 28.75},
    }
    assert best.rationale == (
        "Gadgets Inc on Tech Talk: Tech Talk had 1,000 downloads in the last 30 days; +100% on the 30 days before; "
        "80% average completion; 5 past conversions from 1 IO(s) of technology sponsors on technology podcasts at "
        "a CPA of 50.00 (all IOs: 100.00). Score 84.75/100.")

    # IO-2 is on pod-b through its episode: one IO of technology sponsors on comedy podcasts, no conversions.
    comedy = found[("sp-tech", "pod-b")]
    assert comedy.score == round(30 * math.log1p(100) / math.log1p(1000) + 5 + 10 + 0, 2)
    assert comedy.signals["growth"] == 0.0 and comedy.signals["completion_rate"] is None
    assert "1 past IO(s) of technology sponsors on comedy podcasts brought no conversions" in comedy.rationale
    assert found[("sp-food", "pod-a")].score == 66.0  # no history: different categories give 10
    assert "no past IOs of food sponsors on technology podcasts; different categories" in found[("sp-food", "pod-a")].rationale
    orphan = found[("sp-orphan", "pod-c")]
    assert orphan.signals["sponsor_category"] is None and orphan.signals["podcast_category"] is None
    assert "no category known for the sponsor and podcast" in orphan.rationale
    assert orphan.score == round(30 * math.log1p(10) / math.log1p(1000) + 5 + 10 + 10, 2)
    assert all(0 <= m.score <= 100 and m.rationale and m.signals for m in found.values())


def test_recalculating_is_deterministic_and_keeps_stale_pairs(database_url, tenant):
    seed(database_url, tenant["id"], TODAY)
    run(database_url, tenant["id"])
    before = {key: (m.score, m.rationale, m.signals, m.updated_at) for key, m in matches(database_url).items()}
    assert run(database_url, tenant["id"]) == 9
    assert {key: (m.score, m.rationale, m.signals, m.updated_at) for key, m in matches(database_url).items()} == before

    session = observer(database_url)
    session.execute(delete(Sponsor).where(Sponsor.sponsor_id == "sp-food"))
    session.commit()
    session.close()
    assert run(database_url, tenant["id"], TODAY + timedelta(days=1)) == 6
    after = matches(database_url)
    assert len(after) == 9, "a sponsor that is gone keeps its last scores"
    assert after[("sp-food", "pod-a")].signals["as_of"] == "2025-03-31"
    assert after[("sp-tech", "pod-a")].signals["as_of"] == "2025-04-01"


def test_recalculate_api_inline_emits_the_event_and_lists_the_top(database_url, tenant):
    seed(database_url, tenant["id"], utcnow().date())
    client = create_app({"database_url": database_url, "redis_url": None,
                         "flags": replace(FeatureFlags(), matchmaking=True)}).test_client()
    assert client.get("/api/match/top", headers=auth(tenant)).get_json() == {"matches": []}
    response = client.post("/api/match/recalculate", headers=auth(tenant))
    assert response.status_code == 202
    assert response.get_json() == {"status": "inline", "job_id": f"match-{tenant['id']}", "matches": 9}
    (event,) = [e for e in rows(database_url, Event) if e.name == "match.recalculated"]
    assert event.payload == {"matches": 9} and event.tenant_id == tenant["id"]
    assert event.dispatched_at is not None, "the dispatch ran after the commit"

    top = client.get("/api/match/top?limit=3", headers=auth(tenant)).get_json()["matches"]
    assert [(m["advertiser_id"], m["podcast_id"], m["score"]) for m in top] == [
        ("sp-tech", "pod-a", 84.75), ("sp-food", "pod-a", 66.0), ("sp-orphan", "pod-a", 66.0)]  # ties by advertiser
    assert top[0]["rationale"].startswith("Gadgets Inc on Tech Talk:") and top[0]["signals"]["category_conversions"] == 5
    only = client.get("/api/match/top?advertiser_id=sp-food&limit=10", headers=auth(tenant)).get_json()["matches"]
    assert [(m["advertiser_id"], m["podcast_id"]) for m in only] == [
        ("sp-food", "pod-a"), ("sp-food", "pod-b"), ("sp-food", "pod-c")]
    bad = client.get("/api/match/top?limit=0", headers=auth(tenant))
    assert (bad.status_code, bad.get_json()["error"]) == (400, "limit: expected a whole number from 1 to 100, found '0'")
    assert client.post("/api/match/recalculate").status_code == 401


def test_recalculate_enqueues_one_job_per_tenant(database_url, redis_url, tenant):
    """With Redis the request only queues the job, under the tenant's job id, on the real queue."""
    from redis import Redis
    from rq import Queue

    from hub.jobs import matchmaking as job

    client = create_app({"database_url": database_url, "redis_url": redis_url,
                         "flags": replace(FeatureFlags(), matchmaking=True)}).test_client()
    response = client.post("/api/match/recalculate", headers=auth(tenant))
    assert (response.status_code, response.get_json()) == (202, {"status": "queued", "job_id": f"match-{tenant['id']}"})
    queued = Queue("hub", connection=Redis.from_url(redis_url)).jobs
    assert [(j.func, j.args, j.id) for j in queued] == [(job.recalculate_job, (tenant["id"],), f"match-{tenant['id']}")]
    again = client.post("/api/match/recalculate", headers=auth(tenant))
    assert again.get_json()["status"] == "already-queued", "a second request while one is queued is not a second job"
    assert rows(database_url, Match) == [], "nothing computed in the request"


def test_recalculate_job_reads_settings_from_the_environment(database_url, tenant, hub_env):
    from hub.jobs.matchmaking import recalculate_job

    seed(database_url, tenant["id"], utcnow().date())
    hub_env(database_url)
    assert recalculate_job(tenant["id"]) == 9
    assert [e.payload for e in rows(database_url, Event) if e.name == "match.recalculated"] == [{"matches": 9}]


def test_matchmaking_switched_off(database_url, tenant):
    client = create_app({"database_url": database_url, "redis_url": None,
                         "flags": replace(FeatureFlags(), matchmaking=False)}).test_client()
    for response in (client.post("/api/match/recalculate", headers=auth(tenant)),
                     client.get("/api/match/top", headers=auth(tenant))):
        assert (response.status_code, response.get_json()["error"]) == (
            404, "Matchmaking is switched off on this hub (ENABLE_MATCHMAKING=false)")
    assert rows(database_url, Event) == []
