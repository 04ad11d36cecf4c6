"""The matchmaking job: recompute a tenant's sponsor x podcast scores, then tell subscribers.

`POST /api/match/recalculate` enqueues it once per tenant (job id `match-<tenant_id>`: a second
request while one is queued or running is not a second job), or runs it inline without Redis.
"""
from __future__ import annotations

import logging
from datetime import date

from ..config import Settings, load_settings
from ..db import session_scope
from ..events import emit
from ..models import utcnow
from ..workflows.matchmaking import recalculate
from .hooks import enqueue_dispatch
from .kinds import MATCH
from .queue import JobSpec
from .writeback import enqueue_results

log = logging.getLogger(__name__)


def execute_recalculate(settings: Settings, tenant_id: int, today: date | None = None) -> int:
    """Score every pair and emit `match.recalculated` in one transaction; dispatch it after the commit."""
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        scored = recalculate(session, tenant_id, today or utcnow().date())
        emit(session, tenant_id, "match.recalculated", {"matches": scored}, subject=str(tenant_id))
    log.info("matchmaking for tenant %s: %d pairs scored", tenant_id, scored)
    enqueue_dispatch(settings)
    enqueue_results(settings, tenant_id)  # the sheet's matches tab shows the new top scores
    return scored


def recalculate_job(tenant_id: int) -> int:
    """What an RQ worker runs; settings come from the worker's environment."""
    return execute_recalculate(load_settings(), tenant_id)


MATCH_JOB = JobSpec(MATCH, rq=recalculate_job, inline=execute_recalculate, inline_raises=True)


def enqueue_recalculate(settings: Settings, tenant_id: int) -> tuple[str, int | None]:
    """Queue the job (or run it now without Redis). Returns the queue's answer and, inline, the pairs scored."""
    result: dict[str, int] = {}

    def run_now(settings: Settings, tenant_id: int) -> None:
        result["matches"] = execute_recalculate(settings, tenant_id)

    status = MATCH_JOB.enqueue(settings, tenant_id, inline=run_now)
    return status, result.get("matches")
