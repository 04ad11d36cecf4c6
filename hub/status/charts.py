"""The tenant page's charts, drawn on the server as SVG (no script, no CDN; the page's CSP allows neither):
downloads and conversions per day, the delivery funnel of the live IOs, and a day × episode heatmap."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import IoBooking, MetricsDaily, RUNNING_IO_STATUSES
from ..workflows.io_lifecycle import COMMERCE_SOURCES, delivered_impressions

DAYS = 30
TOP_EPISODES = 10


def daily_series(session: Session, tenant_id: int, today: date, days: int = DAYS) -> list[dict]:
    """Per day of the last `days` (ending the day before `today`): downloads from the hosts and sheets,
    conversions from the shops."""
    first = today - timedelta(days=days)
    by_day = {first + timedelta(days=n): {"downloads": 0, "conversions": 0} for n in range(days)}
    commerce = MetricsDaily.source.in_(COMMERCE_SOURCES)
    for day, is_shop, downloads, conversions in session.execute(
            select(MetricsDaily.day, commerce, func.coalesce(func.sum(MetricsDaily.downloads), 0),
                   func.coalesce(func.sum(MetricsDaily.conversions), 0))
            .where(MetricsDaily.tenant_id == tenant_id, MetricsDaily.day >= first, MetricsDaily.day < today)
            .group_by(MetricsDaily.day, commerce)):
        if day in by_day:
            by_day[day]["conversions" if is_shop else "downloads"] += int(conversions if is_shop else downloads)
    return [{"day": day, **values} for day, values in sorted(by_day.items())]


def bars_svg(series: list[dict], key: str, title: str, width: int = 720, height: int = 160) -> str:
    top = max((point[key] for point in series), default=0) or 1
    step = width / max(len(series), 1)
    bars = []
    for n, point in enumerate(series):
        h = round(point[key] / top * (height - 20), 1)
        bars.append(f'<rect class="bar" x="{n * step + 1:.1f}" y="{height - 16 - h:.1f}" width="{step - 2:.1f}" '
                    f'height="{h}" data-day="{point["day"].isoformat()}" data-value="{point[key]}">'
                    f'<title>{point["day"].isoformat()}: {point[key]:,}</title></rect>')
    labels = "".join(f'<text x="{n * step:.1f}" y="{height - 2}">{point["day"].strftime("%d %b")}</text>'
                     for n, point in enumerate(series) if n % 7 == 0)
    return (f'<svg class="chart" role="img" aria-label="{title}" viewBox="0 0 {width} {height}" width="100%" '
            f'data-chart="{key}">{"".join(bars)}{labels}</svg>')


def delivery_funnel(session: Session, tenant_id: int) -> list[dict]:
    ios = session.scalars(select(IoBooking).where(IoBooking.tenant_id == tenant_id,
                                                  IoBooking.status.in_(RUNNING_IO_STATUSES))
                          .order_by(IoBooking.flight_end, IoBooking.io_id)).all()
    return [{"io_id": io.io_id, "booked": io.booked_impressions or 0, "delivered": delivered_impressions(session, io)}
            for io in ios]


def funnel_svg(rows: list[dict], width: int = 720) -> str:
    height = 22 * len(rows) + 4
    top = max((max(r["booked"], r["delivered"]) for r in rows), default=0) or 1
    parts = []
    for n, row in enumerate(rows):
        y = 22 * n + 2
        booked, delivered = row["booked"] / top * (width - 180), row["delivered"] / top * (width - 180)
        io_id = escape(row["io_id"])  # a tenant's own text: never markup
        parts.append(f'<text x="0" y="{y + 14}">{escape(row["io_id"][:22])}</text>'
                     f'<rect class="booked" x="170" y="{y}" width="{booked:.1f}" height="18"><title>booked {row["booked"]:,}</title></rect>'
                     f'<rect class="delivered" x="170" y="{y + 4}" width="{delivered:.1f}" height="10" '
                     f'data-io="{io_id}" data-delivered="{row["delivered"]}">'
                     f'<title>delivered {row["delivered"]:,}</title></rect>')
    return (f'<svg class="chart" role="img" aria-label="delivered against booked" viewBox="0 0 {width} {height}" '
            f'width="100%" data-chart="funnel">{"".join(parts)}</svg>')


def heatmap(session: Session, tenant_id: int, today: date, days: int = DAYS) -> tuple[list[date], list[tuple[str, list[int]]]]:
    """Downloads per day for the episodes with the most downloads in the last `days`."""
    first = today - timedelta(days=days)
    cells: dict[str, dict[date, int]] = defaultdict(dict)
    for episode, day, downloads in session.execute(
            select(MetricsDaily.episode_id, MetricsDaily.day, func.coalesce(func.sum(MetricsDaily.downloads), 0))
            .where(MetricsDaily.tenant_id == tenant_id, MetricsDaily.day >= first, MetricsDaily.day < today,
                   MetricsDaily.source.not_in(COMMERCE_SOURCES))
            .group_by(MetricsDaily.episode_id, MetricsDaily.day)):
        cells[episode][day] = int(downloads)
    top = sorted(cells, key=lambda e: -sum(cells[e].values()))[:TOP_EPISODES]
    dates = [first + timedelta(days=n) for n in range(days)]
    return dates, [(episode, [cells[episode].get(d, 0) for d in dates]) for episode in top]


def heatmap_svg(dates: list[date], rows: list[tuple[str, list[int]]], width: int = 720) -> str:
    cell = (width - 100) / max(len(dates), 1)
    top = max((v for _, values in rows for v in values), default=0) or 1
    parts = []
    for n, (episode, values) in enumerate(rows):
        y = 16 * n
        parts.append(f'<text x="0" y="{y + 12}">{escape(episode[:14])}</text>')
        for m, value in enumerate(values):
            shade = round(0.08 + 0.92 * value / top, 3) if value else 0.03
            parts.append(f'<rect x="{100 + m * cell:.1f}" y="{y}" width="{cell - 1:.1f}" height="14" '
                         f'fill-opacity="{shade}" class="heat"><title>{escape(episode)}, {dates[m].isoformat()}: {value:,}</title></rect>')
    return (f'<svg class="chart" role="img" aria-label="downloads per episode and day" '
            f'viewBox="0 0 {width} {16 * len(rows) + 2}" width="100%" data-chart="heatmap">{"".join(parts)}</svg>')
