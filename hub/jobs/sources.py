"""Ad-ops chores on the scheduler's clock: every tenant's sources judged (changes announced), and rows'
history pruned past its retention."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from ..config import Settings, load_settings
from ..db import session_scope
from ..history import prune_history
from ..models import Tenant, utcnow
from ..workflows.source_health import refresh_sources
from .hooks import enqueue_dispatch


def check_sources(settings: Settings, now: datetime | None = None) -> dict[int, list[tuple[str, str]]]:
    """Judge each tenant's sources (hub/workflows/source_health.py); returns each tenant's changes."""
    now = now or utcnow()
    with session_scope(settings.database_url, all_tenants=True) as session:  # the fan-out; each tenant's own below
        tenant_ids = session.scalars(select(Tenant.id).order_by(Tenant.id)).all()
    changes = {}
    for tenant_id in tenant_ids:
        with session_scope(settings.database_url, tenant_id=tenant_id) as session:
            changes[tenant_id] = refresh_sources(session, tenant_id, now, settings.stale_factor)
    if any(changes.values()):
        enqueue_dispatch(settings)  # source.stale / source.fresh out to subscribers now
    return changes


def check_sources_job() -> dict:
    return {str(tenant_id): found for tenant_id, found in check_sources(load_settings()).items()}


def prune_row_history(settings: Settings, now: datetime | None = None) -> int:
    """Forget changes older than HUB_HISTORY_RETENTION_DAYS, every tenant's at once (maintenance)."""
    before = (now or utcnow()) - timedelta(days=settings.history_retention_days)
    with session_scope(settings.database_url, all_tenants=True) as session:
        return prune_history(session, before)


def prune_row_history_job() -> int:
    return prune_row_history(load_settings())
