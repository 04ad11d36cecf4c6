"""Per-tenant quotas (hub/quotas.py): rows per day from every surface, requests per minute per surface.

Each quota's 429 (Retry-After and a message naming the quota, its limit and its reset), nothing
accepted lost, requests that fail authentication neither counted nor told, the window passing (the
limiter's clock moved in memory; Redis's own key expiry), overrides from the CLI, counters shared
through the real Redis, and usage on the admin page and in /metrics.
"""
from __future__ import annotations

import io
import json
import time
from datetime import datetime

import pytest
import responses
from click.testing import CliRunner
from redis import Redis

import limits.storage.memory
from hub import create_app, quotas
from hub.cli import main as cli_main
from hub.config import load_settings
from hub.db import for_tenant, make_session_factory
from hub.ingest.readers import sheet_push_row_count
from hub.jobs.connectors import SyncError, run_sync
from hub.models import ConnectorState, EtlImport, MetricsDaily
from hub.quotas import set_quota
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import rows
from tests.test_commerce_webhooks import post_shopify, store_secret
from tests.test_connector_sync import ANALYTICS, ANALYTICS_URL, add_transistor
from tests.test_sheets_webhook import sign

ADMIN_TOKEN = "test-admin-token-0123456789"


def csv_rows(count: int, first_day: int = 1) -> str:
    lines = [f"2025-01-{day:02d},007,buzzsprout,{day * 10}" for day in range(first_day, first_day + count)]
    return "day,episode_id,source,downloads\n" + "\n".join(lines) + "\n"


