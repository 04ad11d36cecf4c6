"""Matchmaking: how well each advertiser (sponsor) fits each podcast, from what the hub already knows.

For every sponsor x podcast pair a score in [0, 100] is stored in `matches`, with the signals it
was computed from and a sentence a person can read. The score adds four parts:

- audience (up to 30): downloads in the last 30 days, on a log scale against the tenant's
  biggest podcast (log1p(d) / log1p(max d));
- growth (up to 10): the last 30 days against the 30 before, clamped to -50%..+50%
  (-50% or worse gives 0, flat gives 5, +50% or better gives 10; no earlier downloads gives 5);
- completion (up to 20): the average completion_rate of the last 30 days (none known gives 10);
- fit (up to 40): past results of sponsors of the same category on podcasts of the same
  category (IOs booked under campaigns of those sponsors, whose flights have started):
  with conversions, up to 15 for their number (20 or more gives 15) and up to 25 for their CPA
  against the tenant's CPA (the same CPA gives 12.5, half of it or better gives 25, unknown 12.5);
  with IOs but no conversions, 0; with no such IOs, 20 when the categories are the same, else 10.

Downloads come from metrics_daily (host sources; shop rows carry money, not listens), attributed to
a podcast by the row's podcast_id, else by what the catalog (episodes) or other metrics rows say
the episode belongs to. Everything is computed in sorted order with plain arithmetic, so the same
data on the same day gives the same scores, rationales and signals.

Nothing is removed: a pair that is no longer computed (its sponsor or podcast has gone) keeps its
last score; `signals["as_of"]` says which day that score was computed for.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..models import AttributionCredit, Campaign, Episode, IoBooking, Match, MetricsDaily, Podcast, Sponsor, utcnow
from .io_lifecycle import COMMERCE_SOURCES
from .io_summary import cost_per_conversion, tidy_conversions

WINDOW_DAYS = 30
WEIGHTS = {"audience": 30.0, "growth": 10.0, "completion": 20.0, "fit": 40.0}


@dataclass
class PodcastStats:
    podcast_id: str
    title: str | None = None
    category: str | None = None
    downloads_30d: int = 0
    downloads_prev_30d: int = 0
    completion_sum: float = 0.0
    completion_count: int = 0

    @property
    def growth(self) -> float | None:
        if not self.downloads_prev_30d:
            return None
        return (self.downloads_30d - self.downloads_prev_30d) / self.downloads_prev_30d

    @property
    def completion_rate(self) -> float | None:
        return self.completion_sum / self.completion_count if self.completion_count else None


@dataclass
class CellStats:
    """Past results of one (sponsor category, podcast category) pair."""

    ios: int = 0
    conversions: int | float = 0  # fractional when campaign codes shared orders
    cost_cents: int = 0
    io_ids: list[str] = field(default_factory=list)

    @property
    def cpa_cents(self) -> int | None:
        return cost_per_conversion(self.cost_cents, tidy_conversions(self.conversions)) if self.cost_cents else None


def _norm(category: str | None) -> str | None:
    text = (category or "").strip().lower()
    return text or None


def episode_podcasts(session: Session, tenant_id: int) -> dict[str, str]:
    """Which podcast each episode belongs to: the catalog first, else its metrics rows (the smallest id if they disagree)."""
    mapping = dict(session.execute(
        select(MetricsDaily.episode_id, func.min(MetricsDaily.podcast_id))
        .where(MetricsDaily.tenant_id == tenant_id, MetricsDaily.podcast_id.is_not(None))
        .group_by(MetricsDaily.episode_id)).all())
    mapping.update(dict(session.execute(
        select(Episode.episode_id, Episode.podcast_id)
        .where(Episode.tenant_id == tenant_id, Episode.podcast_id.is_not(None))).all()))
    return mapping


def podcast_stats(session: Session, tenant_id: int, today: date,
                  mapping: dict[str, str] | None = None) -> dict[str, PodcastStats]:
    """Audience, growth and completion per podcast: the 30 days ending `today`, and the 30 before."""
    start = today - timedelta(days=WINDOW_DAYS - 1)
    previous = start - timedelta(days=WINDOW_DAYS)
    recent = MetricsDaily.day >= start
    per_row = session.execute(
        select(
            MetricsDaily.episode_id,
            MetricsDaily.podcast_id,
            func.sum(case((recent, MetricsDaily.downloads), else_=0)),
            func.sum(case((recent, 0), else_=MetricsDaily.downloads)),
            func.sum(case((recent, MetricsDaily.completion_rate))),
            func.count(case((recent, MetricsDaily.completion_rate))),
        )
        .where(MetricsDaily.tenant_id == tenant_id, MetricsDaily.day >= previous, MetricsDaily.day <= today,
               MetricsDaily.source.not_in(COMMERCE_SOURCES))
        .group_by(MetricsDaily.episode_id, MetricsDaily.podcast_id)
    ).all()
    catalog = {p.podcast_id: p for p in session.scalars(select(Podcast).where(Podcast.tenant_id == tenant_id))}
    mapping = episode_podcasts(session, tenant_id) if mapping is None else mapping
    stats: dict[str, PodcastStats] = {}

    def get(podcast_id: str) -> PodcastStats:
        if podcast_id not in stats:
            known = catalog.get(podcast_id)
            stats[podcast_id] = PodcastStats(podcast_id, known.title if known else None,
                                             known.category if known else None)
        return stats[podcast_id]

    for podcast_id in sorted(catalog):
        get(podcast_id)
    for episode_id, podcast_id, last, before, completion_sum, completion_count in sorted(
            per_row, key=lambda r: (r[0], r[1] or "")):
        podcast_id = podcast_id or mapping.get(episode_id)
        if podcast_id is None:
            continue  # downloads of an episode no row or catalog entry ties to a podcast
        item = get(podcast_id)
        item.downloads_30d += int(last or 0)
        item.downloads_prev_30d += int(before or 0)
        item.completion_sum += float(completion_sum or 0)
        item.completion_count += int(completion_count or 0)
    return stats


def category_history(session: Session, tenant_id: int, today: date,
                     podcast_categories: dict[str, str | None], mapping: dict[str, str]
                     ) -> tuple[dict[tuple[str, str], CellStats], CellStats]:
    """Past conversions and cost per (sponsor category, podcast category), and the tenant's totals."""
    sponsor_of = dict(session.execute(select(Campaign.campaign_id, Campaign.sponsor_id)
                                      .where(Campaign.tenant_id == tenant_id)).all())
    sponsor_category = dict(session.execute(select(Sponsor.sponsor_id, Sponsor.category)
                                            .where(Sponsor.tenant_id == tenant_id)).all())
    conversions = dict(session.execute(
        select(AttributionCredit.io_id, func.sum(AttributionCredit.share))
        .where(AttributionCredit.tenant_id == tenant_id)
        .group_by(AttributionCredit.io_id)).all())
    ios = session.execute(
        select(IoBooking.io_id, IoBooking.campaign_id, IoBooking.podcast_id, IoBooking.episode_id,
               IoBooking.booked_impressions, IoBooking.booked_cpm_cents)
        .where(IoBooking.tenant_id == tenant_id, IoBooking.status != "cancelled", IoBooking.flight_start <= today)
        .order_by(IoBooking.io_id)).all()
    cells: dict[tuple[str, str], CellStats] = defaultdict(CellStats)
    total = CellStats()
    for io_id, campaign_id, podcast_id, episode_id, booked, cpm in ios:
        cost = (booked or 0) * (cpm or 0) // 1000
        converted = tidy_conversions(conversions.get(io_id) or 0)  # a campaign code's orders count by their shares
        total.ios += 1
        total.conversions = tidy_conversions(total.conversions + converted)
        total.cost_cents += cost
        s_cat = _norm(sponsor_category.get(sponsor_of.get(campaign_id)))
        p_cat = _norm(podcast_categories.get(podcast_id or mapping.get(episode_id or "")))
        if s_cat and p_cat:
            cell = cells[(s_cat, p_cat)]
            cell.ios += 1
            cell.conversions = tidy_conversions(cell.conversions + converted)
            cell.cost_cents += cost
            cell.io_ids.append(io_id)
    return dict(cells), total


