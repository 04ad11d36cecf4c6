"""Simplecast (API 2.0 at https://api.simplecast.com): downloads per episode per day.

Documented in "Simplecast 2.0 API" (https://help.simplecast.com/en/articles/2724796-simplecast-2-0-api):
bearer-token auth (`authorization: Bearer {token}`, token from the Private Apps page) and paging of list
endpoints with `limit` / `offset` (example: /podcasts/{podcast_id}/episodes?limit=12&offset=0). The full
reference (https://apidocs.simplecast.com) is a Postman page not in reach here; the response shapes below
follow published clients: a list body is {"href", "collection": [...], "pages": {"total", "limit",
"current", "next": {"href"} | null, "previous": ...}}, and GET /analytics/downloads?episode={id} returns
{"id", "by_interval": [{"interval": "YYYY-MM-DD", "downloads_total": N, "downloads_percent": x}], ...}.

Sync: the days from the cursor's last complete day + 1 (or `since`, or `lookback_days` back) to
yesterday (UTC). Episodes are listed page by page; for each episode on a page,
/analytics/downloads?episode=..&start_date=..&end_date=..&interval=day gives its days. One Page per
episode-list page; its cursor pins the window and the next offset, so a sync that stops resumes at
the next list page of the same window; the last page's cursor is {"last_day": end}.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

from connectors.base import Connector, Page, count, parse_day
from connectors.http import parse_datetime

log = logging.getLogger(__name__)

API_BASE = "https://api.simplecast.com"


class SimplecastConnector(Connector):
    name = "simplecast"
    title = "Simplecast"
    config_schema = {
        "type": "object",
        "properties": {
            "podcast_id": {"type": "string", "description": "the podcast's id (a UUID) in Simplecast"},
            "api_token": {"type": "string", "description": "API token from the Private Apps page"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            "lookback_days": {"type": "integer", "minimum": 1, "maximum": 3660, "default": 30},
        },
        "required": ["podcast_id", "api_token"],
        "secret": ["api_token"],
        "additionalProperties": False,
    }

    @property
    def podcast_id(self) -> str:
        return self.config["podcast_id"]

    def auth_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.config['api_token']}"}

    def test_connection(self) -> None:
        self._episode_page(0, limit=1)

    def sync(self, cursor: dict | None, since: date | None = None) -> Iterator[Page]:
        cursor = cursor or {}
        last_day = date.fromisoformat(cursor["last_day"]) if cursor.get("last_day") else None
        pending = cursor.get("pending") if since is None else None
        if pending:
            start, end = date.fromisoformat(pending["start"]), date.fromisoformat(pending["end"])
            offset = int(pending["offset"])
        else:
            span = self.window(last_day, since)
            if span is None:
                return
            (start, end), offset = span, 0

        while True:
            episodes, next_offset = self._episode_page(offset, self.config["page_size"])
            rows: list[dict] = []
            for episode in episodes:
                rows.extend(self._episode_days(episode, start, end))
            if next_offset is None:
                yield Page(rows=rows, cursor={"last_day": end.isoformat()})
                return
            yield Page(rows=rows, cursor={
                "last_day": cursor.get("last_day"),
                "pending": {"start": start.isoformat(), "end": end.isoformat(), "offset": next_offset}})
            offset = next_offset

    # -- calls ------------------------------------------------------------------------------------

    def _episode_page(self, offset: int, limit: int) -> tuple[list[dict], int | None]:
        """One page of the podcast's episodes and the offset of the next page (None: last page)."""
        url = f"{API_BASE}/podcasts/{self.podcast_id}/episodes"
        response = self.get(url, params={"limit": limit, "offset": offset})
        body = self.json(response, "episodes")
        if not isinstance(body, dict) or not isinstance(body.get("collection"), list):
            raise self.fail(f"episodes: expected an object with a collection, got {str(body)[:200]!r}")
        episodes = body["collection"]
        pages = body.get("pages")
        if isinstance(pages, dict):
            following = pages.get("next")
            if not following:
                return episodes, None
            href = following.get("href") if isinstance(following, dict) else None
            given = parse_qs(urlsplit(href).query).get("offset") if href else None
            return episodes, int(given[0]) if given else offset + len(episodes)
        # No paging block: a short page is the last one.
        return episodes, (offset + len(episodes) if len(episodes) >= limit and episodes else None)

    def _episode_days(self, episode: dict, start: date, end: date) -> list[dict]:
        episode_id = episode.get("id") if isinstance(episode, dict) else None
        if not episode_id:
            raise self.fail(f"episodes: an episode without an id: {str(episode)[:100]}")
        published = episode.get("published_at")
        if published:
            try:
                if parse_datetime(published, "published_at").date() > end:
                    return []  # not out yet in this window
            except ValueError:
                pass
        response = self.get(f"{API_BASE}/analytics/downloads", params={
            "episode": episode_id, "start_date": start.isoformat(), "end_date": end.isoformat(), "interval": "day"})
        body = self.json(response, f"downloads of episode {episode_id}")
        intervals = body.get("by_interval") if isinstance(body, dict) else None
        if not isinstance(intervals, list):
            raise self.fail(f"downloads of episode {episode_id}: no by_interval list in {str(body)[:200]!r}")
        rows = []
        for item in intervals:
            try:
                if not isinstance(item, dict):
                    raise ValueError(f"unexpected entry {item!r}")
                day = parse_day(item.get("interval"), "interval")
                downloads = count(item.get("downloads_total"), f"downloads_total on {item.get('interval')}")
            except ValueError as exc:
                raise self.fail(f"downloads of episode {episode_id}: {exc}") from None
            if start <= day <= end:
                rows.append(self.row(day, episode_id, downloads, self.podcast_id))
        return rows
