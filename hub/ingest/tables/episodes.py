"""episodes: a podcast's episodes, as its RSS feed lists them (connectors/rss.py), or from a file.

A plain upsert keyed by `episode_id` (the feed item's guid unless the connector maps it to the tenant's
own ids). `duration` takes itunes:duration as the feed writes it (seconds, MM:SS or HH:MM:SS) and is
stored as `duration_seconds`; a value in none of those forms is that episode's row error."""
from __future__ import annotations

from datetime import date, timezone

from ...models import Episode
from .. import values as v
from ..spec import Column, TableSpec


def published_on_matches(row: dict) -> list[tuple[str, str]]:
    """`published_on` is the UTC day of `published_at` when a row carries both."""
    at, on = row.get("published_at"), row.get("published_on")
    if at is not None and isinstance(on, date) and at.astimezone(timezone.utc).date() != on:
        return [("published_on", f"{on} is not the UTC day of published_at {at.isoformat()}")]
    return []


EPISODES = TableSpec(
    name="episodes",
    table=Episode.__table__,
    columns=(
        Column("episode_id", v.parse_identifier, required=True, key=True),
        Column("podcast_id", v.parse_identifier),
        Column("guid", v.parse_text),
        Column("title", v.parse_text),
        Column("published_at", v.parse_datetime),
        Column("published_on", v.parse_date),
        Column("duration_seconds", v.parse_count, alias="duration", alias_parse=v.parse_duration),
        Column("season_number", v.parse_count),
        Column("episode_number", v.parse_count),
        Column("episode_type", v.parse_choice(("full", "trailer", "bonus"))),
        Column("audio_url", v.parse_url),
        Column("transcript_url", v.parse_url),
        Column("chapters_url", v.parse_url),
    ),
    row_rules=(published_on_matches,),
    created_at="created_at",
    sheet_tab=False,
)