def advertisers(session: Session, tenant_id: int) -> dict[str, Sponsor | None]:
    """Every sponsor the hub knows: the sponsors table, and sponsor ids named by campaigns."""
    known: dict[str, Sponsor | None] = {s.sponsor_id: s for s in session.scalars(
        select(Sponsor).where(Sponsor.tenant_id == tenant_id))}
    for sponsor_id in session.scalars(select(Campaign.sponsor_id).distinct().where(
            Campaign.tenant_id == tenant_id, Campaign.sponsor_id.is_not(None))):
        known.setdefault(sponsor_id, None)
    return dict(sorted(known.items()))


def _money(cents: int | None) -> str:
    return "unknown" if cents is None else f"{cents / 100:,.2f}"


def score_pair(sponsor_id: str, sponsor: Sponsor | None, podcast: PodcastStats, max_downloads: int,
               cells: dict[tuple[str, str], CellStats], total: CellStats, today: date) -> tuple[float, str, dict]:
    """One pair's score, rationale and signals."""
    parts: dict[str, float] = {}
    reasons: list[str] = []
    name = (sponsor.name if sponsor and sponsor.name else None) or sponsor_id
    show = podcast.title or podcast.podcast_id

    d = podcast.downloads_30d
    parts["audience"] = WEIGHTS["audience"] * math.log1p(d) / math.log1p(max_downloads) if max_downloads else 0.0
    reasons.append(f"{show} had {d:,} downloads in the last {WINDOW_DAYS} days")

    growth = podcast.growth
    if growth is None:
        parts["growth"] = WEIGHTS["growth"] / 2 if d else 0.0
        reasons.append("no downloads in the 30 days before to measure growth" if d
                       else "no downloads to measure growth")
    else:
        parts["growth"] = WEIGHTS["growth"] * (min(max(growth, -0.5), 0.5) + 0.5)
        reasons.append(f"{growth:+.0%} on the 30 days before")

    completion = podcast.completion_rate
    if completion is None:
        parts["completion"] = WEIGHTS["completion"] / 2
        reasons.append("completion rate unknown")
    else:
        parts["completion"] = WEIGHTS["completion"] * min(max(completion, 0.0), 1.0)
        reasons.append(f"{completion:.0%} average completion")

    s_cat, p_cat = _norm(sponsor.category if sponsor else None), _norm(podcast.category)
    cell = cells.get((s_cat, p_cat)) if s_cat and p_cat else None
    tenant_cpa = total.cpa_cents
    if cell and cell.conversions:
        cpa = cell.cpa_cents
        ratio = (tenant_cpa / cpa) if (cpa and tenant_cpa) else 1.0
        parts["fit"] = 15.0 * min(cell.conversions, 20) / 20 + 25.0 * min(max(ratio / 2, 0.0), 1.0)
        reasons.append(f"{cell.conversions} past conversions from {cell.ios} IO(s) of {s_cat} sponsors on "
                       f"{p_cat} podcasts at a CPA of {_money(cpa)} (all IOs: {_money(tenant_cpa)})")
    elif cell:
        parts["fit"] = 0.0
        reasons.append(f"{cell.ios} past IO(s) of {s_cat} sponsors on {p_cat} podcasts brought no conversions")
    elif s_cat and p_cat:
        parts["fit"] = 20.0 if s_cat == p_cat else 10.0
        reasons.append(f"no past IOs of {s_cat} sponsors on {p_cat} podcasts; "
                       + ("same category" if s_cat == p_cat else "different categories"))
    else:
        parts["fit"] = 10.0
        missing = " and ".join(w for w, c in (("sponsor", s_cat), ("podcast", p_cat)) if not c)
        reasons.append(f"no category known for the {missing}")

    score = round(min(max(sum(parts.values()), 0.0), 100.0), 2)
    signals = {
        "as_of": today.isoformat(),
        "downloads_30d": d,
        "downloads_prev_30d": podcast.downloads_prev_30d,
        "max_downloads_30d": max_downloads,
        "growth": round(growth, 4) if growth is not None else None,
        "completion_rate": round(completion, 4) if completion is not None else None,
        "sponsor_category": s_cat,
        "podcast_category": p_cat,
        "category_ios": cell.ios if cell else 0,
        "category_conversions": cell.conversions if cell else 0,
        "category_cpa_cents": cell.cpa_cents if cell else None,
        "tenant_cpa_cents": tenant_cpa,
        "components": {key: round(value, 2) for key, value in parts.items()},
    }
    rationale = f"{name} on {show}: " + "; ".join(reasons) + f". Score {score:g}/100."
    return score, rationale, signals


