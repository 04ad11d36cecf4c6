"""Reconcilers beside the imports': platform webhook receipts and hook deliveries that nobody is working on.

Each one finds work the database says is accepted but not done, and enqueues it under its
deterministic job id unless a live job already has it. They run on RQ cron (hub/jobs/cron.py)
and from `python -m hub reconcile`.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from rq.registry import FailedJobRegistry
from sqlalchemy import or_, select

from ..config import Settings, load_settings
from ..db import session_scope
from ..models import HookDelivery, WebhookReceipt, utcnow
from .hooks import enqueue_delivery
from .imports import reconcile_imports_job
from .queue import job_is_pending, redis_connection
from .kinds import DELIVERY, RECEIPT
from .receipts import enqueue_receipt

log = logging.getLogger(__name__)


def reconcile_receipts(settings: Settings | None = None, grace_seconds: int = 60) -> list[int]:
    """Enqueue receipts still queued after `grace_seconds` with no live job: Redis was down when they
    arrived (the platform got its 200 all the same), or a worker died holding their job."""
    settings = settings or load_settings()
    if settings.jobs_inline:
        return []  # processed in the request that received them
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    with session_scope(settings.database_url, all_tenants=True) as session:
        waiting = session.scalars(select(WebhookReceipt.id).where(
            WebhookReceipt.status == "queued", WebhookReceipt.created_at < cutoff).order_by(WebhookReceipt.id)).all()
    requeued = []
    for receipt_id in waiting:
        job_id = RECEIPT.job_id(receipt_id)
        if job_is_pending(settings, job_id):
            continue
        _forget_failed_job(settings, job_id)
        if enqueue_receipt(settings, receipt_id) == "queued":
            requeued.append(receipt_id)
    if requeued:
        log.info("reconciler enqueued %d webhook receipt(s): %s", len(requeued), requeued)
    return requeued


def reconcile_deliveries(settings: Settings | None = None) -> list[int]:
    """Enqueue hook deliveries whose next attempt is due and that no live job holds: every retry of
    the long schedule goes through here, as do deliveries whose first job was never queued."""
    settings = settings or load_settings()
    with session_scope(settings.database_url, all_tenants=True) as session:
        due = session.scalars(select(HookDelivery.id).where(
            HookDelivery.status == "pending",
            or_(HookDelivery.next_attempt_at.is_(None), HookDelivery.next_attempt_at <= utcnow()),
        ).order_by(HookDelivery.next_attempt_at, HookDelivery.id)).all()
    enqueued = []
    for delivery_id in due:
        # Inline (no Redis) the attempt runs here and now; a final failure is logged and kept on the delivery.
        if settings.jobs_inline or not job_is_pending(settings, DELIVERY.job_id(delivery_id)):
            if enqueue_delivery(settings, delivery_id) in ("queued", "inline"):
                enqueued.append(delivery_id)
    if enqueued:
        log.info("reconciler enqueued %d hook deliveries: %s", len(enqueued), enqueued)
    return enqueued


def _forget_failed_job(settings: Settings, job_id: str) -> None:
    """A job that died with its worker sits in the failed registry; its re-run must not stay listed there."""
    try:
        FailedJobRegistry(settings.queue_name, connection=redis_connection(settings.redis_url)).remove(job_id)
    except RedisError:
        pass  # enqueueing will report Redis being down


def reconcile_accepted(settings: Settings | None = None) -> dict[str, list]:
    """Receipts and deliveries (the imports have their own reconciler, run beside these)."""
    settings = settings or load_settings()
    return {"receipts": reconcile_receipts(settings), "deliveries": reconcile_deliveries(settings)}


def reconcile_job() -> dict:
    """RQ cron's one reconcile entry: imports, then receipts and deliveries."""
    return {"imports": reconcile_imports_job(), **reconcile_accepted(load_settings())}
