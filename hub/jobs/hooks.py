"""Hook jobs: fan committed events out, deliver each one, and resend what failed.

A delivery's retries are not RQ's: a failed attempt sets the delivery's next_attempt_at and its job
ends; the reconciler (RQ cron, `python -m hub reconcile`) enqueues it again once that time has
come. No scheduler process has to stay alive for a day of retries.
"""
from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import RedisError
from rq import get_current_job
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from ..config import Settings, load_settings
from ..db import for_owner_of, session_scope
from ..hooks.delivery import deliver, dispatch_events, mark_for_resend
from ..models import HookDelivery, HookSubscription
from .kinds import DELIVERY, DISPATCH
from .queue import JobSpec, redis_connection

log = logging.getLogger(__name__)


def allow_loopback(settings: Settings) -> bool:
    return settings.env in ("development", "test")


def execute_dispatch(settings: Settings) -> list[int]:
    # One dispatch serves every tenant's new events.
    with session_scope(settings.database_url, all_tenants=True) as session:
        delivery_ids = dispatch_events(session)
        session.commit()
    for delivery_id in delivery_ids:
        enqueue_delivery(settings, delivery_id)
    return delivery_ids


def execute_delivery(settings: Settings, delivery_id: int, requested_at: datetime | None = None) -> str:
    with session_scope(settings.database_url) as session:
        for_owner_of(session, HookDelivery, delivery_id)
        return deliver(session, delivery_id, settings.secret_key, allow_loopback(settings),
                       settings.hook_retry_intervals, requested_at).status


def dispatch_job() -> list[int]:
    return execute_dispatch(load_settings())


def delivery_job(delivery_id: int) -> str:
    job = get_current_job()
    # When the job was (re)queued: a failed delivery whose job was requeued afterwards is sent again.
    return execute_delivery(load_settings(), delivery_id, requested_at=job.enqueued_at if job else None)


DISPATCH_JOB = JobSpec(DISPATCH, rq=dispatch_job, inline=execute_dispatch)
# A delivery's retries are its own (next_attempt_at), not RQ's.
DELIVERY_JOB = JobSpec(DELIVERY, rq=delivery_job, inline=execute_delivery, rq_retries=False)


def enqueue_dispatch(settings: Settings) -> str:
    """Ask for a dispatch soon; one queued dispatch serves every event committed before it runs."""
    return DISPATCH_JOB.enqueue(settings)


def enqueue_delivery(settings: Settings, delivery_id: int) -> str:
    return DELIVERY_JOB.enqueue(settings, delivery_id)


class ResendRefused(ValueError):
    """What was asked cannot be resent (delivered, unsubscribed, another tenant's, absent)."""


def resend_deliveries(settings: Settings, delivery_ids: list[int] | None = None, subscription_id: int | None = None,
                      tenant_id: int | None = None) -> dict[int, str]:
    """Send deliveries again now: the ones named (failed or still waiting), or every failed one of a
    subscription. `tenant_id` limits it to one tenant's (the API); the admin and CLI see all.
    Returns {delivery id: how its job was queued}."""
    with session_scope(settings.database_url, tenant_id=tenant_id, all_tenants=tenant_id is None) as session:
        if subscription_id is not None:
            subscription = session.get(HookSubscription, subscription_id)
            if subscription is None or (tenant_id is not None and subscription.tenant_id != tenant_id):
                raise LookupError(f"no hook subscription {subscription_id}")
            if subscription.unsubscribed_at is not None:
                raise ResendRefused(f"hook subscription {subscription_id} is unsubscribed; subscribe its URL again first")
            chosen = session.scalars(select(HookDelivery).where(
                HookDelivery.subscription_id == subscription_id, HookDelivery.status == "failed")
                .order_by(HookDelivery.id)).all()
        else:
            chosen = []
            for delivery_id in delivery_ids or []:
                delivery = session.get(HookDelivery, delivery_id)
                if delivery is None or (tenant_id is not None and delivery.tenant_id != tenant_id):
                    raise LookupError(f"no hook delivery {delivery_id}")
                if delivery.status not in ("failed", "pending"):
                    raise ResendRefused(f"hook delivery {delivery_id} is {delivery.status}; "
                                        "only failed or waiting deliveries are resent")
                subscription = session.get(HookSubscription, delivery.subscription_id)
                if subscription.unsubscribed_at is not None:
                    raise ResendRefused(f"hook delivery {delivery_id}: its subscription {subscription.id} is unsubscribed")
                chosen.append(delivery)
        resent = mark_for_resend(session, chosen)
        session.commit()
    if resent and not settings.jobs_inline:
        try:
            # Each new job reuses its delivery's job id: its old failure must not stay listed as failed.
            registry = FailedJobRegistry(settings.queue_name, connection=redis_connection(settings.redis_url))
            for delivery_id in resent:
                registry.remove(DELIVERY.job_id(delivery_id))
        except RedisError as error:
            log.warning("could not clear the failed jobs of resent deliveries: %s", error)
    return {delivery_id: enqueue_delivery(settings, delivery_id) for delivery_id in resent}