def upload(client, token, body: str, key: str | None = None):
    return client.post("/api/v1/etl/upload",
                       data={"table": "metrics_daily", "file": (io.BytesIO(body.encode()), "m.csv")},
                       headers={"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})},
                       content_type="multipart/form-data")


def api(client, token):
    return client.get("/api/v1/etl/history", headers={"Authorization": f"Bearer {token}"})


def zap(client, tenant, records, token=None):
    return client.post(f"/webhooks/zapier/{tenant['slug']}/metrics_daily", json=records,
                       headers={"Authorization": f"Bearer {token or tenant['secrets']['zapier']}"})


def zap_records(count: int, first_day: int = 1) -> list[dict]:
    return [{"day": f"2025-02-{day:02d}", "episode_id": "z1", "source": "zapier", "downloads": day}
            for day in range(first_day, first_day + count)]


def push(client, tenant, count: int, push_id: str, secret: str | None = None, first_day: int = 1):
    """A sheet push shaped as the Apps Script sends it (tests/fixtures/appscript_push.json)."""
    body = json.dumps({"push_id": push_id, "spreadsheet_id": "sheet-1", "sheet": "metrics_daily",
                       "header": ["day", "episode_id", "source", "downloads"],
                       "rows": [{"row_number": n + 2, "values": [f"2025-03-{first_day + n:02d}", "s1", "sheets", str(n)]}
                                for n in range(count)]})
    return client.post(f"/webhooks/sheets/{tenant['slug']}", data=body.encode(),
                       headers=sign(secret or tenant["secrets"]["sheets"], body))


def override(url: str, tenant_id: int, quota: str, limit: int) -> None:
    session = for_tenant(make_session_factory(url)(), tenant_id)
    set_quota(session, tenant_id, quota, limit)
    session.commit()
    session.close()


def assert_refused(response, quota: str, limit: int, window: int):
    assert response.status_code == 429, response.get_data(as_text=True)
    body = response.get_json()
    assert body["quota"] == quota and body["limit"] == limit
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window and body["retry_after"] == retry_after
    resets_at = datetime.fromisoformat(body["resets_at"])
    assert abs(resets_at.timestamp() - (quotas.time.time() + retry_after)) <= 2  # the limiter's clock
    assert body["error"].startswith(f"quota {quota} exceeded: the limit is {limit} ")
    assert f"it resets at {body['resets_at']} (in {retry_after} s)" in body["error"]
    return body


class Clock:
    """The limiter's clock (its in-memory storage's and the quota module's), moved by the test."""

    def __init__(self):
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    moved = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", moved)
    monkeypatch.setattr(quotas, "time", moved)
    return moved


def usage_of(url: str, tenant_id: int, redis_url: str | None = None) -> dict[str, tuple[int, int]]:
    settings = load_settings({"HUB_ENV": "test", "HUB_SECRET_KEY": SECRET_KEY, "HUB_DATABASE_URL": url,
                              **({"HUB_REDIS_URL": redis_url} if redis_url else {})})
    session = for_tenant(make_session_factory(url)(), tenant_id)
    try:
        return {row.quota: (row.used, row.limit) for row in quotas.usage(session, settings, tenant_id)}
    finally:
        session.close()


# --- requests per minute, per surface ------------------------------------------------------------

def test_api_requests_over_the_minute_quota_get_429_and_bad_tokens_neither_count_nor_learn(client, database_url, tenant):
    override(database_url, tenant["id"], "api_per_minute", 3)
    token = tenant["secrets"]["api"]
    for _ in range(5):  # failed authentication costs the tenant nothing
        assert api(client, "not-the-token").status_code == 401
    assert [api(client, token).status_code for _ in range(3)] == [200, 200, 200]
    body = assert_refused(api(client, token), "api_per_minute", 3, 60)
    assert body["used"] == 3
    # Over the quota, a wrong token still gets 401, never the tenant's 429.
    wrong = api(client, "not-the-token")
    assert wrong.status_code == 401 and "Retry-After" not in wrong.headers
    # Another tenant is not held back by acme's quota.
    other = make_tenant(database_url, "globex")
    assert api(client, other["secrets"]["api"]).status_code == 200
    assert usage_of(database_url, tenant["id"])["api_per_minute"] == (3, 3)


def test_uploads_have_their_own_quota_and_what_was_accepted_stays(client, database_url, tenant):
    override(database_url, tenant["id"], "uploads_per_minute", 2)
    token = tenant["secrets"]["api"]
    accepted = [upload(client, token, csv_rows(1, first_day=day)) for day in (1, 2)]
    assert [r.status_code for r in accepted] == [202, 202]
    assert_refused(upload(client, token, csv_rows(1, first_day=3)), "uploads_per_minute", 2, 60)
    assert api(client, token).status_code == 200  # the rest of the API counts apart
    imports = rows(database_url, EtlImport)
    assert sorted(i.id for i in imports) == sorted(r.get_json()["import_id"] for r in accepted)
    assert all(i.status == "completed" for i in imports)
    assert sorted(r.day.isoformat() for r in rows(database_url, MetricsDaily)) == ["2025-01-01", "2025-01-02"]


def test_webhooks_share_one_quota_across_zapier_sheets_and_shopify(client, database_url, tenant):
    from tests.test_commerce_webhooks import SHOPIFY_SECRET, documented_order

    override(database_url, tenant["id"], "webhooks_per_minute", 3)
    store_secret(database_url, tenant["slug"], "shopify", SHOPIFY_SECRET)
    # Unauthenticated attempts on every webhook cost nothing.
    assert zap(client, tenant, zap_records(1), token="wrong").status_code == 401
    assert push(client, tenant, 1, "p-bad", secret="not-the-sheets-secret").status_code == 401
    assert post_shopify(client, tenant["slug"], documented_order(), secret="wrong-secret").status_code == 401

    assert zap(client, tenant, zap_records(1)).status_code == 202
    assert push(client, tenant, 1, "p-1").status_code == 202
    assert post_shopify(client, tenant["slug"], documented_order(), event_id="ev-1").status_code == 200
    assert_refused(zap(client, tenant, zap_records(1, first_day=2)), "webhooks_per_minute", 3, 60)
    assert_refused(push(client, tenant, 1, "p-2"), "webhooks_per_minute", 3, 60)
    assert_refused(post_shopify(client, tenant["slug"], documented_order(), event_id="ev-2"), "webhooks_per_minute", 3, 60)
    # Still no hint for a forger once the tenant is over its quota.
    assert zap(client, tenant, zap_records(1), token="wrong").status_code == 401
    assert post_shopify(client, tenant["slug"], documented_order(), secret="wrong-secret").status_code == 401
    assert api(client, tenant["secrets"]["api"]).status_code == 200
    # The two imports accepted before are complete; nothing of the refused ones was kept.
    assert sorted(i.source for i in rows(database_url, EtlImport)) == ["sheets", "zapier"]
    assert sorted((r.source, r.day.isoformat()) for r in rows(database_url, MetricsDaily)
                  if r.source != "shopify") == [("sheets", "2025-03-01"), ("zapier", "2025-02-01")]


# --- rows per day -----------------------------------------------------------------------------------

def test_an_upload_over_the_rows_quota_is_refused_whole_and_earlier_ones_stay(client, database_url, tenant):
    override(database_url, tenant["id"], "rows_per_day", 5)
    token = tenant["secrets"]["api"]
    first = upload(client, token, csv_rows(3))
    assert first.status_code == 202 and first.get_json()["status"] == "completed"
    body = assert_refused(upload(client, token, csv_rows(3, first_day=10)), "rows_per_day", 5, 86400)
    assert body["used"] == 3
    assert "this input has 3 rows and 2 are left" in body["error"] and "nothing was stored" in body["error"]
    # Refused whole at the door: no import, no payload, no row of it.
    assert [i.id for i in rows(database_url, EtlImport)] == [first.get_json()["import_id"]]
    assert sorted(r.day.day for r in rows(database_url, MetricsDaily)) == [1, 2, 3]
    # The refused input cost nothing: two rows still fit, and then the day is full.
    assert upload(client, token, csv_rows(2, first_day=20)).status_code == 202
    assert usage_of(database_url, tenant["id"])["rows_per_day"] == (5, 5)
    assert_refused(upload(client, token, csv_rows(1, first_day=25)), "rows_per_day", 5, 86400)
    # Requests are not rows: the API still answers.
    assert api(client, token).status_code == 200


def test_rows_from_zapier_sheets_and_the_io_api_count_against_the_same_day(client, database_url, tenant):
    override(database_url, tenant["id"], "rows_per_day", 4)
    assert zap(client, tenant, zap_records(2)).status_code == 202
    assert push(client, tenant, 1, "p-1").status_code == 202
    body = assert_refused(zap(client, tenant, zap_records(2, first_day=5)), "rows_per_day", 4, 86400)
    assert "this input has 2 rows and 1 are left" in body["error"]
    assert_refused(push(client, tenant, 2, "p-2"), "rows_per_day", 4, 86400)
    # The same push again later is a new try, not a replay of a refused one: nothing of it was kept.
    assert push(client, tenant, 1, "p-2", first_day=10).status_code == 202
    io = {"io_id": "IO-1", "flight_start": "2025-03-01", "flight_end": "2025-03-31", "status": "draft"}
    refused = client.post("/api/v1/io", json=io, headers={"Authorization": f"Bearer {tenant['secrets']['api']}"})
    assert_refused(refused, "rows_per_day", 4, 86400)
    assert sorted(i.source for i in rows(database_url, EtlImport)) == ["sheets", "sheets", "zapier"]
    assert len(rows(database_url, MetricsDaily)) == 4


def test_a_push_is_charged_the_rows_its_run_will_read(client, database_url, tenant):
    override(database_url, tenant["id"], "rows_per_day", 3)
    five_rows = {"push_id": "p-bom", "spreadsheet_id": "sheet-1", "sheet": "metrics_daily",
                 "header": ["day", "episode_id", "source", "downloads"],
                 "rows": [{"row_number": n + 2, "values": [f"2025-04-{n + 1:02d}", "s1", "sheets", "1"]} for n in range(5)]}
    # json.loads takes a leading BOM, the run's strict UTF-8 read refuses it: no rows, so none charged.
    bom = "\ufeff" + json.dumps(five_rows)
    assert client.post(f"/webhooks/sheets/{tenant['slug']}", data=bom.encode(),
                       headers=sign(tenant["secrets"]["sheets"], bom)).status_code == 202
    assert usage_of(database_url, tenant["id"])["rows_per_day"] == (0, 3)
    assert push(client, tenant, 3, "p-3").status_code == 202
    assert usage_of(database_url, tenant["id"])["rows_per_day"] == (3, 3)
    assert_refused(push(client, tenant, 1, "p-1", first_day=20), "rows_per_day", 3, 86400)


def test_a_parsed_push_counts_its_rows_as_the_reader_would():
    push_rows = [{"row_number": 2, "values": ["a"]}, {"row_number": 3, "values": ["b"], "typed": [None]}]
    body = json.dumps({"header": ["day"], "rows": push_rows}).encode()
    assert sheet_push_row_count(json.loads(body), body) == 2
    refused = {"header": ["day"], "rows": push_rows + [{"row_number": 4, "values": ["c"], "typed": ["c"]}]}
    assert sheet_push_row_count(refused, json.dumps(refused).encode()) == 0  # the reader refuses it whole
    utf16 = json.dumps({"header": ["day"], "rows": push_rows}).encode("utf-16")
    assert sheet_push_row_count(json.loads(utf16), utf16) is None  # only the run's own read can tell


def test_an_input_larger_than_the_whole_quota_says_so(client, database_url, tenant):
    override(database_url, tenant["id"], "rows_per_day", 2)
    body = assert_refused(upload(client, tenant["secrets"]["api"], csv_rows(3)), "rows_per_day", 2, 86400)
    assert "this input has 3 rows, more than the whole quota: split it" in body["error"]
    assert rows(database_url, EtlImport) == []


def test_a_connector_sync_stops_at_the_rows_quota_and_resumes_from_its_cursor(database_url, tenant):
    from connectors.transistor import TransistorConnector
    from datetime import date

    add_transistor(database_url, "acme")
    override(database_url, tenant["id"], "rows_per_day", 1)
    settings = load_settings({"HUB_ENV": "test", "HUB_SECRET_KEY": SECRET_KEY, "HUB_DATABASE_URL": database_url})
    client = TransistorConnector({"show_id": "54321", "api_key": "tr-secret-key", "lookback_days": 40},
                                 sleep=lambda _s: None, today=lambda: date(2024, 5, 10))
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ANALYTICS_URL, json=ANALYTICS)
        with pytest.raises(SyncError, match="rows_per_day"):
            run_sync(settings, tenant["id"], "transistor", since=date(2024, 5, 7), connector=client)
    (state,) = rows(database_url, ConnectorState)
    assert state.status == "failed" and "quota rows_per_day exceeded: the limit is 1 rows" in state.last_error
    assert state.cursor == {} and rows(database_url, EtlImport) == [] and rows(database_url, MetricsDaily) == []
    # A higher limit (here from the operator) and the next sync takes the page it refused.
    override(database_url, tenant["id"], "rows_per_day", 10_000)
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, ANALYTICS_URL, json=ANALYTICS)
        result = run_sync(settings, tenant["id"], "transistor", connector=client)  # from its cursor: none yet
    # The fixture's page: two episodes over 7-9 May 2024.
    assert result["rows"] == 6 and len(rows(database_url, MetricsDaily)) == 6
    assert usage_of(database_url, tenant["id"])["rows_per_day"] == (result["rows"], 10_000)


