"""What the status page, its JSON twin and /metrics show: read at request time from the database and RQ.

Nothing here is cached in the process: the hub runs as several web and worker processes, and the
truth is in PostgreSQL (or SQLite) and Redis. Every function takes an open session and the settings,
and returns plain JSON-able data; the views only render it.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..ingest.pipeline import rerun_can_change
from ..ingest.summary import history_item
from ..jobs.kinds import IMPORT_KINDS, kind_of
from ..jobs.queue import redis_connection
from ..quotas import usage
from ..workflows.source_health import tenant_sources
from ..models import (
    ConnectorState,
    EtlImport,
    EtlRowError,
    Event,
    HookDelivery,
    HookSubscription,
    Tenant,
    WebhookReceipt,
)

# How many job ids per registry the page attributes to tenants and lists; the counts are always exact.
JOB_SCAN_LIMIT = 1000
FAILED_JOBS_SHOWN = 100
RECENT_IMPORTS = 50
RECENT_ROW_ERRORS = 50
RECENT_EVENTS = 50
RECENT_DELIVERIES = 20
PAYLOAD_CHARS = 160
CHART_HOURS = 24

# The RQ registries the page and /metrics report, by the name they are shown under.
REGISTRIES = {
    "started": StartedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "deferred": DeferredJobRegistry,
    "failed": FailedJobRegistry,
    "finished": FinishedJobRegistry,
}


class RedisDown(Exception):
    """Redis is configured but does not answer; the message says why."""


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive (they were stored in UTC); PostgreSQL hands them back aware."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value is not None else None


def hide_password(url: str) -> str:
    """The URL with its password (if any) replaced by ***, for display."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def error_line(text: str | None) -> str | None:
    """The last non-blank line of a traceback: the exception and its message."""
    if not text:
        return None
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def short_payload(payload, limit: int = PAYLOAD_CHARS) -> str:
    try:
        text = json.dumps(payload, sort_keys=True, default=str, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = str(payload)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def import_id_of(job_id: str) -> str | None:
    """The import a job works on, from the hub's deterministic job ids (import-<id>, write-back-<id>)."""
    return next((subject for kind in IMPORT_KINDS if (subject := kind.subject(job_id)) is not None), None)


def job_kind(job_id: str) -> str:
    kind = kind_of(job_id)
    return kind.name if kind else "other"


# --- the database ---------------------------------------------------------------------------

def database_info(session: Session) -> dict:
    engine = session.get_bind()
    return {"dialect": engine.dialect.name, "url": engine.url.render_as_string(hide_password=True)}


def tenant_names(session: Session) -> dict[int, dict]:
    return {t.id: {"slug": t.slug, "name": t.name} for t in session.scalars(select(Tenant).order_by(Tenant.slug))}


def imports_by_status(session: Session) -> dict[str, int]:
    return dict(session.execute(select(EtlImport.status, func.count()).group_by(EtlImport.status)).all())


_ROW_PREFIX = re.compile(r"^row \d+, ")
_FOUND_TAIL = re.compile(r",? found .*$", re.S)


def grouped_row_errors(session: Session, import_id: str, scan: int = 10_000) -> list[dict]:
    """An import's row errors grouped by what is wrong (the message without its row number and the value
    found), most frequent first, each with its count and first rows: 3,000 rows with the same bad date
    column read as one line, not 3,000."""
    groups: dict[tuple[str, str], dict] = {}
    for row, column, message in session.execute(
            select(EtlRowError.row_number, EtlRowError.column, EtlRowError.message)
            .where(EtlRowError.import_id == import_id).order_by(EtlRowError.row_number, EtlRowError.id).limit(scan)):
        what = _FOUND_TAIL.sub("", _ROW_PREFIX.sub("", message))
        group = groups.setdefault((column or "", what), {"column": column, "problem": what, "count": 0, "rows": []})
        group["count"] += 1
        if row is not None and len(group["rows"]) < 10:
            group["rows"].append(row)
    return sorted(groups.values(), key=lambda g: (-g["count"], g["rows"][:1]))


def import_choices(session: Session, tenants: dict[int, dict]) -> dict[str, list[str]]:
    """What the imports filter can pick from: the values that occur."""
    def distinct(column):
        return [value for value in session.scalars(select(column).distinct().order_by(column)) if value]
    return {"tenant": sorted(t["slug"] for t in tenants.values() if t.get("slug")),
            "status": distinct(EtlImport.status), "source": distinct(EtlImport.source),
            "table": distinct(EtlImport.table_name)}


def rows_per_hour(session: Session, now: datetime | None = None, hours: int = CHART_HOURS) -> list[dict]:
    """Rows written per hour (inserted or updated by the imports finished in that hour: unchanged and
    refused rows changed nothing), oldest hour first.

    Bucketed in Python, so SQLite and PostgreSQL give the same answer without date functions.
    The last bucket is the current, partial hour.
    """
    now = as_utc(now) or datetime.now(timezone.utc)
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=hours - 1)
    buckets = {first + timedelta(hours=h): 0 for h in range(hours)}
    finished = session.execute(
        select(EtlImport.finished_at, EtlImport.rows_inserted + EtlImport.rows_updated)
        .where(EtlImport.finished_at >= first)
    ).all()
    for finished_at, rows_total in finished:
        at = as_utc(finished_at)
        if at is None or at < first or at > now + timedelta(minutes=5):
            continue
        hour = at.replace(minute=0, second=0, microsecond=0)
        if hour in buckets:
            buckets[hour] += int(rows_total or 0)
    return [{"hour": hour.isoformat(), "label": hour.strftime("%H:00"), "rows": rows} for hour, rows in buckets.items()]


