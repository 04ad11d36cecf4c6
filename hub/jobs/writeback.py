"""Write-back jobs: after a sheet push's import finishes, its rows hear how it went."""
from __future__ import annotations

import logging

from ..config import Settings, load_settings
from ..db import for_owner_of, session_scope
from ..ingest.tables import TABLES
from ..models import FINISHED_STATUSES, EtlImport, utcnow
from ..sheets.mirror import mirror_to_sheet
from ..sheets.ownership import TenantSheets
from ..sheets.results import write_results
from ..sheets.targets import target_for
from ..sheets.writeback import write_back
from ..workflows.pacing import PacingThresholds
from .kinds import MIRROR, RESULTS, WRITE_BACK
from .queue import JobSpec

log = logging.getLogger(__name__)


def tenant_sheets(settings: Settings, session, tenant_id: int) -> TenantSheets:
    """The sheets (Google, or the local workbooks) as this tenant may touch them: its own spreadsheets only."""
    return TenantSheets(target_for(settings), session, tenant_id)


def execute_write_back(settings: Settings, import_id: str) -> dict:
    with session_scope(settings.database_url) as session:
        imp = for_owner_of(session, EtlImport, import_id)
        if imp is None or imp.status not in FINISHED_STATUSES:
            raise LookupError(f"import {import_id} is not finished; nothing to write back yet")
        result = write_back(session, tenant_sheets(settings, session, imp.tenant_id), imp, TABLES[imp.table_name].key)
        tenant_id = imp.tenant_id
        session.commit()  # what the sheet's cells now hold (hub/sheets/mirror.py)
    # One queued refresh serves every push that lands before it runs: 50 pushes, not 50 rewrites.
    enqueue_results(settings, tenant_id)
    return {"import_id": import_id, "written": result.written, "moved": result.moved, "unmatched": result.unmatched,
            "mirrored": result.mirrored}


def write_back_job(import_id: str) -> dict:
    """What an RQ worker runs; settings come from the worker's environment."""
    return execute_write_back(load_settings(), import_id)


WRITE_BACK_JOB = JobSpec(WRITE_BACK, rq=write_back_job, inline=execute_write_back)


def enqueue_write_back(settings: Settings, import_id: str) -> str:
    return WRITE_BACK_JOB.enqueue(settings, import_id)


def execute_results(settings: Settings, tenant_id: int) -> int | None:
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        return write_results(session, tenant_sheets(settings, session, tenant_id), tenant_id, utcnow().date(),
                             PacingThresholds.of(settings), settings.reconcile_tolerance)


def results_job(tenant_id: int) -> int | None:
    return execute_results(load_settings(), tenant_id)


RESULTS_JOB = JobSpec(RESULTS, rq=results_job, inline=execute_results)


def enqueue_results(settings: Settings, tenant_id: int) -> str:
    """Refresh the tenant's hub_results tab soon (after syncs and orders change what it shows)."""
    return RESULTS_JOB.enqueue(settings, tenant_id)


def execute_mirror(settings: Settings, tenant_id: int, table: str) -> int | None:
    """Put the hub's values (IO statuses, deal stages) into the tenant's sheet cells that still show the old ones."""
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        written = mirror_to_sheet(session, tenant_sheets(settings, session, tenant_id), tenant_id, table)
        session.commit()
        return written


def mirror_job(tenant_id: int, table: str) -> int | None:
    return execute_mirror(load_settings(), tenant_id, table)


MIRROR_JOB = JobSpec(MIRROR, rq=mirror_job, inline=execute_mirror)


def enqueue_mirror(settings: Settings, tenant_id: int, table: str) -> str:
    """After the hub changed values a sheet holds (the lifecycle completed IOs, the API moved a deal)."""
    return MIRROR_JOB.enqueue(settings, tenant_id, table)
