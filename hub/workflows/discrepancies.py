"""Reconciling numbers: two host sources reporting the same episode and day should agree.

For each (day, episode) that two or more host sources report downloads for (shop rows carry no
downloads and are left out):

    difference = highest - lowest downloads among those sources
    spread     = difference / highest                 (0 when the highest is 0)

and the pair is flagged when spread > HUB_RECONCILE_TOLERANCE (0.05, i.e. they differ by more than
5% of the larger figure). An IO's delivery sums every host source, so a flagged day in its flight may
be counted twice: the IO API lists them and hub_results counts them (`source_conflicts`).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import MetricsDaily
from .io_lifecycle import COMMERCE_SOURCES

DEFAULT_TOLERANCE = 0.05


def discrepancies(session: Session, tenant_id: int, first: date, last: date, tolerance: float = DEFAULT_TOLERANCE,
                  episode_id: str | None = None) -> list[dict]:
    """The flagged (day, episode) pairs between `first` and `last`, by day then episode."""
    query = select(MetricsDaily.day, MetricsDaily.episode_id, MetricsDaily.source, MetricsDaily.downloads).where(
        MetricsDaily.tenant_id == tenant_id, MetricsDaily.day >= first, MetricsDaily.day <= last,
        MetricsDaily.downloads.is_not(None), MetricsDaily.source.not_in(COMMERCE_SOURCES))
    if episode_id is not None:
        query = query.where(MetricsDaily.episode_id == episode_id)
    reported: dict[tuple[date, str], dict[str, int]] = defaultdict(dict)
    for day, episode, source, downloads in session.execute(query).all():
        reported[(day, episode)][source] = int(downloads)
    flagged = []
    for (day, episode), by_source in sorted(reported.items()):
        if len(by_source) < 2:
            continue
        highest, lowest = max(by_source.values()), min(by_source.values())
        spread = (highest - lowest) / highest if highest else 0.0
        if spread > tolerance:
            flagged.append({"day": day.isoformat(), "episode_id": episode, "sources": dict(sorted(by_source.items())),
                            "difference": highest - lowest, "spread": round(spread, 4)})
    return flagged
