"""Buzzsprout: downloads per episode per day, from the API documented at
https://github.com/buzzsprout/buzzsprout-api (README: token auth, User-Agent, ETag/If-None-Match,
retry 5xx; sections/episodes.md: GET /api/{podcast_id}/episodes.json with total_plays;
sections/stats.md: GET /api/{podcast_id}/downloads?date=YYYY-MM-DD).

Two modes (config "mode"):

"snapshot" (default): episodes.json only documents each episode's lifetime `total_plays`, so a day's
downloads are the difference between snapshots. The cursor keeps the last snapshot and the one the
current UTC day is measured from ("base"):
  - every sync emits, for the snapshot's UTC day, downloads = total - base total per episode. Re-running
    on the same day re-emits the whole day so far (rows are upserts, so this is idempotent); on a new
    day the previous snapshot becomes the base.
  - never negative: a total below its base (a reset, a removed duplicate) emits 0, logs a warning, and
    counting restarts from the new total.
  - first sync: the snapshot is stored and nothing is emitted, because lifetime totals say nothing
    about days, EXCEPT for episodes published since 00:00 UTC that day, whose whole total is that
    day's. Likewise an episode first seen later counts from 0 only if it was published after the base
    snapshot was taken; otherwise it is baselined.
  - downloads between the last snapshot of a day and midnight land on the next day: schedule the sync
    shortly before 00:00 UTC for the sharpest days.
  - If-None-Match / If-Modified-Since with the stored ETag / Last-Modified: a 304 emits no rows and
    keeps the cursor. `since` cannot backfill snapshots and is ignored.

"daily": the per-day stats endpoint in sections/stats.md (podcast-local dates, one date a request,
only episodes with downloads that day). Days run from the cursor's last day (or `since`, or
`lookback_days` back) to two days before today (UTC), the last day that is over in every time zone.
That section is in the repository's newer history (commit 1772568077f9) but not in the 2022 snapshot
also consulted, so the default stays "snapshot".
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timezone
from typing import Iterator

from connectors.base import Connector, Page, count, days
from connectors.http import parse_datetime

log = logging.getLogger(__name__)

API_BASE = "https://www.buzzsprout.com/api"


class BuzzsproutConnector(Connector):
    name = "buzzsprout"
    title = "Buzzsprout"
    settle_days = 2  # daily mode: podcast-local dates; today-2 (UTC) is over everywhere
    config_schema = {
        "type": "object",
        "properties": {
            "podcast_id": {"type": "string", "pattern": r"\d+",
                           "description": "the number in https://www.buzzsprout.com/<podcast_id>/..."},
            "api_token": {"type": "string", "description": "API token from My Profile > API"},
            "mode": {"type": "string", "enum": ["snapshot", "daily"], "default": "snapshot"},
            "lookback_days": {"type": "integer", "minimum": 1, "maximum": 366, "default": 30},
        },
        "required": ["podcast_id", "api_token"],
        "secret": ["api_token"],
        "additionalProperties": False,
    }

    @property
    def podcast_id(self) -> str:
        return self.config["podcast_id"]

    @property
    def episodes_url(self) -> str:
        return f"{API_BASE}/{self.podcast_id}/episodes.json"

    @property
    def downloads_url(self) -> str:
        return f"{API_BASE}/{self.podcast_id}/downloads"

    def auth_headers(self) -> dict:
        return {"Authorization": f"Token token={self.config['api_token']}"}

    def test_connection(self) -> None:
        self._episodes(self.get(self.episodes_url))

    def sync(self, cursor: dict | None, since: date | None = None) -> Iterator[Page]:
        cursor = cursor or {}
        if cursor and cursor.get("mode") != self.config["mode"]:
            log.info("buzzsprout %s: cursor is from mode %r, starting mode %r afresh",
                     self.podcast_id, cursor.get("mode"), self.config["mode"])
            cursor = {}
        if self.config["mode"] == "daily":
            yield from self._sync_daily(cursor, since)
        else:
            if since is not None:
                log.info("buzzsprout %s: snapshot mode cannot backfill; ignoring since=%s", self.podcast_id, since)
            yield from self._sync_snapshot(cursor)

    # -- snapshot mode ----------------------------------------------------------------------------

    def _sync_snapshot(self, previous: dict) -> Iterator[Page]:
        headers = {}
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
        response = self.get(self.episodes_url, headers=headers)
        if response.status_code == 304:
            yield Page(rows=[], cursor=dict(previous))
            return
        episodes = self._episodes(response)
        now, today = self.now(), self.today()

        if previous.get("day") == today.isoformat():
            base, base_taken_at = dict(previous["base"]), previous["base_taken_at"]
        elif previous:
            base, base_taken_at = dict(previous["totals"]), previous["taken_at"]
        else:  # first snapshot: the day is measured from its midnight
            base, base_taken_at = {}, datetime.combine(today, time(0), timezone.utc).isoformat()
        base_since = parse_datetime(base_taken_at, "base_taken_at")

        rows, totals = [], {}
        for episode_id, total, published in episodes:
            totals[episode_id] = total
            if episode_id not in base:
                if published is not None and published > base_since:
                    base[episode_id] = 0          # published after the base: every play is new
                else:
                    base[episode_id] = total      # lifetime total of an older episode: baseline only
                    continue
            downloads = total - base[episode_id]
            if downloads < 0:
                log.warning("buzzsprout %s: episode %s total_plays went down from %d to %d; counting 0 and "
                            "restarting from %d", self.podcast_id, episode_id, base[episode_id], total, total)
                base[episode_id], downloads = total, 0
            rows.append(self.row(today, episode_id, downloads, self.podcast_id))

        cursor = {"mode": "snapshot", "day": today.isoformat(), "taken_at": now.isoformat(), "totals": totals,
                  "base": {key: base[key] for key in totals}, "base_taken_at": base_taken_at,
                  "etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}
        yield Page(rows=rows, cursor=cursor)

    def _episodes(self, response) -> list[tuple[str, int, datetime | None]]:
        body = self.json(response, "episodes.json")
        if not isinstance(body, list):
            raise self.fail(f"episodes.json: expected a list of episodes, got {type(body).__name__}",
                            status=response.status_code)
        episodes = []
        for item in body:
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise self.fail(f"episodes.json: an episode without an id: {str(item)[:100]}")
            try:
                total = count(item.get("total_plays"), f"episode {item['id']} total_plays")
            except ValueError as exc:
                raise self.fail(f"episodes.json: {exc}") from None
            try:
                published = parse_datetime(item.get("published_at"), "published_at")
            except ValueError:
                published = None
            episodes.append((str(item["id"]), total, published))
        return episodes

    # -- daily mode -------------------------------------------------------------------------------

    def _sync_daily(self, cursor: dict, since: date | None) -> Iterator[Page]:
        last_day = date.fromisoformat(cursor["last_day"]) if cursor.get("last_day") else None
        span = self.window(last_day, since)
        if span is None:
            return
        for day in days(*span):
            response = self.get(self.downloads_url, params={"date": day.isoformat()})
            body = self.json(response, f"downloads for {day}")
            if not isinstance(body, list):
                raise self.fail(f"downloads for {day}: expected a list, got {type(body).__name__}")
            rows = []
            for item in body:
                try:
                    if not isinstance(item, dict) or item.get("episode_id") in (None, ""):
                        raise ValueError(f"an entry without episode_id: {str(item)[:100]}")
                    downloads = count(item.get("total"), f"episode {item['episode_id']} total")
                except ValueError as exc:
                    raise self.fail(f"downloads for {day}: {exc}") from None
                rows.append(self.row(day, item["episode_id"], downloads, self.podcast_id))
            yield Page(rows=rows, cursor={"mode": "daily", "last_day": day.isoformat()})
