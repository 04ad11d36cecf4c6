"""RQ's cron configuration (`rq cron hub.jobs.cron`, or `python -m hub scheduler`): what runs on a clock."""
from rq import cron

from ..config import load_settings
from .imports import reconcile_imports_job

cron.register(reconcile_imports_job, load_settings().queue_name, interval=60, name="reconcile-imports")
