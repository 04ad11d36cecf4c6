"""Buzzsprout connector at the wire: snapshot differences (never negative), ETag / 304, the per-day
stats mode and its resume, retries, and errors. HTTP is answered by `responses`; no database."""
from __future__ import annotations

import copy
import json
import logging
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.base import USER_AGENT, ConnectorError
from connectors.buzzsprout import BuzzsproutConnector

FIXTURES = Path(__file__).parent / "fixtures" / "hosts"
TOKEN = "ApV99yzvwApV99yzvwApV99yzvwApV99yzvw"
EPISODES_URL = "https://www.buzzsprout.com/api/140447/episodes.json"
DOWNLOADS_URL = "https://www.buzzsprout.com/api/140447/downloads"


# Source: Buzzsprout API, sections/episodes.md "Get episodes" (github.com/buzzsprout/buzzsprout-api,
# commit f43fb428, 2022-05-25): a bare JSON array of episode objects with id, title, published_at
# (ISO 8601 with offset), total_plays ... Two objects are the documented ones (788881, 788880), a third
# is added in the same shape; published_at and total_plays values are ours (788881 published on the
# test's "today", 2024-05-10 06:00 UTC).
def episodes() -> list:
    return json.loads((FIXTURES / "buzzsprout_episodes.json").read_text())


# Source: Buzzsprout API, sections/stats.md "Podcast downloads" (same repository, commit 1772568077):
# GET /api/:podcast_id/downloads?date=YYYY-MM-DD -> [{"episode_id": 788881, "total": 2}, ...], only
# episodes with downloads that day, [] for a day without. Values as documented, ordered by episode id.
def day_downloads() -> list:
    return json.loads((FIXTURES / "buzzsprout_downloads_2024-05-07.json").read_text())


# Source: Buzzsprout API, sections/stats.md "Errors": 422 {"error": {"code", "message", "param"}}.
def error_422() -> dict:
    return json.loads((FIXTURES / "buzzsprout_error_422.json").read_text())


# Source: NOT documented by Buzzsprout. Buzzsprout is a Rails application and its token scheme is
# Rails' HTTP token authentication, whose default 401 body is this text/plain line (Rails
# ActionController::HttpAuthentication::Token, "HTTP Token: Access denied.\n"); from knowledge.
def error_401() -> str:
    return (FIXTURES / "buzzsprout_error_401.txt").read_text()


def at(day: int, hour: int = 20):
    return lambda: datetime(2024, 5, day, hour, 0, tzinfo=timezone.utc)


def connector(now=at(10), sleeps=None, **config) -> BuzzsproutConnector:
    return BuzzsproutConnector({"podcast_id": "140447", "api_token": TOKEN, **config},
                               sleep=(sleeps.append if sleeps is not None else _no_sleep), now=now)


def _no_sleep(seconds):
    raise AssertionError(f"unexpected sleep({seconds})")


def with_totals(body: list, **totals) -> list:
    body = copy.deepcopy(body)
    for episode in body:
        key = f"e{episode['id']}"
        if key in totals:
            episode["total_plays"] = totals[key]
    return body


def by_episode(page) -> dict:
    return {row["episode_id"]: row["downloads"] for row in page.rows}


# ---------------------------------------------------------------------------------------------
# snapshot mode


@responses.activate
def test_first_snapshot_emits_only_episodes_published_that_day_and_stores_the_snapshot():
    responses.get(EPISODES_URL, json=episodes(), headers={"ETag": 'W/"a1b2c3"'})
    pages = list(connector().sync(None))

    assert len(pages) == 1
    assert pages[0].rows == [{"day": "2024-05-10", "episode_id": "788881", "podcast_id": "140447",
                              "source": "buzzsprout", "downloads": 40}]
    assert pages[0].cursor == {
        "mode": "snapshot", "day": "2024-05-10", "taken_at": "2024-05-10T20:00:00+00:00",
        "totals": {"788881": 40, "788880": 150, "788879": 1200},
        "base": {"788881": 0, "788880": 150, "788879": 1200},
        "base_taken_at": "2024-05-10T00:00:00+00:00",
        "etag": 'W/"a1b2c3"', "last_modified": None,
    }
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Token token={TOKEN}"
    assert sent.headers["User-Agent"] == USER_AGENT
    assert "If-None-Match" not in sent.headers