def chart(points: list[dict], width: int = 720, height: int = 160) -> dict:
    """Geometry for the inline SVG bar chart (computed here so the template stays dumb)."""
    top = max((p["rows"] for p in points), default=0)
    plot_h = height - 30
    slot = width / max(len(points), 1)
    bars = []
    for index, point in enumerate(points):
        h = 0 if top == 0 else max(1.0, plot_h * point["rows"] / top) if point["rows"] else 0
        bars.append({
            "x": round(index * slot + 2, 1),
            "y": round(10 + plot_h - h, 1),
            "width": round(slot - 4, 1),
            "height": round(h, 1),
            "rows": point["rows"],
            "label": point["label"],
            "hour": point["hour"],
            "show_label": index % 3 == 0 or index == len(points) - 1,
            "label_x": round(index * slot + slot / 2, 1),
        })
    return {"width": width, "height": height, "max": top, "total": sum(p["rows"] for p in points),
            "bars": bars, "baseline": 10 + plot_h}


IMPORT_FILTERS = ("tenant", "status", "source", "table", "q")


def recent_imports(session: Session, tenants: dict[int, dict], limit: int = RECENT_IMPORTS,
                   filters: dict[str, str] | None = None, page: int = 1) -> list[dict]:
    """The newest imports, `limit` a page, narrowed by `filters`: tenant (slug), status, source, table, and
    q: an import id or a part of its file or tab name."""
    query = select(EtlImport)
    wanted = {name: value.strip() for name, value in (filters or {}).items() if name in IMPORT_FILTERS and value.strip()}
    if "tenant" in wanted:
        ids = [tid for tid, t in tenants.items() if t.get("slug") == wanted["tenant"]]
        query = query.where(EtlImport.tenant_id.in_(ids))
    for name, column in (("status", EtlImport.status), ("source", EtlImport.source), ("table", EtlImport.table_name)):
        if name in wanted:
            query = query.where(column == wanted[name])
    if "q" in wanted:
        text = wanted["q"][:200]
        query = query.where((EtlImport.id == text) | EtlImport.filename.contains(text, autoescape=True))
    recent = session.scalars(query.order_by(EtlImport.created_at.desc(), EtlImport.id)
                             .limit(limit).offset(max(page - 1, 0) * limit)).all()
    error_counts = {}
    if recent:
        error_counts = dict(session.execute(
            select(EtlRowError.import_id, func.count())
            .where(EtlRowError.import_id.in_([imp.id for imp in recent]))
            .group_by(EtlRowError.import_id)
        ).all())
    items = []
    for imp in recent:
        item = history_item(imp)
        item.update(
            created_at=iso(imp.created_at),
            finished_at=iso(imp.finished_at),
            tenant=tenants.get(imp.tenant_id, {}).get("slug"),
            error=imp.error,
            attempts=imp.attempts,
            row_errors=error_counts.get(imp.id, 0),
            duration_seconds=round((as_utc(imp.finished_at) - as_utc(imp.started_at)).total_seconds(), 1)
            if imp.started_at and imp.finished_at else None,
            # Retry is offered only where a rerun can end otherwise (a fault, not a refused input).
            retryable=imp.status == "failed" and rerun_can_change(imp),
        )
        items.append(item)
    return items