# --- the window passing ----------------------------------------------------------------------------

def test_usage_goes_back_to_zero_when_the_window_passes(client, database_url, tenant, clock):
    override(database_url, tenant["id"], "api_per_minute", 2)
    override(database_url, tenant["id"], "rows_per_day", 3)
    token = tenant["secrets"]["api"]
    assert [api(client, token).status_code for _ in range(2)] == [200, 200]
    refused = api(client, token)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert upload(client, token, csv_rows(3)).status_code == 202
    clock.now += 30
    assert api(client, token).headers["Retry-After"] == "30"
    clock.now += 31  # the minute has passed
    assert usage_of(database_url, tenant["id"])["api_per_minute"] == (0, 2)
    assert api(client, token).status_code == 200
    refused = upload(client, token, csv_rows(1, first_day=10))
    assert_refused(refused, "rows_per_day", 3, 86400)
    assert abs(int(refused.headers["Retry-After"]) - (86400 - 61)) <= 1
    clock.now += 86400  # and the day
    assert usage_of(database_url, tenant["id"])["rows_per_day"] == (0, 3)
    assert upload(client, token, csv_rows(1, first_day=10)).status_code == 202
    assert len(rows(database_url, MetricsDaily)) == 4


# --- Redis ----------------------------------------------------------------------------------------