@responses.activate
def test_same_day_resync_re_emits_the_whole_day_from_the_base():
    responses.get(EPISODES_URL, json=episodes(), headers={"ETag": '"v1"'})
    responses.get(EPISODES_URL, json=with_totals(episodes(), e788881=55, e788880=171), headers={"ETag": '"v2"'})
    first = list(connector(now=at(10, 12)).sync(None))[0]
    second = list(connector(now=at(10, 23)).sync(first.cursor))[0]

    # 788881 was published today: all 55 plays are today's; 788880: 171 - 150 at the first sight.
    assert by_episode(second) == {"788881": 55, "788880": 21, "788879": 0}
    assert {row["day"] for row in second.rows} == {"2024-05-10"}
    assert second.cursor["base"] == {"788881": 0, "788880": 150, "788879": 1200}
    assert second.cursor["totals"] == {"788881": 55, "788880": 171, "788879": 1200}
    assert second.cursor["etag"] == '"v2"'
    assert responses.calls[1].request.headers["If-None-Match"] == '"v1"'


@responses.activate
def test_next_day_differences_are_never_negative_and_new_episodes_count_from_zero(caplog):
    day10 = with_totals(episodes(), e788881=55, e788880=171)
    day11 = with_totals(episodes(), e788881=80, e788880=160, e788879=1230)   # 788880 went down
    day11.append({**copy.deepcopy(day11[0]), "id": 790001, "title": "Bonus", "total_plays": 12,
                  "published_at": "2024-05-11T05:00:00.000-04:00"})             # after the day-10 snapshot
    day11.append({**copy.deepcopy(day11[0]), "id": 600001, "title": "Old, made public", "total_plays": 900,
                  "published_at": "2021-01-01T00:00:00.000-05:00"})             # first seen, but old
    responses.get(EPISODES_URL, json=day10)
    responses.get(EPISODES_URL, json=day11)
    cursor10 = list(connector(now=at(10, 23)).sync(None))[0].cursor

    with caplog.at_level(logging.WARNING, logger="connectors.buzzsprout"):
        page = list(connector(now=at(11, 23)).sync(cursor10))[0]

    assert by_episode(page) == {"788881": 25, "788880": 0, "788879": 30, "790001": 12}
    assert all(row["day"] == "2024-05-11" and row["downloads"] >= 0 for row in page.rows)
    assert "episode 788880 total_plays went down from 171 to 160" in caplog.text
    assert page.cursor["base"] == {"788881": 55, "788880": 160, "788879": 1200, "790001": 0, "600001": 900}
    assert page.cursor["base_taken_at"] == "2024-05-10T23:00:00+00:00"


@responses.activate
def test_not_modified_emits_nothing_and_keeps_the_cursor():
    responses.get(EPISODES_URL, json=episodes(), headers={"ETag": 'W/"a1b2c3"', "Last-Modified": "Fri, 10 May 2024 11:00:00 GMT"})
    responses.get(EPISODES_URL, status=304, headers={"ETag": 'W/"a1b2c3"'})
    cursor = list(connector(now=at(10, 12)).sync(None))[0].cursor

    pages = list(connector(now=at(10, 18)).sync(cursor))

    assert [(page.rows, page.cursor) for page in pages] == [([], cursor)]
    sent = responses.calls[1].request.headers
    assert sent["If-None-Match"] == 'W/"a1b2c3"'
    assert sent["If-Modified-Since"] == "Fri, 10 May 2024 11:00:00 GMT"


@responses.activate
def test_429_waits_for_an_http_date_retry_after():
    sleeps: list[float] = []
    responses.get(EPISODES_URL, status=429, body="Rate limit exceeded",
                  headers={"Retry-After": "Fri, 10 May 2024 20:00:30 GMT"})
    responses.get(EPISODES_URL, json=episodes())
    pages = list(connector(sleeps=sleeps).sync(None))
    assert sleeps == [30.0]
    assert by_episode(pages[0]) == {"788881": 40}


@responses.activate
def test_5xx_is_retried_with_backoff_then_succeeds():
    sleeps: list[float] = []
    responses.get(EPISODES_URL, status=503, body="Service Unavailable")
    responses.get(EPISODES_URL, status=502, body="Bad Gateway")
    responses.get(EPISODES_URL, json=episodes())
    pages = list(connector(sleeps=sleeps).sync(None))
    assert sleeps == [1.0, 2.0]
    assert pages[0].cursor["totals"]["788879"] == 1200


