"""What follows an import, as its table and its source declare it (`TableSpec.after_import`,
`SourceSpec.writes_back`), run the same way whether the import ran in a job, a connector sync or an
API request: a sheet push is written back, new downloads may complete IOs, a file or zap that changed
what a sheet shows is mirrored into it, and the import's events go out to subscribers.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..config import Settings
from ..db import session_scope
from ..ingest.spec import MIRROR, REFRESH_DELIVERY, source_spec
from ..ingest.tables import TABLES
from ..models import EtlImport, utcnow
from ..workflows import io_lifecycle, pacing
from .hooks import enqueue_dispatch
from .writeback import enqueue_mirror, enqueue_write_back


@dataclass(frozen=True)
class Finished:
    """What the steps need of an import that ran (its session may be gone by then)."""

    import_id: str
    tenant_id: int
    table: str
    source: str
    rows_updated: int

    @classmethod
    def of(cls, imp: EtlImport) -> "Finished":
        return cls(imp.id, imp.tenant_id, imp.table_name, imp.source, imp.rows_updated)


def refresh_io_delivery(settings: Settings, tenant_id: int, today: date | None = None) -> list[str]:
    """Complete the tenant's IOs whose flight ended or whose booked impressions are delivered, then
    restate the pacing of those still in flight (io.pacing_changed for each that changed)."""
    if not settings.flags.io_bookings:
        return []
    today = today or utcnow().date()
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        completed = io_lifecycle.refresh_delivery(session, tenant_id, today)
        pacing.refresh_pacing(session, tenant_id, today, pacing.PacingThresholds.of(settings))
    if completed:
        enqueue_mirror(settings, tenant_id, "io_bookings")  # the sheet's status cells say completed too
    return completed


def _refresh_delivery(settings: Settings, done: Finished) -> bool:
    refresh_io_delivery(settings, done.tenant_id)
    return True


def _mirror(settings: Settings, done: Finished) -> bool:
    # A sheet push hears about its own rows in its write-back; any other source that changed rows
    # leaves the sheet showing old values until they are mirrored.
    if not done.rows_updated or source_spec(done.source).writes_back:
        return False
    enqueue_mirror(settings, done.tenant_id, done.table)
    return True


STEPS = {REFRESH_DELIVERY: _refresh_delivery, MIRROR: _mirror}


def follow_imports(settings: Settings, finished: list[Finished]) -> None:
    """Run what follows each import; a step is run once per tenant and table however many imports ask
    for it (a sync's pages), and one dispatch serves them all."""
    done_steps: set[tuple[str, int, str]] = set()
    for done in finished:
        if source_spec(done.source).writes_back:
            enqueue_write_back(settings, done.import_id)
        spec = TABLES.get(done.table)
        for step in spec.after_import if spec else ():
            if (step, done.tenant_id, done.table) not in done_steps and STEPS[step](settings, done):
                done_steps.add((step, done.tenant_id, done.table))
    enqueue_dispatch(settings)


def follow_failed_import(settings: Settings, done: Finished) -> None:
    """An import that failed for good: its rows are still told (a sheet push's write-back), and its
    `etl.error` goes out."""
    if source_spec(done.source).writes_back:
        enqueue_write_back(settings, done.import_id)
    enqueue_dispatch(settings)
