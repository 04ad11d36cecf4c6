"""Simplecast connector at the wire: limit/offset paging over two pages, per-episode daily downloads,
429 / 5xx retries, 401, and resuming mid-window. HTTP is answered by `responses`; no database."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.base import ConnectorError
from connectors.simplecast import SimplecastConnector

FIXTURES = Path(__file__).parent / "fixtures" / "hosts"
TOKEN = "eyJhcGlfa2V5IjoiMmY4MThhMDg3NzEyOTYxZTk3NzcwNTM3NDJjMmJiNmUifQ=="
PODCAST = "3f2b9c0e-8d7a-4b6c-9e1f-0a2b3c4d5e6f"
EPISODES_URL = f"https://api.simplecast.com/podcasts/{PODCAST}/episodes"
DOWNLOADS_URL = "https://api.simplecast.com/analytics/downloads"
LAUNCH, PRE, TRAILER = ("1c25c46e-8532-4bde-abe2-88158f5b6c7f", "e51b5998-749f-4ca7-9f39-b17cda147746",
                        "93cc0b3a-49ea-455f-affd-ac01fdafd761")


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# Source: "Simplecast 2.0 API" (help.simplecast.com/en/articles/2724796-simplecast-2-0-api): list
# endpoints page with limit/offset (/podcasts/{podcast_id}/episodes?limit=12&offset=0). The body shape
# ({href, count, collection: [...], pages: {total, limit, current, previous, next: {href} | null}}) and
# the episode fields (id, title, status, published_at, number, season, token, updated_at ...) are not
# printed on that page; they follow Simplecast's API reference as used by published clients (Airbyte's
# source-simplecast manifest reads `collection` and pages by offset; status-im/airbyte-custom-connector
# follows pages.next / pages.limit / pages.current). Ids and values are ours; page 2 carries one
# episode scheduled after the sync window (no downloads request expected for it).
def episodes_page(number: int) -> dict:
    return load(f"simplecast_episodes_page{number}.json")


# Source: GET /analytics/downloads?episode={id} (linked as analytics.downloads.href from the API's
# analytics resource); by_interval entries {interval, downloads_total, downloads_percent} as read by
# status-im/airbyte-custom-connector (source-simplecast-fetcher, DOWNLOADS_KEY). Not confirmed against
# apidocs.simplecast.com, which was not reachable. Values are ours.
def downloads(episode_id: str) -> dict:
    return load(f"simplecast_downloads_{episode_id[:8]}.json")


# Source: NOT documented. Assumed to be the Phoenix framework's default JSON error body
# ({"errors": {"detail": "Unauthorized"}}); the connector reads this and the other common shapes.
def error_401() -> dict:
    return load("simplecast_error_401.json")


def connector(sleeps=None, **config) -> SimplecastConnector:
    sleep = sleeps.append if sleeps is not None else (lambda s: pytest.fail(f"unexpected sleep({s})"))
    return SimplecastConnector({"podcast_id": PODCAST, "api_token": TOKEN, "page_size": 2, **config},
                               sleep=sleep, today=lambda: date(2024, 5, 10))


def register_downloads(*episode_ids: str) -> None:
    for episode_id in episode_ids:
        responses.get(DOWNLOADS_URL, json=downloads(episode_id),
                      match=[responses.matchers.query_param_matcher({"episode": episode_id}, strict_match=False)])


def params(call) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


CURSOR = {"last_day": "2024-05-06"}   # sync window: 2024-05-07 .. 2024-05-09 (today 05-10)


@responses.activate
def test_pages_through_episodes_and_emits_each_episodes_days():
    responses.get(EPISODES_URL, json=episodes_page(1), match=[responses.matchers.query_param_matcher({"limit": "2", "offset": "0"})])
    responses.get(EPISODES_URL, json=episodes_page(2), match=[responses.matchers.query_param_matcher({"limit": "2", "offset": "2"})])
    register_downloads(LAUNCH, PRE, TRAILER)

    pages = list(connector().sync(CURSOR))

    assert len(pages) == 2
    assert pages[0].cursor == {"last_day": "2024-05-06",
                               "pending": {"start": "2024-05-07", "end": "2024-05-09", "offset": 2}}
    assert pages[1].cursor == {"last_day": "2024-05-09"}
    assert pages[0].rows[:3] == [
        {"day": "2024-05-07", "episode_id": LAUNCH, "podcast_id": PODCAST, "source": "simplecast", "downloads": 120},
        {"day": "2024-05-08", "episode_id": LAUNCH, "podcast_id": PODCAST, "source": "simplecast", "downloads": 70},
        {"day": "2024-05-09", "episode_id": LAUNCH, "podcast_id": PODCAST, "source": "simplecast", "downloads": 31},
    ]
    assert [(r["episode_id"], r["day"], r["downloads"]) for r in pages[0].rows[3:]] == [
        (PRE, "2024-05-07", 14), (PRE, "2024-05-08", 9), (PRE, "2024-05-09", 0)]
    assert [(r["episode_id"], r["day"], r["downloads"]) for r in pages[1].rows] == [
        (TRAILER, "2024-05-07", 2), (TRAILER, "2024-05-08", 0), (TRAILER, "2024-05-09", 1)]

    calls = [(urlsplit(call.request.url).path, params(call)) for call in responses.calls]
    window = {"start_date": "2024-05-07", "end_date": "2024-05-09", "interval": "day"}
    assert calls == [
        (f"/podcasts/{PODCAST}/episodes", {"limit": "2", "offset": "0"}),
        ("/analytics/downloads", {"episode": LAUNCH, **window}),
        ("/analytics/downloads", {"episode": PRE, **window}),
        (f"/podcasts/{PODCAST}/episodes", {"limit": "2", "offset": "2"}),
        ("/analytics/downloads", {"episode": TRAILER, **window}),   # the scheduled episode is skipped
    ]
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in responses.calls)


@responses.activate
def test_a_list_without_paging_block_stops_at_a_short_page():
    page = episodes_page(1)
    del page["pages"]
    page["collection"] = page["collection"][:1]
    responses.get(EPISODES_URL, json=page)
    register_downloads(LAUNCH)
    pages = list(connector().sync(CURSOR))
    assert [p.cursor for p in pages] == [{"last_day": "2024-05-09"}]
    assert sum(row["downloads"] for row in pages[0].rows) == 221


@responses.activate
def test_429_waits_retry_after_then_continues():
    sleeps: list[float] = []
    responses.get(EPISODES_URL, status=429, json={"errors": {"detail": "Too Many Requests"}}, headers={"Retry-After": "7"})
    responses.get(EPISODES_URL, json=episodes_page(2))
    register_downloads(TRAILER)
    pages = list(connector(sleeps=sleeps).sync(CURSOR))
    assert sleeps == [7.0]
    assert [(r["day"], r["downloads"]) for r in pages[0].rows] == [("2024-05-07", 2), ("2024-05-08", 0), ("2024-05-09", 1)]


@responses.activate
def test_5xx_then_success():
    sleeps: list[float] = []
    responses.get(EPISODES_URL, json=episodes_page(2))
    responses.get(DOWNLOADS_URL, status=502, body="<html>502 Bad Gateway</html>")
    register_downloads(TRAILER)
    pages = list(connector(sleeps=sleeps).sync(CURSOR))
    assert sleeps == [1.0]
    assert len(pages[0].rows) == 3 and pages[0].cursor == {"last_day": "2024-05-09"}


@responses.activate
def test_401_raises_with_simplecasts_message():
    responses.get(EPISODES_URL, status=401, json=error_401())
    with pytest.raises(ConnectorError) as caught:
        connector().test_connection()
    assert str(caught.value) == f"Simplecast: GET {EPISODES_URL} failed: HTTP 401: Unauthorized"
    assert caught.value.status == 401 and caught.value.retriable is False
    assert TOKEN not in str(caught.value)
    assert params(responses.calls[0]) == {"limit": "1", "offset": "0"}


@responses.activate
def test_resumes_at_the_failed_page_of_the_same_window():
    sleeps: list[float] = []
    responses.get(EPISODES_URL, json=episodes_page(1), match=[responses.matchers.query_param_matcher({"limit": "2", "offset": "0"})])
    responses.get(EPISODES_URL, json=episodes_page(2), match=[responses.matchers.query_param_matcher({"limit": "2", "offset": "2"})])
    register_downloads(LAUNCH, PRE)
    responses.get(DOWNLOADS_URL, status=500, json={"errors": {"detail": "Internal Server Error"}},
                  match=[responses.matchers.query_param_matcher({"episode": TRAILER}, strict_match=False)])

    pages = []
    with pytest.raises(ConnectorError) as caught:
        for page in connector(sleeps=sleeps).sync(CURSOR):
            pages.append(page)
    assert len(pages) == 1
    assert caught.value.retriable is True and caught.value.status == 500
    assert str(caught.value).endswith("failed after 5 retries: HTTP 500: Internal Server Error")
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]

    # The next day, the stored cursor still finishes the pinned window from offset 2.
    responses.calls.reset()
    responses.replace(responses.GET, DOWNLOADS_URL, json=downloads(TRAILER),
                      match=[responses.matchers.query_param_matcher({"episode": TRAILER}, strict_match=False)])
    later = SimplecastConnector({"podcast_id": PODCAST, "api_token": TOKEN, "page_size": 2},
                                sleep=pytest.fail, today=lambda: date(2024, 5, 11))
    resumed = list(later.sync(pages[0].cursor))
    assert [params(call) for call in responses.calls] == [
        {"limit": "2", "offset": "2"},
        {"episode": TRAILER, "start_date": "2024-05-07", "end_date": "2024-05-09", "interval": "day"},
    ]
    assert resumed[0].cursor == {"last_day": "2024-05-09"}
    assert [r["downloads"] for r in resumed[0].rows] == [2, 0, 1]


@responses.activate
def test_up_to_date_cursor_makes_no_request_and_lookback_applies_first_time():
    assert list(connector().sync({"last_day": "2024-05-09"})) == []
    assert len(responses.calls) == 0

    responses.get(EPISODES_URL, json={**episodes_page(2), "collection": []})
    pages = list(connector(lookback_days=14).sync(None))
    assert pages[0].rows == [] and pages[0].cursor == {"last_day": "2024-05-09"}


@responses.activate
def test_a_bad_interval_value_is_refused():
    responses.get(EPISODES_URL, json=episodes_page(2))
    body = downloads(TRAILER)
    body["by_interval"][1]["downloads_total"] = -4
    responses.get(DOWNLOADS_URL, json=body)
    with pytest.raises(ConnectorError) as caught:
        list(connector().sync(CURSOR))
    assert str(caught.value) == (f"Simplecast: downloads of episode {TRAILER}: downloads_total on 2024-05-08: "
                                 "expected a whole number of downloads >= 0, got -4")
