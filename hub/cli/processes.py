"""`python -m hub worker|scheduler|serve`: the long-running processes."""
from __future__ import annotations

import click

from . import main, settings_or_exit


@main.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--in-process", is_flag=True,
              help="Run each job in this process (RQ's SimpleWorker) instead of a process forked for it: 1.2-1.6x "
                   "the imports per second on many small files, but a job's crash, leak or time-out is no "
                   "longer kept apart from the worker.")
def worker(burst: bool, in_process: bool) -> None:
    """Run an RQ worker on the hub's queue (run several for more throughput)."""
    from rq import SimpleWorker, Worker

    from ..db import get_engine
    from ..jobs.imports import reconcile_imports
    from ..jobs.queue import get_queue, redis_connection
    from ..jobs.reconcile import reconcile_accepted

    settings = settings_or_exit()
    if settings.jobs_inline:
        raise click.ClickException("HUB_REDIS_URL is not set: jobs run inline in the web process, no worker needed")
    from ..logging_setup import configure_logging

    configure_logging()
    reconcile_imports(settings)
    reconcile_accepted(settings)
    if not in_process:
        preload_for_jobs()
    # Forked job processes must not share the parent's pooled connections.
    get_engine(settings.database_url).dispose()
    get_engine.cache_clear()
    (SimpleWorker if in_process else Worker)([get_queue(settings)], connection=redis_connection(settings.redis_url)).work(
        burst=burst, with_scheduler=True
    )


def preload_for_jobs() -> None:
    """Load, once in the worker, what every job would otherwise load for itself: RQ's Worker forks a
    process per job, and a forked process starts with what its parent had loaded (RQ's notes on
    performance say to preload): pyarrow for every CSV import, the job modules, the mappers' set-up.
    Measured on 24 CSV imports of 5,000 rows with one worker: 7.5-8.2 s, and 6.7-7.3 s preloaded."""
    from sqlalchemy.orm import configure_mappers

    from ..ingest import columnar  # noqa: F401 - pyarrow, for CSV imports
    from ..jobs import (after_import, attribution, connectors, hooks, imports, matchmaking,  # noqa: F401
                        receipts, sheet_pull, writeback)

    configure_mappers()


@main.command("scheduler")
def scheduler() -> None:
    """Run RQ's cron scheduler with the hub's schedule (hub/jobs/cron.py)."""
    from rq.cron import CronScheduler

    from ..jobs.queue import redis_connection

    from ..logging_setup import configure_logging

    configure_logging()
    settings = settings_or_exit()
    if settings.jobs_inline:
        raise click.ClickException("HUB_REDIS_URL is not set: there is no queue to schedule onto")
    cron = CronScheduler(connection=redis_connection(settings.redis_url))
    cron.load_config_from_file("hub.jobs.cron")
    cron.start()


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the hub with Flask's server (for a laptop; use gunicorn wsgi:app in production)."""
    from .. import create_app

    create_app().run(host=host, port=port)
