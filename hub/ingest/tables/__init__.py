"""The tables the hub imports, one module each, and the registry every list of tables reads (the API's
and the CLI's choices, Zapier's streams, the sheet tabs, the feature flags).

Adding a table: its model and migration, its module here, and one line in `TABLES`.
"""
from __future__ import annotations

from ..spec import TableSpec
from .conversions import CONVERSIONS
from .deals import DEALS
from .episodes import EPISODES
from .io_bookings import IO_BOOKINGS
from .metrics_daily import METRICS_DAILY
from .podcasts import PODCASTS

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (METRICS_DAILY, IO_BOOKINGS, CONVERSIONS, DEALS,
                                                             PODCASTS, EPISODES)}
# The tabs the Apps Script pushes (appscript/src/config.js keeps the same list; a test compares them).
SHEET_TABLES: tuple[str, ...] = tuple(name for name, spec in TABLES.items() if spec.sheet_tab)


def switched_off(flags, table_name: str | None) -> str | None:
    """What an input for `table_name` is told while its feature flag is off, or None when it is on."""
    spec = TABLES.get(table_name or "")
    if spec is None or spec.flag is None or getattr(flags, spec.flag):
        return None
    return spec.switched_off
