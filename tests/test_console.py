"""The admin console tells what is not running and lets the admin sync a connector now."""
from __future__ import annotations

import re

import responses
from redis import Redis
from rq import Queue, Worker
from rq.cron import CronScheduler

from hub import create_app
from tests.helpers import rows
from tests.test_connector_sync import add_transistor
from tests.test_status_page import login, text_of

TRANSISTOR_SHOW = "https://api.transistor.fm/v1/shows/54321"


def attention(page) -> list[str]:
    found = re.search(r'<div class="attention" id="attention".*?</div>', page.text, re.S)
    return [] if found is None else re.findall(r"<li>(.*?)</li>", found.group(0), re.S)


def test_a_red_banner_names_the_missing_worker_and_scheduler_until_they_run(database_url, redis_url, tenant):
    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    login(client)
    problems = attention(client.get("/admin"))
    assert len(problems) == 2
    assert "No worker is listening on queue &#39;hub&#39;" in problems[0] and "python -m hub worker" in problems[0]
    assert "The scheduler is not running" in problems[1] and "python -m hub scheduler" in problems[1]

    connection = Redis.from_url(redis_url)
    worker = Worker([Queue("hub", connection=connection)], connection=connection, name="console-test-worker")
    worker.register_birth()
    scheduler = CronScheduler(connection=connection, name="console-test-scheduler")
    scheduler.register_birth()
    try:
        assert attention(client.get("/admin")) == [], "both run: nothing to say"
    finally:
        worker.register_death()
        scheduler.register_death()
    assert len(attention(client.get("/admin"))) == 2


def test_inline_jobs_with_a_scheduled_connector_say_nothing_runs_it(client, database_url, tenant):
    login(client)
    assert attention(client.get("/admin")) == []
    add_transistor(database_url, "acme", every=60)
    (problem,) = attention(client.get("/admin"))
    assert problem.startswith("1 connector(s) have a schedule, but jobs run inline")


def test_sync_now_queues_the_connectors_sync_on_rq(database_url, redis_url, tenant):
    add_transistor(database_url, "acme", every=60)
    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    csrf = login(client)
    done = client.post(f"/admin/connectors/{tenant['id']}/transistor/sync", data={"csrf_token": csrf},
                       follow_redirects=True)
    assert "transistor: sync queued; a worker runs it." in text_of(done)
    assert Queue("hub", connection=Redis.from_url(redis_url)).job_ids == [f"sync-{tenant['id']}-transistor"]
    refused = client.post(f"/admin/connectors/{tenant['id']}/transistor/sync", data={"csrf_token": "forged"})
    assert refused.status_code == 400
    assert client.post(f"/admin/connectors/{tenant['id']}/buzzsprout/sync",
                       data={"csrf_token": csrf}).status_code == 404


def test_sync_now_inline_runs_it_and_shows_its_failure(client, database_url, tenant):
    from hub.models import ConnectorState

    add_transistor(database_url, "acme", every=60)
    csrf = login(client)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        # Transistor's error body for a bad key (developers.transistor.fm: errors as {"errors": [{"title": …}]}).
        wire.add(responses.GET, re.compile(r"https://api\.transistor\.fm/v1/.*"), status=401,
                 json={"errors": [{"title": "Unauthorized"}]})
        done = client.post(f"/admin/connectors/{tenant['id']}/transistor/sync", data={"csrf_token": csrf},
                           follow_redirects=True)
    assert "transistor: the sync failed: Transistor: GET" in text_of(done) and "HTTP 401" in text_of(done)
    (state,) = rows(database_url, ConnectorState)
    assert "HTTP 401" in state.last_error


def test_imports_page_fifty_at_a_time_and_filters_keep_to_their_pages(client, database_url, tenant):
    from tests.helpers import import_text

    for n in range(51):
        import_text(database_url, tenant["id"], "metrics_daily",
                    f"day,episode_id,source,downloads\n2025-01-06,ep-{n},manual,{n}\n")
    login(client)
    first = client.get("/admin").text
    assert first.count('<tr data-import-id="') == 50 and 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get("/admin?page=2").text
    assert second.count('<tr data-import-id="') == 1 and 'rel="prev"' in second and 'rel="next"' not in second
    assert client.get("/admin?status=failed").text.count('<tr data-import-id="') == 0
    assert client.get("/admin?source=test&page=2").text.count('<tr data-import-id="') == 1


def test_auto_refresh_is_a_meta_refresh_the_admin_turns_on_and_off(client, database_url):
    login(client)
    assert 'http-equiv="refresh"' not in client.get("/admin").text
    on = client.get("/admin?refresh=30").text
    assert '<meta http-equiv="refresh" content="30">' in on and "<strong>every 30 s</strong>" in on
    assert 'http-equiv="refresh"' not in client.get("/admin?refresh=1").text, "only the offered intervals"


def test_an_imports_row_errors_are_grouped_by_what_is_wrong(client, database_url, tenant):
    from tests.helpers import import_text

    body = "day,episode_id,source,downloads\n" + "".join(
        f"2025-01-{d:02d},ep-1,manual,{'n/a' if d % 3 else d}\n" for d in range(1, 13)) + "someday,ep-2,manual,5\n"
    summary = import_text(database_url, tenant["id"], "metrics_daily", body)
    assert summary["counts"]["refused"] == 9
    login(client)
    page = client.get(f"/admin/imports/{summary['import_id']}").text
    table = re.search(r'<table id="grouped-row-errors">(.*?)</table>', page, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)]
    # Eight refusals of one kind in one line (their first rows listed), then the one bad date.
    assert cells[0:2] == ["8", "downloads"] and cells[3].startswith("2, 3, 5, 6, 8, 9, 11, 12")
    assert "row 2" not in cells[2] and "n/a" not in cells[2]
    assert cells[4:6] == ["1", "day"] and cells[7] == "14"
