"""Hook jobs: fan committed events out, then deliver each one with RQ's retries."""
from __future__ import annotations

import logging

from rq import get_current_job

from ..config import Settings, load_settings
from ..db import make_session_factory
from ..hooks.delivery import dispatch_events, deliver
from .queue import enqueue

log = logging.getLogger(__name__)
DISPATCH_JOB_ID = "dispatch-events"


def allow_loopback(settings: Settings) -> bool:
    return settings.env in ("development", "test")


def execute_dispatch(settings: Settings) -> list[int]:
    session = make_session_factory(settings.database_url)()
    try:
        delivery_ids = dispatch_events(session)
        session.commit()
    finally:
        session.close()
    for delivery_id in delivery_ids:
        enqueue_delivery(settings, delivery_id)
    return delivery_ids


def execute_delivery(settings: Settings, delivery_id: int, final_attempt: bool = True):
    session = make_session_factory(settings.database_url)()
    try:
        return deliver(session, delivery_id, settings.secret_key, allow_loopback(settings), final_attempt).status
    finally:
        session.close()


def dispatch_job() -> list[int]:
    return execute_dispatch(load_settings())


def delivery_job(delivery_id: int) -> str:
    job = get_current_job()
    return execute_delivery(load_settings(), delivery_id, final_attempt=job is None or not job.should_retry)


def enqueue_dispatch(settings: Settings) -> str:
    """Ask for a dispatch soon; one queued dispatch serves every event committed before it runs."""
    return enqueue(settings, dispatch_job, job_id=DISPATCH_JOB_ID, inline=execute_dispatch)


def enqueue_delivery(settings: Settings, delivery_id: int) -> str:
    return enqueue(settings, delivery_job, delivery_id, job_id=f"deliver-{delivery_id}", inline=execute_delivery)