@responses.activate
def test_401_is_fatal_with_buzzsprouts_message_and_no_token():
    responses.get(EPISODES_URL, status=401, body=error_401(), content_type="text/plain",
                  headers={"WWW-Authenticate": 'Token realm="Application"'})
    with pytest.raises(ConnectorError) as caught:
        connector().test_connection()
    error = caught.value
    assert str(error) == f"Buzzsprout: GET {EPISODES_URL} failed: HTTP 401: HTTP Token: Access denied."
    assert error.status == 401 and error.retriable is False
    assert TOKEN not in str(error)
    assert len(responses.calls) == 1


@responses.activate
def test_a_token_echoed_in_an_error_body_is_redacted():
    responses.get(EPISODES_URL, status=403, json={"error": f"token {TOKEN} may not read podcast 140447"})
    with pytest.raises(ConnectorError) as caught:
        connector().test_connection()
    assert str(caught.value) == f"Buzzsprout: GET {EPISODES_URL} failed: HTTP 403: token [redacted] may not read podcast 140447"


@responses.activate
def test_a_bad_total_plays_is_refused():
    body = episodes()
    body[1]["total_plays"] = "150"
    responses.get(EPISODES_URL, json=body)
    with pytest.raises(ConnectorError) as caught:
        list(connector().sync(None))
    assert "episode 788880 total_plays: expected a whole number of downloads >= 0, got '150'" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# daily mode (sections/stats.md)


@responses.activate
def test_daily_mode_pages_per_day_and_resumes_after_a_failure():
    sleeps: list[float] = []
    # today 2024-05-10 -> last complete podcast-local day everywhere: 2024-05-08; cursor at 05-06.
    responses.get(DOWNLOADS_URL, json=day_downloads())
    for _ in range(6):
        responses.get(DOWNLOADS_URL, status=500, body="Internal Server Error")
    daily = connector(sleeps=sleeps, mode="daily")

    pages = []
    with pytest.raises(ConnectorError) as caught:
        for page in daily.sync({"mode": "daily", "last_day": "2024-05-06"}):
            pages.append(page)

    assert [page.cursor for page in pages] == [{"mode": "daily", "last_day": "2024-05-07"}]
    assert pages[0].rows == [
        {"day": "2024-05-07", "episode_id": "788880", "podcast_id": "140447", "source": "buzzsprout", "downloads": 2},
        {"day": "2024-05-07", "episode_id": "788881", "podcast_id": "140447", "source": "buzzsprout", "downloads": 1},
    ]
    assert caught.value.status == 500 and caught.value.retriable is True
    assert str(caught.value) == f"Buzzsprout: GET {DOWNLOADS_URL} failed after 5 retries: HTTP 500: Internal Server Error"
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert [parse_qs(urlsplit(call.request.url).query) for call in responses.calls[:2]] == [
        {"date": ["2024-05-07"]}, {"date": ["2024-05-08"]}]

    responses.calls.reset()
    responses.replace(responses.GET, DOWNLOADS_URL, json=[])
    resumed = list(connector(mode="daily").sync(pages[-1].cursor))
    assert [parse_qs(urlsplit(call.request.url).query) for call in responses.calls] == [{"date": ["2024-05-08"]}]
    assert [(page.rows, page.cursor) for page in resumed] == [([], {"mode": "daily", "last_day": "2024-05-08"})]


@responses.activate
def test_daily_mode_up_to_date_makes_no_request_and_since_backfills():
    daily = connector(mode="daily")
    assert list(daily.sync({"mode": "daily", "last_day": "2024-05-08"})) == []
    assert len(responses.calls) == 0

    responses.get(DOWNLOADS_URL, json=[])
    pages = list(daily.sync({"mode": "daily", "last_day": "2024-05-08"}, since=date(2024, 5, 7)))
    assert [page.cursor["last_day"] for page in pages] == ["2024-05-07", "2024-05-08"]


@responses.activate
def test_daily_mode_422_keeps_buzzsprouts_message():
    responses.get(DOWNLOADS_URL, status=422, json=error_422())
    with pytest.raises(ConnectorError) as caught:
        list(connector(mode="daily").sync(None))
    assert str(caught.value) == (f"Buzzsprout: GET {DOWNLOADS_URL} failed: HTTP 422: date is required and must be "
                                 "a valid date in YYYY-MM-DD format (param: date)")
    assert caught.value.retriable is False


@responses.activate
def test_a_snapshot_cursor_does_not_steer_daily_mode():
    responses.get(DOWNLOADS_URL, json=[])
    pages = list(connector(mode="daily", lookback_days=2).sync({"mode": "snapshot", "day": "2024-05-09"}))
    assert [page.cursor["last_day"] for page in pages] == ["2024-05-07", "2024-05-08"]
