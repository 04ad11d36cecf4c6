"""Prometheus metrics for `GET /metrics`.

The hub runs as several processes (gunicorn workers, RQ workers, the scheduler), so counters kept in
one process's memory would each tell a different, partial story. Everything that matters is
therefore read at scrape time from where the truth is, by `HubCollector`: imports, rows and
durations from the database, queue depths and workers from Redis. Whichever web process answers
the scrape gives the same numbers.

The one exception is `hub_webhook_requests_total`: a webhook request that was refused leaves no
row anywhere, so each web process counts what it served. Under gunicorn's several workers this uses
prometheus_client's multiprocess mode (the documented way): with PROMETHEUS_MULTIPROC_DIR set (as
deploy/gunicorn.conf.py does), every worker keeps its counts in a file there and a scrape, whichever
worker answers it, adds them all up.
"""
from __future__ import annotations

from collections import defaultdict

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session, sessionmaker

from ..config import Settings
from ..db import across_tenants
from ..models import ConnectorState, EtlImport, Event, HookDelivery, SourceHealth, Tenant, WebhookReceipt
from ..quotas import usage
from .monitor import REGISTRIES, RedisDown, queue_snapshot

# Import durations span sub-second sheet pushes to hour-long files.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
ROW_OUTCOMES = ("inserted", "updated", "unchanged", "refused")

# Counted by the web process that served the request; summed over the processes through
# PROMETHEUS_MULTIPROC_DIR (see the module's docstring). Without it (one process: `hub serve`, the
# tests) it is that process's count.
WEBHOOK_REQUESTS = Counter(
    "hub_webhook_requests",
    "Webhook requests served by the hub's web processes, by source and HTTP status code.",
    ["source", "code"],
)


def count_webhook_request(path: str, matched: bool, status_code: int) -> None:
    """Count one request to /webhooks/<source>/...; unmatched paths share one label to bound cardinality."""
    if not path.startswith("/webhooks/"):
        return
    source = path[len("/webhooks/"):].split("/", 1)[0] if matched else ""
    WEBHOOK_REQUESTS.labels(source=source or "unknown", code=str(status_code)).inc()