def recent_row_errors(session: Session, tenants: dict[int, dict], limit: int = RECENT_ROW_ERRORS) -> list[dict]:
    errors = session.execute(
        select(EtlRowError.import_id, EtlRowError.tenant_id, EtlRowError.row_number, EtlRowError.column,
               EtlRowError.message, EtlRowError.created_at)
        .order_by(EtlRowError.id.desc())
        .limit(limit)
    ).all()
    return [
        {"import_id": i, "tenant": tenants.get(t, {}).get("slug"), "row": r, "column": c, "message": m,
         "created_at": iso(at)}
        for i, t, r, c, m, at in errors
    ]


def recent_events(session: Session, tenants: dict[int, dict], limit: int = RECENT_EVENTS) -> list[dict]:
    events = session.scalars(select(Event).order_by(Event.created_at.desc(), Event.id).limit(limit)).all()
    return [
        {"name": e.name, "tenant": tenants.get(e.tenant_id, {}).get("slug"), "subject": e.subject,
         "created_at": iso(e.created_at), "payload": short_payload(e.payload)}
        for e in events
    ]


def target_host(url: str) -> str:
    """Where a hook goes, without its path: a REST-hook URL's path is often its only secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…"


def webhook_deliveries(session: Session, tenants: dict[int, dict], limit: int = RECENT_DELIVERIES) -> dict:
    """Outgoing REST-hook deliveries: how many by status, the live subscriptions, the latest ones."""
    by_status = dict(session.execute(
        select(HookDelivery.status, func.count()).group_by(HookDelivery.status)).all())
    subscriptions = session.scalar(select(func.count()).select_from(HookSubscription)
                                   .where(HookSubscription.unsubscribed_at.is_(None))) or 0
    recent = session.execute(
        select(HookDelivery, HookSubscription.event, HookSubscription.target_url)
        .join(HookSubscription, HookSubscription.id == HookDelivery.subscription_id)
        .order_by(HookDelivery.updated_at.desc(), HookDelivery.id.desc())
        .limit(limit)
    ).all()
    failed = session.execute(
        select(HookDelivery, HookSubscription.event, HookSubscription.target_url)
        .join(HookSubscription, HookSubscription.id == HookDelivery.subscription_id)
        .where(HookDelivery.status == "failed", HookSubscription.unsubscribed_at.is_(None))
        .order_by(HookDelivery.updated_at.desc(), HookDelivery.id.desc())
        .limit(limit)
    ).all()
    failed_by_subscription = session.execute(
        select(HookDelivery.subscription_id, HookSubscription.tenant_id, HookSubscription.event,
               HookSubscription.target_url, func.count())
        .join(HookSubscription, HookSubscription.id == HookDelivery.subscription_id)
        .where(HookDelivery.status == "failed", HookSubscription.unsubscribed_at.is_(None))
        .group_by(HookDelivery.subscription_id, HookSubscription.tenant_id, HookSubscription.event,
                  HookSubscription.target_url)
        .order_by(HookDelivery.subscription_id)
    ).all()

    def item(d: HookDelivery, event: str, url: str) -> dict:
        return {"id": d.id, "subscription_id": d.subscription_id, "tenant": tenants.get(d.tenant_id, {}).get("slug"),
                "event": event, "target": target_host(url), "status": d.status, "attempts": d.attempts,
                "last_status_code": d.last_status_code, "last_error": error_line(d.last_error),
                "next_attempt_at": iso(d.next_attempt_at), "updated_at": iso(d.updated_at)}

    return {
        "subscriptions": subscriptions,
        "by_status": by_status,
        "recent": [item(d, event, url) for d, event, url in recent],
        # Failed for good (their retries ran out): each can be resent, or all of a subscription's at once.
        "failed": [item(d, event, url) for d, event, url in failed],
        "failed_by_subscription": [
            {"subscription_id": sid, "tenant": tenants.get(tid, {}).get("slug"), "event": event,
             "target": target_host(url), "failed": count}
            for sid, tid, event, url, count in failed_by_subscription
        ],
    }


def connector_states(session: Session, tenants: dict[int, dict]) -> list[dict]:
    """Each pull connector's state per tenant (where its sync got to, and how the last one ended)."""
    states = session.scalars(select(ConnectorState).order_by(ConnectorState.connector, ConnectorState.tenant_id)).all()
    return [
        {"tenant": tenants.get(s.tenant_id, {}).get("slug"), "tenant_id": s.tenant_id, "connector": s.connector,
         "status": s.status,
         "last_sync_at": iso(s.last_sync_at), "next_sync_at": iso(s.next_sync_at), "last_error": error_line(s.last_error), "updated_at": iso(s.updated_at)}
        for s in states
    ]


