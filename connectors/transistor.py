"""Transistor (https://developers.transistor.fm, JSON:API): downloads per episode per day.

Documented there: every request carries `x-api-key`; "API requests are rate-limited to 10 requests per
10 seconds. If this limit is exceeded, you will receive a 429 HTTP error code, and access will be
blocked for 10 seconds"; GET /v1/analytics/:id/episodes with start_date / end_date in dd-mm-yyyy returns
{"data": {"id", "type": "episodes_analytics", "attributes": {"episodes": [{"id", "title",
"published_at", "downloads": [{"date": "dd-mm-yyyy", "downloads": N}]}], "start_date", "end_date"},
"relationships": {"show": ...}}}; GET /v1/shows/:id retrieves one show.

Client side, a sliding-window limiter keeps to 10 requests in any 10 s (injectable clock and sleep),
and a 429 waits Retry-After (10 s when absent, the documented block) before retrying.

Sync: the days from the cursor's last complete day + 1 (or `since`, or `lookback_days` back) to
yesterday (UTC), in windows of WINDOW_DAYS; one request and one Page per window, whose cursor is
{"last_day": "YYYY-MM-DD"} (the window's end).
"""
from __future__ import annotations

import re
from collections import deque
from datetime import date, timedelta
from typing import Callable, Iterator

from connectors.base import Connector, Page, count

API_BASE = "https://api.transistor.fm/v1"
RATE_LIMIT_CALLS = 10
RATE_LIMIT_PERIOD_SECONDS = 10.0
_DMY = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})")


def to_dmy(day: date) -> str:
    return f"{day.day:02d}-{day.month:02d}-{day.year:04d}"


def from_dmy(value, what: str = "date") -> date:
    """Transistor's dd-mm-yyyy ("14-01-2022") -> date."""
    match = _DMY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        try:
            return date(int(match[3]), int(match[2]), int(match[1]))
        except ValueError:
            pass
    raise ValueError(f"{what}: expected a dd-mm-yyyy date, got {value!r}")


class SlidingWindowLimiter:
    """At most `max_calls` in any `period` seconds: `acquire()` sleeps until the oldest call in the
    window is `period` old when the window is full."""

    def __init__(self, max_calls: int, period: float, clock: Callable[[], float], sleep: Callable[[float], None]):
        self.max_calls, self.period = max_calls, period
        self.clock, self.sleep = clock, sleep
        self.calls: deque[float] = deque()

    def acquire(self) -> None:
        now = self.clock()
        self._forget(now)
        if len(self.calls) >= self.max_calls:
            free_at = self.calls[0] + self.period
            self.sleep(free_at - now)
            now = max(self.clock(), free_at)
            self._forget(now)
        self.calls.append(now)

    def _forget(self, now: float) -> None:
        while self.calls and self.calls[0] <= now - self.period:
            self.calls.popleft()


class TransistorConnector(Connector):
    name = "transistor"
    title = "Transistor"
    rate_limit_wait = RATE_LIMIT_PERIOD_SECONDS
    WINDOW_DAYS = 31
    config_schema = {
        "type": "object",
        "properties": {
            "show_id": {"type": "string", "description": "the show's id in Transistor"},
            "api_key": {"type": "string", "description": "API key from the Transistor dashboard's Account page"},
            "lookback_days": {"type": "integer", "minimum": 1, "maximum": 3660, "default": 30},
        },
        "required": ["show_id", "api_key"],
        "secret": ["api_key"],
        "additionalProperties": False,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limiter = SlidingWindowLimiter(RATE_LIMIT_CALLS, RATE_LIMIT_PERIOD_SECONDS, self.clock, self.sleep)

    @property
    def show_id(self) -> str:
        return self.config["show_id"]

    def auth_headers(self) -> dict:
        return {"x-api-key": self.config["api_key"]}

    def before_request(self) -> None:
        self.limiter.acquire()

    def test_connection(self) -> None:
        body = self.json(self.get(f"{API_BASE}/shows/{self.show_id}"), "show")
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise self.fail(f"show {self.show_id}: unexpected body {str(body)[:200]!r}")

    def sync(self, cursor: dict | None, since: date | None = None) -> Iterator[Page]:
        cursor = cursor or {}
        last_day = date.fromisoformat(cursor["last_day"]) if cursor.get("last_day") else None
        span = self.window(last_day, since)
        if span is None:
            return
        start, end = span
        while start <= end:
            chunk_end = min(end, start + timedelta(days=self.WINDOW_DAYS - 1))
            yield Page(rows=self._window_rows(start, chunk_end), cursor={"last_day": chunk_end.isoformat()})
            start = chunk_end + timedelta(days=1)

    def _window_rows(self, start: date, end: date) -> list[dict]:
        response = self.get(f"{API_BASE}/analytics/{self.show_id}/episodes",
                            params={"start_date": to_dmy(start), "end_date": to_dmy(end)})
        body = self.json(response, "episode analytics")
        try:
            episodes = body["data"]["attributes"]["episodes"]
            if not isinstance(episodes, list):
                raise TypeError
        except (KeyError, TypeError):
            raise self.fail(f"episode analytics: no data.attributes.episodes in {str(body)[:200]!r}") from None
        rows = []
        for episode in episodes:
            episode_id = episode.get("id") if isinstance(episode, dict) else None
            if episode_id in (None, ""):
                raise self.fail(f"episode analytics: an episode without an id: {str(episode)[:100]}")
            for item in episode.get("downloads") or []:
                try:
                    if not isinstance(item, dict):
                        raise ValueError(f"unexpected entry {item!r}")
                    day = from_dmy(item.get("date"))
                    downloads = count(item.get("downloads"), f"downloads on {item.get('date')}")
                except ValueError as exc:
                    raise self.fail(f"episode analytics, episode {episode_id}: {exc}") from None
                if start <= day <= end:
                    rows.append(self.row(day, episode_id, downloads, self.show_id))
        return rows
