"""Make-good suggestions: where the impressions an IO fell short by could run instead.

    shortfall  = booked - delivered            for a completed IO
               = booked - projected            for an IO in flight (its projection at flight end, pacing.py)
    expected   = downloads over the 30 days before today (host sources), per episode of the tenant
                 other than the IO's own, and per show (podcast: the sum of those episodes); the next
                 30 days are expected to bring as many
    value      = expected × the IO's CPM / 1000 (in cents, rounded): what that inventory is worth at
                 the price the advertiser paid

A placement is suggested when its expected downloads cover the shortfall (expected >= shortfall),
cheapest first (smallest value, so the least inventory that makes the advertiser whole; episodes
before shows on a tie, then by id), at most MAX_SUGGESTIONS. Episodes come from the catalog
(`episodes`, for titles and shows) and from `metrics_daily` (an episode with downloads is a candidate
even before the catalog knows it).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Episode, IoBooking, MetricsDaily, Podcast
from .io_lifecycle import COMMERCE_SOURCES, delivered_impressions
from .matchmaking import episode_podcasts
from .pacing import PacingThresholds, io_pacing

WINDOW_DAYS = 30
MAX_SUGGESTIONS = 10


def shortfall(session: Session, io: IoBooking, today: date, thresholds: PacingThresholds = PacingThresholds()) -> int:
    booked = io.booked_impressions or 0
    if io.status == "completed":
        return max(booked - delivered_impressions(session, io), 0)
    if io.status in ("scheduled", "live"):
        return max(booked - io_pacing(session, io, today, thresholds).projected, 0)
    return 0


def value_cents(expected: int, cpm_cents: int | None) -> int | None:
    # Integer arithmetic rounded half up: exact cents, no float drift.
    return None if cpm_cents is None else (expected * cpm_cents + 500) // 1000


def make_goods(session: Session, io: IoBooking, today: date, thresholds: PacingThresholds = PacingThresholds()) -> dict:
    tenant_id = io.tenant_id
    owed = shortfall(session, io, today, thresholds)
    first, last = today - timedelta(days=WINDOW_DAYS), today - timedelta(days=1)
    per_episode = dict(session.execute(
        select(MetricsDaily.episode_id, func.sum(func.coalesce(MetricsDaily.downloads, 0)))
        .where(MetricsDaily.tenant_id == tenant_id, MetricsDaily.day >= first, MetricsDaily.day <= last,
               MetricsDaily.source.not_in(COMMERCE_SOURCES))
        .group_by(MetricsDaily.episode_id)).all())
    per_episode.pop(io.episode_id, None)  # the IO's own episode is what fell short
    shows = episode_podcasts(session, tenant_id)
    episode_titles = dict(session.execute(
        select(Episode.episode_id, Episode.title).where(Episode.tenant_id == tenant_id)).all())
    show_titles = dict(session.execute(
        select(Podcast.podcast_id, Podcast.title).where(Podcast.tenant_id == tenant_id)).all())

    per_show: dict[str, int] = defaultdict(int)
    candidates = []
    for episode_id, downloads in per_episode.items():
        candidates.append(("episode", episode_id, episode_titles.get(episode_id), shows.get(episode_id), int(downloads)))
        if shows.get(episode_id):
            per_show[shows[episode_id]] += int(downloads)
    candidates += [("show", podcast_id, show_titles.get(podcast_id), podcast_id, downloads)
                   for podcast_id, downloads in per_show.items()]

    suggestions = []
    if owed:
        covering = [c for c in candidates if c[4] >= owed]
        covering.sort(key=lambda c: (c[4], c[0] != "episode", c[1]))
        for kind, ident, title, podcast_id, expected in covering[:MAX_SUGGESTIONS]:
            suggestions.append({
                "kind": kind, "id": ident, "title": title, "podcast_id": podcast_id,
                "expected_downloads": expected, "value_cents": value_cents(expected, io.booked_cpm_cents),
                "surplus": expected - owed})
    return {
        "io_id": io.io_id, "status": io.status, "booked_impressions": io.booked_impressions,
        "booked_cpm_cents": io.booked_cpm_cents, "currency": io.currency, "shortfall": owed,
        "shortfall_value_cents": value_cents(owed, io.booked_cpm_cents),
        "window": {"first_day": first.isoformat(), "last_day": last.isoformat()},
        "suggestions": suggestions,
    }