def source_states(session: Session, tenants: dict[int, dict]) -> list[dict]:
    """Each judged source (connector, sheet tab, shop webhooks) per tenant, stale first, as the last
    scheduled check found it (hub/workflows/source_health.py)."""
    return [
        {"tenant": tenants.get(tenant_id, {}).get("slug"), "source": h.source_key, "kind": h.kind, "state": h.state,
         "last_seen_at": iso(h.last_seen_at), "cadence_seconds": h.cadence_seconds, "cadence_from": h.cadence_from,
         "changed_at": iso(h.changed_at), "checked_at": iso(h.checked_at)}
        for tenant_id, found in tenant_sources(session).items() for h in found
    ]


def webhook_receipts(session: Session, tenants: dict[int, dict], limit: int = RECENT_DELIVERIES) -> dict:
    """Platform webhooks received (Shopify, Wix...): how many by platform and status, the latest failures."""
    counts = session.execute(
        select(WebhookReceipt.platform, WebhookReceipt.status, func.count())
        .group_by(WebhookReceipt.platform, WebhookReceipt.status)
        .order_by(WebhookReceipt.platform, WebhookReceipt.status)
    ).all()
    failed = session.execute(
        select(WebhookReceipt.id, WebhookReceipt.tenant_id, WebhookReceipt.platform, WebhookReceipt.topic,
               WebhookReceipt.error, WebhookReceipt.created_at)
        .where(WebhookReceipt.status == "failed")
        .order_by(WebhookReceipt.created_at.desc(), WebhookReceipt.id.desc())
        .limit(limit)
    ).all()
    return {
        "by_platform": [{"platform": p, "status": st, "count": n} for p, st, n in counts],
        "recent_failed": [
            {"id": i, "tenant": tenants.get(t, {}).get("slug"), "platform": p, "topic": topic,
             "error": error_line(error), "created_at": iso(at)}
            for i, t, p, topic, error, at in failed
        ],
    }


def import_tenants(session: Session, import_ids) -> dict[str, int]:
    ids = sorted({i for i in import_ids if i})
    found: dict[str, int] = {}
    for start in range(0, len(ids), 500):  # keep IN lists short on every engine
        chunk = ids[start:start + 500]
        found.update(session.execute(select(EtlImport.id, EtlImport.tenant_id).where(EtlImport.id.in_(chunk))).all())
    return found


# --- Redis and RQ ---------------------------------------------------------------------------

def redis_for(settings: Settings) -> Redis:
    return redis_connection(settings.redis_url)


