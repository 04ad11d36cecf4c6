"""Stale sources: each source that feeds a tenant has an expected cadence; past it, it is stale.

The sources, and when each was last seen:

    connector:<name>               a pull connector: its last synced page (connector_states.last_sync_at)
    sheets:<spreadsheet id>/<tab>  a spreadsheet tab that pushes: its last push (etl_imports, source sheets)
    webhooks:<platform>            a shop's order webhooks: the last one received (webhook_receipts)

The expected cadence is the connector's schedule (`--every` minutes) when it has one; otherwise it is
learnt from the source's arrivals over the last 14 days (at least 3 of them): the 90th percentile of
the gaps between consecutive arrivals (nearest rank), so bursts of pushes a minute apart do not make a
daily sheet look hourly, and never under 15 minutes. Without either, a source is not judged yet.

    stale  when  now - last seen > HUB_STALE_FACTOR (2) × cadence

The state is kept per source (`source_health`); `source.stale` is emitted when a source becomes stale
(also the first time it is judged, if it is stale then) and `source.fresh` when a stale one is seen
again, each once per change.
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..events import emit
from ..models import ConnectorState, EtlImport, SourceHealth, WebhookReceipt

HISTORY = timedelta(days=14)
MIN_ARRIVALS = 3
MIN_CADENCE = timedelta(minutes=15)
PERCENTILE = 0.9


def learnt_cadence(arrivals: list[datetime]) -> timedelta | None:
    """The 90th percentile (nearest rank) of the gaps between consecutive arrivals, at least 15 minutes;
    None with fewer than 3 arrivals."""
    if len(arrivals) < MIN_ARRIVALS:
        return None
    ordered = sorted(arrivals)
    gaps = sorted(later - earlier for earlier, later in zip(ordered, ordered[1:]))
    rank = math.ceil(PERCENTILE * len(gaps))
    return max(gaps[rank - 1], MIN_CADENCE)


def _arrivals(session: Session, tenant_id: int, since: datetime) -> dict[str, tuple[str, list[datetime]]]:
    """Each source's arrivals since `since`: {source key: (kind, [times])}."""
    found: dict[str, tuple[str, list[datetime]]] = {}

    def add(key: str, kind: str, at: datetime | None) -> None:
        if at is not None:
            found.setdefault(key, (kind, []))[1].append(at)

    for source, table, context, created_at in session.execute(
            select(EtlImport.source, EtlImport.table_name, EtlImport.context, EtlImport.created_at)
            .where(EtlImport.tenant_id == tenant_id, EtlImport.created_at >= since)).all():
        if source == "sheets":
            context = context or {}
            add(f"sheets:{context.get('spreadsheet_id') or '?'}/{context.get('sheet') or table}", "sheet", created_at)
        else:
            add(f"connector:{source}", "connector", created_at)  # kept only for configured connectors, below
    for platform, created_at in session.execute(
            select(WebhookReceipt.platform, WebhookReceipt.created_at)
            .where(WebhookReceipt.tenant_id == tenant_id, WebhookReceipt.created_at >= since)).all():
        add(f"webhooks:{platform}", "webhooks", created_at)
    return found


def assess_sources(session: Session, tenant_id: int, now: datetime, factor: float) -> list[dict]:
    """Each judged source of the tenant: its key, kind, last seen, cadence (and where from), state."""
    arrivals = _arrivals(session, tenant_id, now - HISTORY)
    known = {h.source_key: h for h in session.scalars(select(SourceHealth).where(SourceHealth.tenant_id == tenant_id))}
    connectors = {f"connector:{s.connector}": s for s in session.scalars(
        select(ConnectorState).where(ConnectorState.tenant_id == tenant_id))}
    keys = {k for k, (kind, _) in arrivals.items() if kind != "connector"} | set(connectors) | set(known)
    judged = []
    for key in sorted(keys):
        kind, times = arrivals.get(key, (known[key].kind if key in known else "connector", []))
        stored = known.get(key)
        last_seen = max(times, default=None)
        state = connectors.get(key)
        if state is not None:
            last_seen = state.last_sync_at
        if stored is not None and stored.last_seen_at and (last_seen is None or stored.last_seen_at > last_seen):
            last_seen = stored.last_seen_at  # older than the 14 days looked at
        if state is not None and state.interval_minutes:
            cadence, cadence_from = timedelta(minutes=state.interval_minutes), "schedule"
        else:
            cadence, cadence_from = learnt_cadence(times), "learnt"
            if cadence is None and stored is not None and stored.cadence_seconds:
                cadence, cadence_from = timedelta(seconds=stored.cadence_seconds), stored.cadence_from
        if cadence is None or last_seen is None:
            continue  # not judged yet: no schedule and too little history
        silence = now - last_seen
        judged.append({"source": key, "kind": kind, "last_seen_at": last_seen,
                       "cadence_seconds": int(cadence.total_seconds()), "cadence_from": cadence_from,
                       "silent_seconds": int(silence.total_seconds()),
                       "stale_after_seconds": int(cadence.total_seconds() * factor),
                       "state": "stale" if silence > cadence * factor else "fresh"})
    return judged


def refresh_sources(session: Session, tenant_id: int, now: datetime, factor: float = 2.0) -> list[tuple[str, str]]:
    """Store each source's state; emit source.stale / source.fresh for each that changed.
    Returns the changes as (source key, new state)."""
    changes = []
    known = {h.source_key: h for h in session.scalars(select(SourceHealth).where(SourceHealth.tenant_id == tenant_id))}
    for item in assess_sources(session, tenant_id, now, factor):
        stored = known.get(item["source"])
        values = {"kind": item["kind"], "last_seen_at": item["last_seen_at"], "cadence_seconds": item["cadence_seconds"],
                  "cadence_from": item["cadence_from"], "checked_at": now}
        if stored is None:
            session.add(SourceHealth(tenant_id=tenant_id, source_key=item["source"], state=item["state"],
                                     changed_at=now, **values))
            session.flush()  # a concurrent check inserting the same source fails here, on the unique key
            previous = None
        else:
            previous = stored.state
            if previous == item["state"]:
                session.execute(update(SourceHealth).where(SourceHealth.id == stored.id).values(**values)
                                .execution_options(synchronize_session=False))
                continue
            # Conditional on the state read: of two concurrent checks one moves it and emits.
            moved = session.execute(update(SourceHealth).where(
                SourceHealth.id == stored.id, SourceHealth.state == previous).values(
                state=item["state"], changed_at=now, **values).execution_options(synchronize_session=False)).rowcount
            if not moved:
                continue
        if previous is None and item["state"] == "fresh":
            continue  # first judged and fresh: nothing happened
        emit(session, tenant_id, f"source.{item['state']}", {
            **item, "last_seen_at": item["last_seen_at"].isoformat(), "previous_state": previous,
            "checked_at": now.isoformat()}, subject=item["source"])
        changes.append((item["source"], item["state"]))
    return changes


def tenant_sources(session: Session) -> dict[int, list[SourceHealth]]:
    """Every tenant's judged sources, stale first (for the status page and metrics; the session spans tenants)."""
    by_tenant: dict[int, list[SourceHealth]] = defaultdict(list)
    for health in session.scalars(select(SourceHealth).order_by(
            SourceHealth.state.desc(), SourceHealth.tenant_id, SourceHealth.source_key)):
        by_tenant[health.tenant_id].append(health)
    return by_tenant
