"""podcasts: the shows a tenant sells, as their RSS feeds describe them (connectors/rss.py), or from a file.

A plain upsert keyed by `podcast_id`; a feed's sync writes one row per feed before its episodes."""
from __future__ import annotations

from ...models import Podcast
from .. import values as v
from ..spec import Column, TableSpec

PODCASTS = TableSpec(
    name="podcasts",
    table=Podcast.__table__,
    columns=(
        Column("podcast_id", v.parse_identifier, required=True, key=True),
        Column("title", v.parse_text),
        Column("category", v.parse_text),
        Column("feed_url", v.parse_url),
        Column("podcast_guid", v.parse_identifier),
        Column("author", v.parse_text),
        Column("language", v.parse_text),
        Column("image_url", v.parse_url),
        Column("itunes_type", v.parse_choice(("episodic", "serial"))),
    ),
    created_at="created_at",
    sheet_tab=False,
)