def queue_snapshot(settings: Settings, details: bool = True) -> dict:
    """Depths, registries and workers; with `details`, the job ids in them and the failed jobs' errors.

    Raises RedisDown when Redis does not answer.
    """
    connection = redis_for(settings)
    try:
        queue = Queue(settings.queue_name, connection=connection)
        registries = {name: cls(settings.queue_name, connection=connection) for name, cls in REGISTRIES.items()}
        counts = {"queued": queue.count}
        counts.update({name: registry.count for name, registry in registries.items()})
        job_ids: dict[str, list[str]] = {"queued": [], "started": [], "scheduled": [], "failed": []}
        failed: list[dict] = []
        if details:
            job_ids["queued"] = queue.get_job_ids(0, JOB_SCAN_LIMIT)
            for name in ("started", "scheduled", "failed"):
                job_ids[name] = registries[name].get_job_ids(0, JOB_SCAN_LIMIT - 1, desc=True)
            failed = failed_jobs(connection, job_ids["failed"][:FAILED_JOBS_SHOWN])
        workers = []
        for worker in Worker.all(queue=queue):
            workers.append({
                "name": worker.name,
                "state": worker.get_state(),
                "current_job": worker.get_current_job_id() if details else None,
                "last_heartbeat": iso(worker.last_heartbeat),
                "hostname": worker.hostname,
                "pid": worker.pid,
                "successful_jobs": worker.successful_job_count,
                "failed_jobs": worker.failed_job_count,
                "queues": worker.queue_names(),
            })
    except Exception as error:  # ConnectionError, TimeoutError, a refused AUTH...
        raise RedisDown(f"{error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''}") from error
    return {"queue": settings.queue_name, "counts": counts, "job_ids": job_ids, "workers": workers, "failed": failed}


def failed_jobs(connection: Redis, job_ids: list[str]) -> list[dict]:
    jobs = Job.fetch_many(job_ids, connection=connection) if job_ids else []
    out = []
    for job_id, job in zip(job_ids, jobs):
        item = {"job_id": job_id, "kind": job_kind(job_id), "import_id": import_id_of(job_id), "func": None,
                "error": None, "failed_at": None, "enqueued_at": None}
        if job is None:
            item["error"] = "job data expired or deleted"
            out.append(item)
            continue
        item["func"] = job.func_name
        item["enqueued_at"] = iso(job.enqueued_at)
        item["failed_at"] = iso(job.ended_at)
        result = job.latest_result()
        exc_string = result.exc_string if result is not None else None
        item["error"] = error_line(exc_string) or "no error recorded"
        out.append(item)
    return out


def per_tenant(session: Session, tenants: dict[int, dict], snapshot: dict | None) -> list[dict]:
    by_tenant: dict[int, dict] = {
        tid: {"id": tid, "slug": t["slug"], "name": t["name"], "imports": {}, "rows": {},
              "jobs": {"queued": 0, "started": 0, "scheduled": 0, "failed": 0}}
        for tid, t in tenants.items()
    }
    for tid, status, count in session.execute(
        select(EtlImport.tenant_id, EtlImport.status, func.count()).group_by(EtlImport.tenant_id, EtlImport.status)
    ).all():
        if tid in by_tenant:
            by_tenant[tid]["imports"][status] = count
    for tid, ins, upd, unch, ref in session.execute(
        select(EtlImport.tenant_id, func.sum(EtlImport.rows_inserted), func.sum(EtlImport.rows_updated),
               func.sum(EtlImport.rows_unchanged), func.sum(EtlImport.rows_refused)).group_by(EtlImport.tenant_id)
    ).all():
        if tid in by_tenant:
            by_tenant[tid]["rows"] = {"inserted": int(ins or 0), "updated": int(upd or 0),
                                      "unchanged": int(unch or 0), "refused": int(ref or 0)}
    if snapshot is not None:
        ids = {name: snapshot["job_ids"][name] for name in ("queued", "started", "scheduled", "failed")}
        owners = import_tenants(session, (import_id_of(j) for names in ids.values() for j in names))
        for name, job_ids in ids.items():
            for job_id in job_ids:
                tid = owners.get(import_id_of(job_id) or "")
                if tid in by_tenant:
                    by_tenant[tid]["jobs"][name] += 1
    for item in by_tenant.values():
        item["imports_total"] = sum(item["imports"].values())
    return list(by_tenant.values())


def quota_usage(session: Session, settings: Settings, tenants: dict[int, dict]) -> list[dict]:
    """Every tenant's quotas: limit (its own or the default), used in the current window, when it resets."""
    return [{"tenant": t["slug"], **row.as_json(),
             "percent": round(100 * row.used / row.limit) if row.limit else 0}
            for tid, t in tenants.items() for row in usage(session, settings, tid)]


# --- the whole picture ----------------------------------------------------------------------

