"""metrics_daily: downloads, listeners and commerce totals per day, episode and source."""
from __future__ import annotations

from ...models import MetricsDaily
from .. import values as v
from ..spec import REFRESH_DELIVERY, Column, TableSpec


def listeners_within_downloads(row: dict) -> list[tuple[str, str]]:
    downloads, listeners = row.get("downloads"), row.get("listeners")
    if isinstance(downloads, int) and isinstance(listeners, int) and listeners > downloads:
        return [("listeners", f"{listeners} is more than downloads {downloads}; a listener downloads at least once")]
    return []


METRICS_DAILY = TableSpec(
    name="metrics_daily",
    keeps_history=True,
    table=MetricsDaily.__table__,
    columns=(
        Column("day", v.parse_date, required=True, key=True),
        Column("episode_id", v.parse_identifier, required=True, key=True),
        Column("source", v.parse_source, required=True, key=True),
        Column("podcast_id", v.parse_identifier),
        Column("downloads", v.parse_count),
        Column("listeners", v.parse_count),
        Column("completion_rate", v.parse_rate),
        Column("ctr", v.parse_rate),
        Column("conversions", v.parse_count),
        Column("revenue_cents", v.parse_count, alias="revenue", alias_parse=v.parse_money_cents),
    ),
    row_rules=(listeners_within_downloads,),
    after_import=(REFRESH_DELIVERY,),
)
