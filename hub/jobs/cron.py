"""RQ's cron configuration (`rq cron hub.jobs.cron`, or `python -m hub scheduler`): what runs on a clock."""
from rq import cron

from ..config import load_settings
from .connectors import sync_due_connectors_job
from .hooks import dispatch_job
from .imports import refresh_all_io_delivery_job
from .reconcile import reconcile_job
from .sources import check_sources_job, prune_row_history_job

QUEUE = load_settings().queue_name
# Imports, platform webhook receipts and hook deliveries (whose retries are due through it).
cron.register(reconcile_job, QUEUE, interval=60, name="reconcile")
# Imports ask for a dispatch when they finish; this catches events whose request was lost.
cron.register(dispatch_job, QUEUE, interval=30, name="dispatch-events")
# IOs whose flight ended complete even when no import arrives.
cron.register(refresh_all_io_delivery_job, QUEUE, interval=3600, name="refresh-io-delivery")
# Each tenant's host connectors sync on their own interval (`python -m hub connector add ... --every`).
cron.register(sync_due_connectors_job, QUEUE, interval=60, name="sync-due-connectors")
# Sources quiet for longer than their cadence allows are announced stale (and fresh again when back).
cron.register(check_sources_job, QUEUE, interval=300, name="check-sources")
# Rows' history is kept HUB_HISTORY_RETENTION_DAYS.
cron.register(prune_row_history_job, QUEUE, interval=86400, name="prune-row-history")