def cron_schedulers(settings: Settings) -> int | None:
    """How many RQ cron schedulers (`python -m hub scheduler`) are alive; None without Redis or when it is down."""
    if settings.jobs_inline:
        return None
    from rq.cron import CronScheduler

    try:
        return len(CronScheduler.all(redis_connection(settings.redis_url)))
    except Exception:  # Redis went away between two reads: the page says so elsewhere
        return None


def needs_attention(settings: Settings, snapshot: dict | None, redis_error: str | None, schedulers: int | None,
                    scheduled_connectors: int) -> list[str]:
    """What is not running that the hub needs: shown as a red banner at the top of the admin page."""
    if settings.jobs_inline:
        if scheduled_connectors:
            return [f"{scheduled_connectors} connector(s) have a schedule, but jobs run inline (no HUB_REDIS_URL): "
                    "nothing runs them on time. Run `python -m hub sync …` by hand, or set up Redis, a worker and "
                    "the scheduler."]
        return []
    if redis_error is not None:
        return [f"Redis is unreachable ({redis_error}): accepted imports and webhooks wait as queued until it is back."]
    problems = []
    if snapshot is not None and not snapshot["workers"]:
        problems.append(f"No worker is listening on queue {settings.queue_name!r}: queued jobs do not run. "
                        "Start `python -m hub worker`.")
    if schedulers == 0:
        problems.append("The scheduler is not running: connector schedules, hook retries, the hourly refresh and "
                        "the reconciler do not happen. Start `python -m hub scheduler`.")
    return problems


def status_data(session: Session, settings: Settings, now: datetime | None = None,
                filters: dict[str, str] | None = None, page: int = 1) -> dict:
    tenants = tenant_names(session)
    snapshot, redis_error = None, None
    if not settings.jobs_inline:
        try:
            snapshot = queue_snapshot(settings)
        except RedisDown as error:
            redis_error = str(error)

    failed = []
    if snapshot is not None:
        owners = import_tenants(session, (f["import_id"] for f in snapshot["failed"]))
        for item in snapshot["failed"]:
            tid = owners.get(item["import_id"] or "")
            item["tenant"] = tenants.get(tid, {}).get("slug") if tid is not None else None
            failed.append(item)

    points = rows_per_hour(session, now=now)
    scheduled = session.scalar(select(func.count()).select_from(ConnectorState)
                               .where(ConnectorState.interval_minutes.is_not(None))) or 0
    return {
        "attention": needs_attention(settings, snapshot, redis_error, cron_schedulers(settings) if snapshot else None,
                                     scheduled),
        "generated_at": iso(now or datetime.now(timezone.utc)),
        "database": database_info(session),
        "jobs": {
            "mode": "inline" if settings.jobs_inline else "rq",
            "label": "jobs inline (no Redis)" if settings.jobs_inline else f"RQ queue {settings.queue_name!r}",
            "queue": None if settings.jobs_inline else settings.queue_name,
            "redis_url": hide_password(settings.redis_url) if settings.redis_url else None,
            "redis_ok": None if settings.jobs_inline else redis_error is None,
            "redis_error": redis_error,
        },
        "queue": snapshot["counts"] if snapshot else None,
        "workers": snapshot["workers"] if snapshot else [],
        "failed_jobs": failed,
        "started_jobs": list(snapshot["job_ids"]["started"]) if snapshot else [],
        "scheduled_jobs": list(snapshot["job_ids"]["scheduled"]) if snapshot else [],
        "tenants": per_tenant(session, tenants, snapshot),
        "quotas": quota_usage(session, settings, tenants),
        "imports_by_status": imports_by_status(session),
        "recent_imports": recent_imports(session, tenants, filters=filters, page=page),
        "import_choices": import_choices(session, tenants),
        "recent_row_errors": recent_row_errors(session, tenants),
        "recent_events": recent_events(session, tenants),
        "rows_per_hour": points,
        # Pull connectors' states as they are in the database; with none, the page says so.
        "connectors": connector_states(session, tenants),
        "sources": sorted(source_states(session, tenants), key=lambda item: item["state"] != "stale"),
        "webhook_receipts": webhook_receipts(session, tenants),
        "webhook_deliveries": webhook_deliveries(session, tenants),
    }
