"""Import jobs: the RQ entry point and the inline runner share one function."""
from __future__ import annotations

import logging
import traceback
from datetime import timedelta

from rq import get_current_job
from sqlalchemy import and_, or_, select

from ..config import Settings, load_settings
from ..db import for_owner_of, session_scope
from ..events import emit
from ..ingest.pipeline import LeaseLost, import_event_payload, rerun_can_change, run_import
from ..ingest.tables import TABLES
from ..models import EtlImport, Tenant, utcnow
from .after_import import Finished, follow_failed_import, follow_imports, refresh_io_delivery
from .hooks import enqueue_dispatch
from .kinds import IMPORT
from .queue import JobSpec, enqueue_due_retries, forget_failed_job, forget_job, job_is_pending, job_is_waiting
from .writeback import enqueue_results

log = logging.getLogger(__name__)


def refresh_all_io_delivery_job() -> dict:
    """On a clock: flights end without any import happening."""
    settings = load_settings()
    with session_scope(settings.database_url, all_tenants=True) as session:  # the fan-out: each tenant's own below
        tenant_ids = session.scalars(select(Tenant.id)).all()
    completed = {tenant_id: refresh_io_delivery(settings, tenant_id) for tenant_id in tenant_ids}
    enqueue_dispatch(settings)
    for tenant_id in tenant_ids:
        enqueue_results(settings, tenant_id)  # pacing moves with the calendar
    return completed


def execute_import(settings: Settings, import_id: str, final_attempt: bool = True) -> dict:
    """Run an import and what follows it; on a fault record the reason, and mark it failed once no retry is left."""
    with session_scope(settings.database_url) as session:
        for_owner_of(session, EtlImport, import_id)
        reopen_failed(session, import_id)
        try:
            imp = run_import(session, import_id, batch_rows=settings.import_batch_rows,
                             lease_seconds=settings.import_lease_seconds, tables=TABLES, settings=settings)
        except LeaseLost as lost:
            log.warning("%s", lost)  # the run that holds it finishes it, and reports it
            return {"import_id": import_id, "status": "handed-over"}
        except Exception as error:
            session.rollback()
            imp = session.get(EtlImport, import_id)
            if imp is not None:
                imp.error = f"{error.__class__.__name__}: {error}"
                imp.updated_at = utcnow()
                imp.lease_owner = imp.lease_expires_at = None  # this run is over: its retry may take the import
                if final_attempt:
                    imp.status, imp.finished_at = "failed", utcnow()
                    emit(session, imp.tenant_id, "etl.error", import_event_payload(imp), subject=imp.id)
                session.commit()
                if final_attempt:
                    follow_failed_import(settings, Finished.of(imp))
            log.error("import %s attempt failed (final=%s): %s", import_id, final_attempt, traceback.format_exc())
            raise
        done, status = Finished.of(imp), imp.status
    follow_imports(settings, [done])
    return {"import_id": import_id, "status": status}


def reopen_failed(session, import_id: str) -> None:
    """A job run for an import that failed on a fault is a retry (`hub retry`, the admin's Retry, or RQ's own
    `rq requeue` and rq-dashboard): the import goes back to queued and resumes after its last batch."""
    imp = session.get(EtlImport, import_id)
    if imp is not None and imp.status == "failed" and rerun_can_change(imp):
        imp.status, imp.finished_at, imp.updated_at = "queued", None, utcnow()
        session.commit()


def run_import_job(import_id: str) -> dict:
    """What an RQ worker runs. Settings come from the worker's environment, like the web app's."""
    job = get_current_job()
    final = job is None or not job.should_retry
    return execute_import(load_settings(), import_id, final_attempt=final)


IMPORT_JOB = JobSpec(IMPORT, rq=run_import_job, inline=execute_import)


def enqueue_import(settings: Settings, import_id: str, new: bool = False) -> str:
    """`new`: the import was created by the caller's own transaction, so no job for it exists yet."""
    return IMPORT_JOB.enqueue(settings, import_id, new=new)


def retry_import(settings: Settings, import_id: str) -> str:
    """Send a failed (or stuck) import round again; the rerun resumes after its last committed batch."""
    with session_scope(settings.database_url) as session:
        imp = for_owner_of(session, EtlImport, import_id)
        if imp is None:
            raise LookupError(f"import {import_id} does not exist")
        if imp.status in ("completed", "completed_with_errors"):
            raise ValueError(f"import {import_id} is {imp.status}; only failed or stuck imports are retried")
        if not rerun_can_change(imp):
            raise ValueError(f"import {import_id} was refused as a whole ({imp.error}); running it again cannot "
                             "change that: fix the input and send it again")
        imp.status, imp.finished_at, imp.updated_at = "queued", None, utcnow()
        session.commit()
    if not settings.jobs_inline:
        forget_failed_job(settings, IMPORT.job_id(import_id))  # RQ's failed registry no longer lists it
    return enqueue_import(settings, import_id)


def reconcile_imports(settings: Settings | None = None, grace_seconds: int = 60) -> list[str]:
    """Enqueue imports that were accepted but have no live run: Redis was down, or a worker died.

    A run renews its import's lease with every batch, so a `running` import whose lease lapsed has no
    live run, whatever RQ still says: a worker killed with SIGKILL leaves its job "started" until the
    job's timeout. That stale job is removed with RQ's own API and the import enqueued again; the new
    run resumes after the last committed batch."""
    settings = settings or load_settings()
    if settings.jobs_inline:
        return []
    enqueue_due_retries(settings)  # retries RQ scheduled, for when no worker runs RQ's scheduler
    now = utcnow()
    cutoff = now - timedelta(seconds=grace_seconds)
    with session_scope(settings.database_url, all_tenants=True) as session:
        waiting = session.scalars(select(EtlImport.id).where(
            EtlImport.status == "queued", EtlImport.updated_at < cutoff)).all()
        # A run that has not renewed its lease is dead (or, if merely slow, stops at its next batch).
        abandoned = session.scalars(select(EtlImport.id).where(
            EtlImport.status == "running",
            or_(EtlImport.lease_expires_at < now,
                and_(EtlImport.lease_owner.is_(None), EtlImport.updated_at < cutoff)))).all()
    requeued = []
    for import_id in waiting:
        if not job_is_pending(settings, IMPORT.job_id(import_id)) and enqueue_import(settings, import_id) == "queued":
            requeued.append(import_id)
    for import_id in abandoned:
        if job_is_waiting(settings, IMPORT.job_id(import_id)):
            continue  # queued or scheduled: a worker will start it
        forget_job(settings, IMPORT.job_id(import_id))  # "started" by a worker that is gone
        if enqueue_import(settings, import_id) == "queued":
            requeued.append(import_id)
    if requeued:
        log.info("reconciler enqueued %d import(s): %s", len(requeued), ", ".join(requeued))
    return requeued


def reconcile_imports_job() -> list[str]:
    return reconcile_imports(load_settings())