def recalculate(session: Session, tenant_id: int, today: date) -> int:
    """Score every sponsor x podcast pair and upsert them into `matches`; returns how many pairs were scored.

    The caller commits (and emits `match.recalculated` in the same transaction).
    """
    mapping = episode_podcasts(session, tenant_id)
    stats = podcast_stats(session, tenant_id, today, mapping)
    # Podcasts that IOs name count too, even without downloads or a catalog entry.
    for podcast_id in session.scalars(select(IoBooking.podcast_id).distinct().where(
            IoBooking.tenant_id == tenant_id, IoBooking.podcast_id.is_not(None))):
        stats.setdefault(podcast_id, PodcastStats(podcast_id))
    cells, total = category_history(session, tenant_id, today, {p: s.category for p, s in stats.items()}, mapping)
    sponsors = advertisers(session, tenant_id)
    max_downloads = max((s.downloads_30d for s in stats.values()), default=0)

    stored = {(m.advertiser_id, m.podcast_id): m for m in session.scalars(
        select(Match).where(Match.tenant_id == tenant_id))}
    now = utcnow()
    scored = 0
    for sponsor_id, sponsor in sponsors.items():
        for podcast_id in sorted(stats):
            score, rationale, signals = score_pair(sponsor_id, sponsor, stats[podcast_id], max_downloads,
                                                   cells, total, today)
            match = stored.get((sponsor_id, podcast_id))
            if match is None:
                session.add(Match(tenant_id=tenant_id, advertiser_id=sponsor_id, podcast_id=podcast_id, score=score,
                                  rationale=rationale, signals=signals, created_at=now, updated_at=now))
            elif (match.score, match.rationale, match.signals) != (score, rationale, signals):
                match.score, match.rationale, match.signals, match.updated_at = score, rationale, signals, now
            scored += 1
    session.flush()
    return scored


def top_matches(session: Session, tenant_id: int, limit: int = 10, advertiser_id: str | None = None,
                podcast_id: str | None = None) -> list[dict]:
    query = select(Match).where(Match.tenant_id == tenant_id)
    if advertiser_id:
        query = query.where(Match.advertiser_id == advertiser_id)
    if podcast_id:
        query = query.where(Match.podcast_id == podcast_id)
    query = query.order_by(Match.score.desc(), Match.advertiser_id, Match.podcast_id).limit(limit)
    return [{
        "advertiser_id": m.advertiser_id,
        "podcast_id": m.podcast_id,
        "score": m.score,
        "rationale": m.rationale,
        "signals": m.signals,
        "updated_at": m.updated_at.isoformat(),
    } for m in session.scalars(query)]
