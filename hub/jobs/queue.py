"""The job queue: RQ on Redis when HUB_REDIS_URL is set, the same functions run inline when it is not."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job
from rq.job import Job, JobStatus

from ..config import Settings
from .kinds import JobKind

log = logging.getLogger(__name__)
# A job still in one of these states will run (again); enqueueing it a second time would double it.
PENDING_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


@lru_cache(maxsize=None)
def redis_connection(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)


def get_queue(settings: Settings) -> Queue:
    assert settings.redis_url, "no queue without HUB_REDIS_URL"
    return Queue(settings.queue_name, connection=redis_connection(settings.redis_url))


def job_is_pending(settings: Settings, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=redis_connection(settings.redis_url))
    except Exception:  # NoSuchJobError, or a job whose data expired
        return False
    return job.get_status(refresh=False) in PENDING_STATES


def job_is_waiting(settings: Settings, job_id: str) -> bool:
    """Queued, scheduled or deferred: not started yet, so a worker will pick it up."""
    try:
        job = Job.fetch(job_id, connection=redis_connection(settings.redis_url))
    except Exception:
        return False
    return job.get_status(refresh=False) in PENDING_STATES - {JobStatus.STARTED}


def forget_job(settings: Settings, job_id: str) -> None:
    """Remove a job RQ still holds for a worker that is gone (its registries included), so that the
    same id can be enqueued again."""
    try:
        Job.fetch(job_id, connection=redis_connection(settings.redis_url)).delete()
    except Exception:  # NoSuchJobError: nothing to forget
        pass


def forget_failed_job(settings: Settings, job_id: str) -> None:
    """Take a job out of RQ's failed registry: it is being run again, and must not be listed (or retried)
    as failed meanwhile."""
    from rq.registry import FailedJobRegistry

    try:
        FailedJobRegistry(settings.queue_name, connection=redis_connection(settings.redis_url)).remove(job_id)
    except RedisError as error:
        log.warning("could not clear failed job %s: %s", job_id, error)


def enqueue_due_retries(settings: Settings) -> bool:
    """Put retries whose time has come on the queue, as RQ's scheduler does, when no scheduler holds the
    queue (workers started as plain `rq worker hub`, or the one with the scheduler was killed and its
    lock has lapsed). RQ's own lock decides: while a live scheduler holds it, this leaves the work to it.
    Returns whether this call did the enqueueing."""
    from rq.scheduler import RQScheduler

    scheduler = RQScheduler([settings.queue_name], connection=redis_connection(settings.redis_url))
    try:
        if not scheduler.acquire_locks():
            return False
        try:
            scheduler.enqueue_scheduled_jobs()
        finally:
            scheduler.release_locks()
        return True
    except RedisError as error:
        log.warning("redis unreachable, due retries wait: %s", error)
        return False


def enqueue(settings: Settings, func: Callable, *args, job_id: str, inline: Callable, inline_raises: bool = False,
            rq_retries: bool = True, new: bool = False) -> str:
    """Queue `func(*args)` once under `job_id`, or run `inline(settings, *args)` when there is no Redis.

    Inline, a failure is logged and kept where the work records it (the import, the delivery...), as
    a worker would, unless `inline_raises`. Returns "inline", "queued", "already-queued", or "waiting"
    when Redis is unreachable: the caller has already persisted the work, and the reconciler
    enqueues it once Redis is back. `rq_retries=False`: the job keeps its own retry schedule, not RQ's.
    `new=True`: the caller knows `job_id` was never used (it names a record the caller has just created),
    so the look-up for a pending job, a round trip to Redis, is skipped.
    """
    if settings.jobs_inline:
        try:
            inline(settings, *args)
        except Exception:
            if inline_raises:
                raise
            log.exception("job %s failed inline", job_id)
        return "inline"
    try:
        if not new and job_is_pending(settings, job_id):
            return "already-queued"
        retry = Retry(max=settings.job_retries, interval=list(settings.job_retry_intervals)) if settings.job_retries and rq_retries else None
        get_queue(settings).enqueue(func, *args, job_id=job_id, retry=retry, job_timeout=3600, failure_ttl=30 * 86400)
        return "queued"
    except RedisError as error:
        log.warning("redis unreachable, job %s waits for the reconciler: %s", job_id, error)
        return "waiting"


@dataclass(frozen=True)
class JobSpec:
    """One job, declared once: the function a worker runs (RQ imports it by its dotted path), the one run
    in this process when there is no Redis (`inline(settings, *args)`), and its kind, which gives its id."""

    kind: JobKind
    rq: Callable
    inline: Callable
    # False: the job keeps its own retry schedule (hook deliveries), not RQ's.
    rq_retries: bool = True
    inline_raises: bool = False

    def job_id(self, *args: object) -> str:
        return self.kind.job_id(*args)

    def enqueue(self, settings: Settings, *args: object, inline: Callable | None = None, new: bool = False) -> str:
        return enqueue(settings, self.rq, *args, job_id=self.job_id(*args), inline=inline or self.inline,
                       inline_raises=self.inline_raises, rq_retries=self.rq_retries, new=new)


def not_retried() -> None:
    """Called by a job about to fail in a way no retry can change (a 401, a missing setting): RQ's retries
    are skipped, and the job is listed as failed at once."""
    job = get_current_job()
    if job is not None:
        job.retries_left = None  # the worker decides on this same object after the job raises