class HubCollector:
    """Reads the hub's state at scrape time; one instance per scrape (it holds the app's settings)."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]):
        self.settings = settings
        self.sessions = sessions

    def collect(self):
        yield from self._database_metrics()
        yield from self._queue_metrics()

    # --- the database -------------------------------------------------------------------------

    def _database_metrics(self):
        up = GaugeMetricFamily("hub_database_up", "1 if the database answered this scrape, else 0.")
        session = across_tenants(self.sessions())  # the scrape counts every tenant's rows
        try:
            families = list(self._read_database(session))
        except Exception:  # any failure to read means the database is down for the scrape
            up.add_metric([], 0)
            yield up
            return
        finally:
            session.close()
        up.add_metric([], 1)
        yield up
        yield from families

    def _read_database(self, session: Session):
        imports = GaugeMetricFamily("hub_imports", "Imports recorded in the database, by status and source.",
                                    labels=["status", "source"])
        for status, source, count in session.execute(
            select(EtlImport.status, EtlImport.source, func.count()).group_by(EtlImport.status, EtlImport.source)
            .order_by(EtlImport.status, EtlImport.source)
        ).all():
            imports.add_metric([status, source], count)
        yield imports

        rows = CounterMetricFamily("hub_import_rows", "Rows of every import so far, by outcome "
                                   "(sum of the imports' inserted/updated/unchanged/refused counts).",
                                   labels=["outcome"])
        sums = session.execute(select(
            func.coalesce(func.sum(EtlImport.rows_inserted), 0), func.coalesce(func.sum(EtlImport.rows_updated), 0),
            func.coalesce(func.sum(EtlImport.rows_unchanged), 0), func.coalesce(func.sum(EtlImport.rows_refused), 0),
        )).one()
        for outcome, value in zip(ROW_OUTCOMES, sums):
            rows.add_metric([outcome], int(value or 0))
        yield rows

        yield self._durations(session)

        events = CounterMetricFamily("hub_events", "Domain events recorded (the outbox), by name.", labels=["name"])
        for name, count in session.execute(
            select(Event.name, func.count()).group_by(Event.name).order_by(Event.name)
        ).all():
            events.add_metric([name], count)
        yield events

        deliveries = GaugeMetricFamily("hub_webhook_deliveries", "Outgoing REST-hook deliveries, by status.",
                                       labels=["status"])
        for status, count in session.execute(
            select(HookDelivery.status, func.count()).group_by(HookDelivery.status).order_by(HookDelivery.status)
        ).all():
            deliveries.add_metric([status], count)
        yield deliveries

        receipts = GaugeMetricFamily("hub_webhook_receipts", "Platform webhooks received and kept, by platform "
                                     "and status (queued, processed, failed).", labels=["platform", "status"])
        for platform, status, count in session.execute(
            select(WebhookReceipt.platform, WebhookReceipt.status, func.count())
            .group_by(WebhookReceipt.platform, WebhookReceipt.status)
            .order_by(WebhookReceipt.platform, WebhookReceipt.status)
        ).all():
            receipts.add_metric([platform, status], count)
        yield receipts

        connectors = GaugeMetricFamily("hub_connectors", "Pull connectors' per-tenant states, by connector and status.",
                                       labels=["connector", "status"])
        for connector, status, count in session.execute(
            select(ConnectorState.connector, ConnectorState.status, func.count())
            .group_by(ConnectorState.connector, ConnectorState.status)
            .order_by(ConnectorState.connector, ConnectorState.status)
        ).all():
            connectors.add_metric([connector, status], count)
        yield connectors

        # Totals only, like every family here (/metrics is not behind the admin token): a source's key
        # names a tenant's spreadsheet. Which sources are stale is on the admin page.
        sources = GaugeMetricFamily("hub_sources", "Judged sources (connectors, sheet tabs, shop webhooks) by kind and "
                                    "state at the last scheduled check; stale = quiet past HUB_STALE_FACTOR × its "
                                    "cadence.", labels=["kind", "state"])
        for kind, state, count in session.execute(
            select(SourceHealth.kind, SourceHealth.state, func.count())
            .group_by(SourceHealth.kind, SourceHealth.state).order_by(SourceHealth.kind, SourceHealth.state)
        ).all():
            sources.add_metric([kind, state], count)
        yield sources

        tenants = GaugeMetricFamily("hub_tenants", "Tenants in the database.")
        tenants.add_metric([], session.scalar(select(func.count()).select_from(Tenant)) or 0)
        yield tenants
        yield from self._quotas(session)

    def _quotas(self, session: Session):
        """Each tenant's quotas. Labelled by tenant id, never its slug: /metrics is open, and tenant
        names are not to be probed (the admin page maps ids to tenants)."""
        limits = GaugeMetricFamily("hub_quota_limit", "Each tenant's limit per quota: rows per day, or requests "
                                   "per minute per surface (its own or the HUB_QUOTA_* default).",
                                   labels=["tenant_id", "quota"])
        used = GaugeMetricFamily("hub_quota_used", "What each tenant has used of each quota in its current window "
                                 "(from the quota counters: Redis, or this process's memory without it).",
                                 labels=["tenant_id", "quota"])
        for tenant_id in session.scalars(select(Tenant.id).order_by(Tenant.id)):
            for row in usage(session, self.settings, tenant_id):
                limits.add_metric([str(tenant_id), row.quota], row.limit)
                used.add_metric([str(tenant_id), row.quota], row.used)
        yield limits
        yield used

    def _durations(self, session: Session) -> HistogramMetricFamily:
        """started_at -> finished_at of every finished import, by source: a cumulative histogram, as
        Prometheus expects (it only grows as imports finish, so rate() and histogram_quantile() over
        rate() work), counted by the database in one query.

        Not an in-process Histogram: imports finish in RQ's work horses, one forked process per job,
        and prometheus_client's multiprocess mode would keep a file per job for ever. The database
        already holds each import's start and finish, wherever it ran."""
        family = HistogramMetricFamily(
            "hub_import_duration_seconds",
            "Run time (started_at to finished_at) of every finished import, by source.",
            labels=["source"],
        )
        seconds = _seconds_between(session, EtlImport.started_at, EtlImport.finished_at)
        counts = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
        for source, total, sum_seconds, *in_buckets in session.execute(
            select(EtlImport.source, func.count(), func.coalesce(func.sum(seconds), literal(0.0)), *counts)
            .where(EtlImport.finished_at.is_not(None), EtlImport.started_at.is_not(None))
            .group_by(EtlImport.source).order_by(EtlImport.source)
        ).all():
            buckets = [(_bucket_name(bound), int(n or 0)) for bound, n in zip(DURATION_BUCKETS, in_buckets)]
            buckets.append(("+Inf", int(total)))
            family.add_metric([source], buckets, float(sum_seconds or 0.0))
        return family

    # --- Redis ----------------------------------------------------------------------------------

    def _queue_metrics(self):
        inline = GaugeMetricFamily("hub_jobs_inline", "1 if jobs run inline in the web process (no Redis configured).")
        inline.add_metric([], 1 if self.settings.jobs_inline else 0)
        yield inline
        if self.settings.jobs_inline:
            return
        up = GaugeMetricFamily("hub_redis_up", "1 if Redis answered this scrape, else 0.")
        try:
            snapshot = queue_snapshot(self.settings, details=False)
        except RedisDown:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = self.settings.queue_name
        jobs = GaugeMetricFamily("hub_queue_jobs", "Jobs in the RQ queue and its registries "
                                 "(queued = waiting in the queue).", labels=["queue", "registry"])
        for registry in ("queued", *REGISTRIES):
            jobs.add_metric([queue, registry], snapshot["counts"].get(registry, 0))
        yield jobs
        workers = GaugeMetricFamily("hub_workers", "RQ workers listening on the queue, by state.",
                                    labels=["queue", "state"])
        states: dict[str, int] = defaultdict(int)
        for worker in snapshot["workers"]:
            states[worker["state"] or "unknown"] += 1
        for state in sorted(states):
            workers.add_metric([queue, state], states[state])
        yield workers


def _bucket_name(bound: float) -> str:
    return str(float(bound))


def _seconds_between(session: Session, start, end):
    """finished - started in seconds, as SQL: PostgreSQL's interval epoch, SQLite's julian days."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def render_metrics(settings: Settings, sessions: sessionmaker[Session]) -> bytes:
    """The exposition text: this process's own metrics (default registry) and the hub's, read now."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every web process's counts, from their files (prometheus_client's documented multiprocess mode).
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    registry.register(HubCollector(settings, sessions))
    return generate_latest(registry)


class _DefaultRegistry:
    """The default registry (process_*, python_*, hub_webhook_requests_total) as one collector."""

    def collect(self):
        return REGISTRY.collect()
