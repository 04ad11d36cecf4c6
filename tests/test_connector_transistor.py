"""Transistor connector at the wire: dd-mm-yyyy dates, the 10-requests-per-10-seconds limiter, 429s
that wait instead of failing, 5xx retries, 401, and resuming by window. `responses` answers HTTP."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.base import ConnectorError
from connectors.transistor import SlidingWindowLimiter, TransistorConnector, from_dmy, to_dmy

FIXTURES = Path(__file__).parent / "fixtures" / "hosts"
API_KEY = "tr-api-key-5up3r53cr3t"
ANALYTICS_URL = "https://api.transistor.fm/v1/analytics/54321/episodes"
SHOW_URL = "https://api.transistor.fm/v1/shows/54321"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# Source: Transistor API reference (developers.transistor.fm), "Analytics" > all episodes of a show,
# GET /v1/analytics/:id/episodes with start_date / end_date (dd-mm-yyyy): a JSON:API document
# {"data": {"id", "type": "episodes_analytics", "attributes": {"episodes": [{"id", "title",
# "published_at", "downloads": [{"date": "dd-mm-yyyy", "downloads": N}]}], "start_date", "end_date"},
# "relationships": {"show": {"data": {"id", "type": "show"}}}}}. Read from the stored copy of the
# reference's intro (auth, rate limits) and from published clients' typings of this response
# (EpisodesAnalytics); the example body itself was not in reach, so ids, titles and counts are ours.
def episodes_analytics() -> dict:
    return load("transistor_episodes_analytics.json")


# Source: Transistor API reference, "Shows" > retrieve a show, GET /v1/shows/:id (JSON:API
# {"data": {"id", "type": "show", "attributes": {...}, "relationships": {...}}}); trimmed, values ours.
def show() -> dict:
    return load("transistor_show.json")


# Source: NOT documented on the reference page; a JSON:API error document ({"errors": [{"title",
# "detail"}]}) as the API's JSON:API conformance implies. Assumed.
def error_401() -> dict:
    return load("transistor_error_401.json")


class FakeClock:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def connector(clock: FakeClock | None = None, today=date(2024, 5, 10), **config) -> TransistorConnector:
    clock = clock or FakeClock()
    return TransistorConnector({"show_id": "54321", "api_key": API_KEY, **config},
                               sleep=clock.sleep, clock=clock, today=lambda: today)


def params(call) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def test_dd_mm_yyyy_both_ways():
    assert to_dmy(date(2024, 5, 7)) == "07-05-2024"
    assert from_dmy("07-05-2024") == date(2024, 5, 7)
    assert from_dmy("7-5-2024") == date(2024, 5, 7)
    for bad in ("2024-05-07", "31-02-2024", "05/07/2024", None):
        with pytest.raises(ValueError):
            from_dmy(bad)


@responses.activate
def test_sync_converts_dd_mm_yyyy_dates_to_iso_rows():
    clock = FakeClock()
    responses.get(ANALYTICS_URL, json=episodes_analytics())
    pages = list(connector(clock).sync({"last_day": "2024-05-06"}))

    assert params(responses.calls[0]) == {"start_date": "07-05-2024", "end_date": "09-05-2024"}
    assert responses.calls[0].request.headers["x-api-key"] == API_KEY
    assert len(pages) == 1 and pages[0].cursor == {"last_day": "2024-05-09"}
    assert pages[0].rows[0] == {"day": "2024-05-07", "episode_id": "1000012", "podcast_id": "54321",
                                "source": "transistor", "downloads": 91}
    assert [(r["episode_id"], r["day"], r["downloads"]) for r in pages[0].rows[1:]] == [
        ("1000012", "2024-05-08", 44), ("1000012", "2024-05-09", 23),
        ("1000011", "2024-05-07", 6), ("1000011", "2024-05-08", 0), ("1000011", "2024-05-09", 3)]
    assert clock.sleeps == []


def test_limiter_allows_ten_in_ten_seconds_then_waits():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(10, 10.0, clock, clock.sleep)
    for _ in range(10):
        limiter.acquire()
        clock.now += 0.5          # ten calls spread over the first 5 s
    assert clock.sleeps == []
    limiter.acquire()             # the 11th at t=5: the first (t=0) leaves the window at t=10
    assert clock.sleeps == [5.0] and clock.now == 10.0
    limiter.acquire()             # the 12th at t=10: the second (t=0.5) leaves at t=10.5
    assert clock.sleeps == [5.0, 0.5]


@responses.activate
def test_a_long_backfill_keeps_to_ten_requests_per_ten_seconds():
    clock = FakeClock()
    responses.get(ANALYTICS_URL, json={"data": {"id": "54321", "type": "episodes_analytics",
                                                "attributes": {"episodes": [], "start_date": "", "end_date": ""}}})
    # 12 windows of 31 days: 2023-05-05 .. 2024-05-09.
    pages = list(connector(clock).sync(None, since=date(2023, 5, 5)))

    assert len(pages) == 12 and len(responses.calls) == 12
    assert clock.sleeps == [10.0]                    # the 11th request waits for the window to clear
    assert params(responses.calls[0]) == {"start_date": "05-05-2023", "end_date": "04-06-2023"}
    assert params(responses.calls[11]) == {"start_date": "10-04-2024", "end_date": "09-05-2024"}
    assert pages[-1].cursor == {"last_day": "2024-05-09"}


@responses.activate
def test_429_waits_retry_after_and_does_not_fail():
    clock = FakeClock()
    responses.get(ANALYTICS_URL, status=429, json={"errors": [{"title": "Too Many Requests"}]}, headers={"Retry-After": "10"})
    responses.get(ANALYTICS_URL, status=429, json={"errors": [{"title": "Too Many Requests"}]})  # no header: 10 s
    responses.get(ANALYTICS_URL, json=episodes_analytics())
    pages = list(connector(clock).sync({"last_day": "2024-05-06"}))
    assert clock.sleeps == [10.0, 10.0]
    assert len(pages[0].rows) == 6


@responses.activate
def test_5xx_then_success():
    clock = FakeClock()
    responses.get(SHOW_URL, status=503, body="Service Unavailable", headers={"Retry-After": "3"})
    responses.get(SHOW_URL, status=500, body="")
    responses.get(SHOW_URL, json=show())
    connector(clock).test_connection()
    assert clock.sleeps == [3.0, 2.0]   # Retry-After when a 5xx has one, else backoff (retry 2: 2 s)
    assert len(responses.calls) == 3


@responses.activate
def test_401_raises_with_transistors_message():
    responses.get(SHOW_URL, status=401, json=error_401())
    with pytest.raises(ConnectorError) as caught:
        connector().test_connection()
    assert str(caught.value) == f"Transistor: GET {SHOW_URL} failed: HTTP 401: Unauthorized: API key is invalid or missing"
    assert caught.value.status == 401 and caught.value.retriable is False
    assert API_KEY not in str(caught.value)


@responses.activate
def test_resume_starts_after_the_last_stored_window():
    clock = FakeClock()
    responses.get(ANALYTICS_URL, json=episodes_analytics())
    for _ in range(6):
        responses.get(ANALYTICS_URL, status=500, json={"errors": [{"title": "Internal Server Error"}]})

    pages = []
    with pytest.raises(ConnectorError) as caught:
        for page in connector(clock).sync({"last_day": "2024-03-30"}):   # 2024-03-31 .. 2024-05-09: 2 windows
            pages.append(page)
    assert [page.cursor for page in pages] == [{"last_day": "2024-04-30"}]
    assert caught.value.retriable is True and caught.value.status == 500
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert params(responses.calls[0]) == {"start_date": "31-03-2024", "end_date": "30-04-2024"}

    responses.calls.reset()
    responses.replace(responses.GET, ANALYTICS_URL, json=episodes_analytics())
    resumed = list(connector().sync(pages[0].cursor))
    assert [params(call) for call in responses.calls] == [{"start_date": "01-05-2024", "end_date": "09-05-2024"}]
    assert resumed[0].cursor == {"last_day": "2024-05-09"}
    assert sum(row["downloads"] for row in resumed[0].rows) == 167


@responses.activate
def test_a_date_not_in_dd_mm_yyyy_is_refused():
    body = episodes_analytics()
    body["data"]["attributes"]["episodes"][1]["downloads"][0]["date"] = "2024-05-07"
    responses.get(ANALYTICS_URL, json=body)
    with pytest.raises(ConnectorError) as caught:
        list(connector().sync({"last_day": "2024-05-06"}))
    assert str(caught.value) == ("Transistor: episode analytics, episode 1000011: date: expected a dd-mm-yyyy date, "
                                 "got '2024-05-07'")
