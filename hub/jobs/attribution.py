"""Attribute a tenant's campaign orders again, after its attribution model, half-life or window changed
(`python -m hub tenant set-attribution`): one job per tenant (`reattribute-<tenant_id>`), inline
without Redis. Its credits and the shops' metrics_daily rows converge; the sheet's hub_results follow.
"""
from __future__ import annotations

import logging

from ..attribution.attribute import reattribute
from ..config import Settings, load_settings
from ..db import session_scope
from .kinds import REATTRIBUTE
from .queue import JobSpec
from .writeback import enqueue_results

log = logging.getLogger(__name__)


def execute_reattribute(settings: Settings, tenant_id: int) -> int:
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        orders = reattribute(session, tenant_id, settings.conversion_window_days, cause="reattribute")
    log.info("attribution for tenant %s: %d orders attributed again", tenant_id, orders)
    enqueue_results(settings, tenant_id)  # conversions, revenue and CPA per IO moved with the credits
    return orders


def reattribute_job(tenant_id: int) -> int:
    """What an RQ worker runs; settings come from the worker's environment."""
    return execute_reattribute(load_settings(), tenant_id)


REATTRIBUTE_JOB = JobSpec(REATTRIBUTE, rq=reattribute_job, inline=execute_reattribute, inline_raises=True)


def enqueue_reattribute(settings: Settings, tenant_id: int) -> str:
    return REATTRIBUTE_JOB.enqueue(settings, tenant_id)