def test_with_redis_every_process_counts_together_and_redis_expires_the_window(database_url, redis_url, tenant):
    override(database_url, tenant["id"], "api_per_minute", 3)
    override(database_url, tenant["id"], "rows_per_day", 4)
    # Two apps stand for two web processes: memory counters would each allow 3.
    first = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    second = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    token = tenant["secrets"]["api"]
    assert [api(first, token).status_code, api(second, token).status_code, api(first, token).status_code] == [200] * 3
    assert_refused(api(second, token), "api_per_minute", 3, 60)
    assert zap(first, tenant, zap_records(3)).status_code == 202   # queued for RQ, kept
    assert_refused(zap(second, tenant, zap_records(2, first_day=4)), "rows_per_day", 4, 86400)

    connection = Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in connection.keys("*hub-quota*"))
    assert [k.split("/")[2:4] for k in keys] == [[f"tenant-{tenant['id']}", quota] for quota in
                                                  ("api_per_minute", "rows_per_day", "webhooks_per_minute")]
    assert 0 < connection.ttl(next(k for k in keys if "api_per_minute" in k)) <= 60
    assert usage_of(database_url, tenant["id"], redis_url)["api_per_minute"] == (3, 3)
    assert usage_of(database_url, tenant["id"], redis_url)["rows_per_day"] == (3, 4)
    assert usage_of(database_url, tenant["id"])["api_per_minute"] == (0, 3)  # nothing of it in this process's memory

    for key in keys:  # the window ends as Redis expires the key, as it would after its minute and day
        connection.pexpire(key, 1)
    time.sleep(0.05)
    assert usage_of(database_url, tenant["id"], redis_url)["api_per_minute"] == (0, 3)
    assert api(second, token).status_code == 200
    assert zap(second, tenant, zap_records(2, first_day=4)).status_code == 202
    assert usage_of(database_url, tenant["id"], redis_url)["rows_per_day"] == (2, 4)
    assert sorted(i.status for i in rows(database_url, EtlImport)) == ["queued", "queued"]


def test_on_redis_requests_arriving_together_never_count_past_the_limit(database_url, redis_url, tenant):
    """The charge is one step on the Redis server: 8 threads charging at once get exactly the limit
    admitted, however they interleave, and a charge that does not fit counts nothing."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    settings = load_settings({"HUB_ENV": "test", "HUB_SECRET_KEY": SECRET_KEY, "HUB_DATABASE_URL": database_url,
                              "HUB_REDIS_URL": redis_url})
    limits = {name: 50 for name in quotas.QUOTAS}
    barrier = Barrier(8)

    def charge_many(_):
        barrier.wait()
        return sum(quotas.charge(None, settings, tenant["id"], quotas.ROWS, 3, limits=limits) is None for _ in range(40))

    with ThreadPoolExecutor(8) as pool:
        admitted = sum(pool.map(charge_many, range(8)))
    assert admitted == 16  # 16 x 3 = 48 of 50; a 17th would make 51
    key = next(Redis.from_url(redis_url).scan_iter("*rows_per_day*"))
    assert int(Redis.from_url(redis_url).get(key)) == 48
    assert 86000 < Redis.from_url(redis_url).ttl(key) <= 86400  # the window's expiry, set with its first count
    refused = quotas.charge(None, settings, tenant["id"], quotas.ROWS, 3, limits=limits)
    assert (refused.used, refused.limit, refused.asked) == (48, 50, 3)
    assert quotas.charge(None, settings, tenant["id"], quotas.ROWS, 2, limits=limits) is None  # what fits still does
    assert int(Redis.from_url(redis_url).get(key)) == 50


# --- the CLI, the admin page and /metrics -------------------------------------------------------

def test_overrides_from_the_cli_hold_and_reset_to_the_default(client, database_url, tenant, hub_env):
    hub_env(database_url, HUB_QUOTA_API_PER_MINUTE="5")
    cli = CliRunner()
    result = cli.invoke(cli_main, ["tenant", "set-quota", "acme", "api_per_minute", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "acme: api_per_minute is 2"
    token = tenant["secrets"]["api"]
    assert [api(client, token).status_code for _ in range(3)] == [200, 200, 429]

    listed = cli.invoke(cli_main, ["tenant", "quotas", "acme", "--json"])
    assert listed.exit_code == 0, listed.output
    by_quota = {item["quota"]: item for item in map(json.loads, listed.output.splitlines())}
    assert set(by_quota) == {"rows_per_day", "webhooks_per_minute", "uploads_per_minute", "api_per_minute"}
    assert (by_quota["api_per_minute"]["used"], by_quota["api_per_minute"]["limit"],
            by_quota["api_per_minute"]["overridden"]) == (2, 2, True)
    assert by_quota["api_per_minute"]["resets_at"] is not None
    assert (by_quota["rows_per_day"]["limit"], by_quota["rows_per_day"]["overridden"]) == (1_000_000, False)
    text = cli.invoke(cli_main, ["tenant", "quotas", "acme"]).output
    assert "api_per_minute\t2/2\town\tresets " in text

    reset = cli.invoke(cli_main, ["tenant", "reset-quota", "acme", "api_per_minute"])
    assert reset.exit_code == 0 and reset.output.strip() == "acme: api_per_minute is the default, 5"
    # The app was built with the default settings' 600; the tenant's own limit is gone.
    assert api(client, token).status_code == 200

    bad = cli.invoke(cli_main, ["tenant", "set-quota", "acme", "rows_per_week", "10"])
    assert bad.exit_code == 1
    assert ("quota: expected one of rows_per_day, webhooks_per_minute, uploads_per_minute, api_per_minute, "
            "found 'rows_per_week'") in bad.output
    zero = cli.invoke(cli_main, ["tenant", "set-quota", "acme", "rows_per_day", "0"])
    assert zero.exit_code == 1 and "limit for rows_per_day: expected a whole number >= 1, found 0" in zero.output
    missing = cli.invoke(cli_main, ["tenant", "set-quota", "nobody", "rows_per_day", "10"])
    assert missing.exit_code == 1 and "no tenant 'nobody'" in missing.output


def test_usage_shows_on_the_admin_page_and_in_metrics(client, database_url, tenant):
    override(database_url, tenant["id"], "rows_per_day", 100)
    token = tenant["secrets"]["api"]
    assert upload(client, token, csv_rows(3)).status_code == 202
    assert api(client, token).status_code == 200
    assert zap(client, tenant, zap_records(2)).status_code == 202

    page = client.get("/admin", auth=("admin", ADMIN_TOKEN))
    assert page.status_code == 200
    cells = page.text.split('<table id="quotas">', 1)[1].split("</table>", 1)[0]

    def row(quota):
        return cells.split(f'data-tenant="acme" data-quota="{quota}">', 1)[1].split("</tr>", 1)[0]

    assert '<td class="num">5</td><td class="num">100 <span class="muted">own</span></td>' in row("rows_per_day")
    assert "5%" in row("rows_per_day")
    assert '<td class="num">1</td><td class="num">60</td>' in row("uploads_per_minute")
    assert '<td class="num">1</td><td class="num">600</td>' in row("webhooks_per_minute")
    status = client.get("/api/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()
    assert {q["quota"]: (q["used"], q["limit"]) for q in status["quotas"] if q["tenant"] == "acme"} == {
        "rows_per_day": (5, 100), "webhooks_per_minute": (1, 600), "uploads_per_minute": (1, 60),
        "api_per_minute": (1, 600)}

    metrics = client.get("/metrics").text
    tid = tenant["id"]
    assert f'hub_quota_used{{quota="rows_per_day",tenant_id="{tid}"}} 5.0' in metrics
    assert f'hub_quota_limit{{quota="rows_per_day",tenant_id="{tid}"}} 100.0' in metrics
    assert f'hub_quota_used{{quota="uploads_per_minute",tenant_id="{tid}"}} 1.0' in metrics
    assert f'hub_quota_limit{{quota="api_per_minute",tenant_id="{tid}"}} 600.0' in metrics
    assert "acme" not in metrics  # /metrics is open: tenants by id only


def test_a_redis_that_cannot_be_reached_lets_requests_through(database_url, tenant):
    override(database_url, tenant["id"], "api_per_minute", 1)
    app = create_app({"database_url": database_url, "redis_url": "redis://127.0.0.1:1/0"})  # nothing listens there
    client = app.test_client()
    token = tenant["secrets"]["api"]
    # Quotas protect the hub; an outage of their counters must not shut tenants out.
    assert [api(client, token).status_code for _ in range(3)] == [200, 200, 200]
    assert usage_of(database_url, tenant["id"], "redis://127.0.0.1:1/0")["api_per_minute"] == (0, 1)
