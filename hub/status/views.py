"""Liveness, readiness, Prometheus metrics, and the admin status page (behind the admin token).

The admin page takes the admin token three ways: a login form that starts a session (a signed,
HttpOnly, SameSite=Lax cookie, Secure outside development/test), HTTP Basic (any user, the token
as password) and `Authorization: Bearer <token>`. Every POST it serves carries a per-session CSRF
token in a hidden field, whichever way the caller authenticated: a browser re-sends Basic
credentials and cookies on its own, so neither proves the form came from our page.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import select, text

from ..apidoc import answer, obj, operation
from ..auth import admin_token_ok, bearer_token
from ..db import across_tenants
from ..ingest import refused_rows
from ..ingest.summary import import_summary
from ..jobs.hooks import ResendRefused, resend_deliveries
from ..ingest.pipeline import rerun_can_change
from ..jobs.imports import retry_import
from ..jobs.kinds import IMPORT
from ..jobs.queue import redis_connection
from ..logging_setup import redact
from ..models import FINISHED_STATUSES, ConnectorState, EtlImport, Tenant
from ..web import db, json_error, refused_rows_download, settings
from . import metrics
from .admin_guard import LOGIN_LIMIT_OVERALL, LOGIN_LIMIT_PER_CLIENT, end_session, everyone, limiter, session_alive, start_session
from .monitor import (IMPORT_FILTERS, RECENT_IMPORTS, chart, error_line, grouped_row_errors, import_id_of, iso,
                      status_data)

log = logging.getLogger(__name__)
bp = Blueprint("status", __name__)

SESSION_ADMIN = "hub_admin"  # an HMAC of the admin token: rotating the token ends every session
SESSION_ADMIN_AT = "hub_admin_at"
SESSION_CSRF = "hub_csrf"
ADMIN_SESSION_SECONDS = 12 * 3600
RETRYABLE_STATUSES = ("queued", "running", "failed")


@bp.record_once
def _session_cookie_settings(state) -> None:
    """The admin session cookie: never readable by scripts, not sent on cross-site POSTs, HTTPS only in production."""
    app = state.app
    hub_settings = app.config.get("HUB_SETTINGS")
    env = getattr(hub_settings, "env", "production")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = env not in ("development", "test")


# --- probes ---------------------------------------------------------------------------------

@bp.get("/")
def home():
    """Someone who opens the hub's address lands on the status page (its login first)."""
    return redirect(url_for("status.admin_page"))


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. It checks nothing else, so a database outage does not restart it."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when the database (and Redis, when configured) answer; 503 naming what is down."""
    down = {}
    try:
        db().execute(text("SELECT 1"))
    except Exception as error:  # any failure to reach the database means not ready
        down["database"] = _reason(error)
    if settings().redis_url:
        try:
            redis_connection(settings().redis_url).ping()
        except Exception as error:
            down["redis"] = _reason(error)
    if down:
        return jsonify({"status": "unavailable", "down": down}), 503
    return jsonify({"status": "ready"})


def _reason(error: Exception) -> str:
    """The first line of an error, for an unauthenticated probe: nothing secret-looking in it."""
    text = str(error).splitlines()[0] if str(error) else ""
    return redact(text) or error.__class__.__name__


# --- metrics --------------------------------------------------------------------------------

# /metrics is NOT behind the admin token, on purpose: scrapers are simplest unauthenticated, and what it
# shows is aggregate only (counts by status, source, outcome, registry and worker state; no tenant
# names, no row data, no secrets), at the cost of a few GROUP BY queries on indexed columns. The one
# per-tenant figure, quota usage, is labelled by the tenant's opaque id, never its slug.
# Giving Prometheus the admin token instead would hand a monitoring system the power to retry jobs.
# Where even aggregate volumes are sensitive, restrict the path at the reverse proxy.
@bp.get("/metrics")
def prometheus_metrics():
    body = metrics.render_metrics(settings(), current_app.extensions["hub.sessions"])
    return Response(body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


@bp.after_app_request
def _count_webhook_requests(response: Response) -> Response:
    # Per-process counter (see metrics.WEBHOOK_REQUESTS): each web process counts what it served.
    if request.path.startswith("/webhooks/"):
        try:
            metrics.count_webhook_request(request.path, request.url_rule is not None, response.status_code)
        except Exception:  # counting must never cost a webhook its answer
            log.exception("could not count webhook request")
    return response


# --- admin authentication -------------------------------------------------------------------

def _fingerprint(token: str) -> str:
    key = (settings().secret_key or "").encode()
    return hmac.new(key, b"hub-admin-session:" + token.encode(), hashlib.sha256).hexdigest()


def _session_is_admin() -> bool:
    stored, expected = session.get(SESSION_ADMIN), settings().admin_token
    if not stored or not expected or not isinstance(stored, str):
        return False
    if not hmac.compare_digest(stored, _fingerprint(expected)):
        return False
    started = session.get(SESSION_ADMIN_AT)
    if not (isinstance(started, (int, float)) and 0 <= time.time() - started <= ADMIN_SESSION_SECONDS):
        return False
    return session_alive(db())  # the server's record: gone after logout, whatever the cookie says


def _header_credentials() -> str | None:
    auth = request.authorization
    if auth is not None and auth.type == "basic" and auth.password:
        return auth.password
    return bearer_token()


def is_admin() -> bool:
    return _session_is_admin() or admin_token_ok(_header_credentials())


def csrf_token() -> str:
    token = session.get(SESSION_CSRF)
    if not token or not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_CSRF] = token
    return token


def csrf_ok() -> bool:
    expected = session.get(SESSION_CSRF)
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    return bool(expected) and isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())


@bp.app_context_processor
def _template_helpers():
    return {"csrf_token": csrf_token}


@bp.app_template_filter("when")
def _when(value: str | None) -> str:
    """An ISO timestamp as 'YYYY-MM-DD HH:MM:SS' (UTC), for tables."""
    if not value:
        return ""
    return str(value).replace("T", " ")[:19]


def _safe_next(target: str | None) -> str:
    """Only a path of this site's admin pages: never an open redirect."""
    default = url_for("status.admin_page")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in target:
        return default
    if parts.path.startswith("/admin/login") or parts.path.startswith("/admin/logout"):
        return default
    return target


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status, content_type="text/html; charset=utf-8")
    return response


def _error_page(status: int, message: str) -> Response:
    return _html(render_template("admin_error.html", status=status, message=message), status)


def admin_required(view):
    """Pages and buttons: an unauthenticated caller is sent to the login form; POSTs must carry the CSRF token."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not is_admin():
            return redirect(url_for("status.login", next=request.full_path.rstrip("?")
                                    if request.method == "GET" else url_for("status.admin_page")))
        if request.method == "POST" and not csrf_ok():
            log.warning("admin POST refused: missing or wrong CSRF token", extra={"path": request.path})
            return _error_page(400, "The form's CSRF token is missing or out of date. Reload the page and try again.")
        across_tenants(db())  # the admin sees every tenant
        return view(*args, **kwargs)

    return wrapped


def secure_page_headers(response: Response) -> Response:
    """What every page of a signed-in person gets: not cached, not framed, and no script at all."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # No script anywhere on these pages; inline SVG and the inline stylesheet are all there is.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


@bp.after_request
def _admin_headers(response: Response) -> Response:
    return secure_page_headers(response) if request.path.startswith("/admin") else response


@bp.route("/admin/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_CLIENT, methods=["POST"])
@limiter.limit(LOGIN_LIMIT_OVERALL, methods=["POST"], key_func=everyone)
def login():
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if is_admin():
            return redirect(next_url)
        return _html(render_template("admin_login.html", next=next_url, error=None))

    if not csrf_ok():
        return _html(render_template("admin_login.html", next=next_url,
                                     error="The form expired (no CSRF token). Try again."), 400)
    if not settings().admin_token:
        return _html(render_template("admin_login.html", next=next_url,
                                     error="No admin token is configured (HUB_ADMIN_TOKEN)."), 401)
    if not admin_token_ok(request.form.get("token", "").strip() or None):
        log.warning("admin login refused", extra={"remote_addr": request.remote_addr})
        return _html(render_template("admin_login.html", next=next_url, error="That is not the admin token."), 401)
    session.clear()  # a fresh session (and CSRF token) on every login: no fixation
    session[SESSION_ADMIN] = _fingerprint(settings().admin_token)
    session[SESSION_ADMIN_AT] = int(time.time())
    session[SESSION_CSRF] = secrets.token_urlsafe(32)
    start_session(db(), ADMIN_SESSION_SECONDS)
    log.info("admin logged in", extra={"remote_addr": request.remote_addr})
    return redirect(next_url)


@bp.post("/admin/logout")
def logout():
    if not csrf_ok():
        return _error_page(400, "The form's CSRF token is missing or out of date. Reload the page and try again.")
    end_session(db())  # server-side: a copy of this cookie opens nothing from now on
    session.clear()
    return redirect(url_for("status.login"))


# --- the pages ------------------------------------------------------------------------------

AUTO_REFRESH_SECONDS = (10, 30, 60)


@bp.get("/admin")
@admin_required
def admin_page():
    filters = {name: request.args.get(name, "") for name in IMPORT_FILTERS}
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    # Auto-refresh without a script (the CSP allows none): a meta refresh while ?refresh=N is on.
    refresh = request.args.get("refresh", 0, type=int)
    refresh = refresh if refresh in AUTO_REFRESH_SECONDS else 0
    data = status_data(db(), settings(), filters=filters, page=page)
    return _html(render_template("admin.html", data=data, chart=chart(data["rows_per_hour"]),
                                 logged_in=_session_is_admin(), filters=filters, page=page, refresh=refresh,
                                 refresh_choices=AUTO_REFRESH_SECONDS, page_size=RECENT_IMPORTS))


@bp.get("/admin/imports/<import_id>/refused.<file_format>")
@admin_required
def refused_rows_file(import_id: str, file_format: str):
    """The import's refused rows with an `error` column, ready to fix and upload again."""
    imp = db().get(EtlImport, import_id)
    if imp is None or file_format not in refused_rows.FORMATS:
        return _error_page(404, f"No import {import_id}." if imp is None else "Refused rows come as .csv or .xlsx.")
    return refused_rows_download(imp, file_format)


@bp.get("/admin/imports/<import_id>")
@admin_required
def import_page(import_id: str):
    imp = db().get(EtlImport, import_id)
    if imp is None:
        return _error_page(404, f"No import {import_id}.")
    tenant = db().get(Tenant, imp.tenant_id)
    summary = import_summary(db(), imp, errors_limit=1000)
    for key in ("created_at", "started_at", "finished_at"):
        summary[key] = iso(getattr(imp, key))
    return _html(render_template("admin_import.html", imp=summary, tenant=tenant.slug if tenant else None,
                                 grouped=grouped_row_errors(db(), imp.id),
                                 retryable=imp.status in RETRYABLE_STATUSES and rerun_can_change(imp),
                                 logged_in=_session_is_admin()))


@bp.post("/admin/jobs/<job_id>/retry")
@admin_required
def retry_job(job_id: str):
    import_id = import_id_of(job_id) if job_id.startswith("import-") else None
    if import_id is not None:
        _retry_import(import_id)
        return redirect(url_for("status.admin_page"))
    hub = settings()
    if hub.jobs_inline:
        flash("Jobs run inline (no Redis): there is no job to requeue.", "error")
        return redirect(url_for("status.admin_page"))
    connection = redis_connection(hub.redis_url)
    try:
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            FailedJobRegistry(hub.queue_name, connection=connection).remove(job_id)
            flash(f"Job {job_id}: its data has expired; removed it from the failed jobs.", "error")
            return redirect(url_for("status.admin_page"))
        try:
            job.requeue()
        except InvalidJobOperation:
            flash(f"Job {job_id} is not in the failed jobs any more (already retried?).", "error")
            return redirect(url_for("status.admin_page"))
    except RedisError as error:
        flash(f"Redis is unreachable, job {job_id} was not retried: {error}", "error")
        return redirect(url_for("status.admin_page"))
    log.info("admin requeued job %s", job_id, extra={"job_id": job_id})
    flash(f"Job {job_id} requeued.", "ok")
    return redirect(url_for("status.admin_page"))


@bp.post("/admin/connectors/<int:tenant_id>/<name>/sync")
@admin_required
def sync_now(tenant_id: int, name: str):
    """Queue a connector's sync now (inline without Redis: it runs before the page comes back)."""
    from ..jobs.connectors import SYNC_JOB

    state = db().scalar(select(ConnectorState).where(ConnectorState.tenant_id == tenant_id,
                                                     ConnectorState.connector == name))
    if state is None:
        return _error_page(404, f"No connector {name!r} for tenant {tenant_id}.")
    state_id = state.id
    db().rollback()  # the sync writes in its own session: hold nothing here
    outcome = SYNC_JOB.enqueue(settings(), tenant_id, name)
    log.info("admin asked for a %s sync of tenant %s: %s", name, tenant_id, outcome)
    if outcome != "inline":
        flash(f"{name}: sync {outcome}; a worker runs it.", "ok")
        return redirect(url_for("status.admin_page"))
    state = db().get(ConnectorState, state_id)  # as the inline sync left it
    if state.last_error:
        flash(f"{name}: the sync failed: {error_line(state.last_error)}", "error")
    else:
        flash(f"{name}: synced.", "ok")
    return redirect(url_for("status.admin_page"))


@bp.post("/admin/imports/<import_id>/retry")
@admin_required
def retry_import_view(import_id: str):
    _retry_import(import_id)
    if request.form.get("back") == "import":
        return redirect(url_for("status.import_page", import_id=import_id))
    return redirect(url_for("status.admin_page"))


def _retry_import(import_id: str) -> None:
    """Re-enqueue a failed (or stuck) import under its deterministic job id, dropping the old failure."""
    hub = settings()
    imp = db().get(EtlImport, import_id)
    if imp is None:
        flash(f"No import {import_id}.", "error")
        return
    if imp.status in FINISHED_STATUSES and imp.status != "failed":
        flash(f"Import {import_id} is {imp.status}; only failed or stuck imports are retried.", "error")
        return
    db().rollback()  # retry_import writes the import in its own session: hold no lock on it here
    try:
        outcome = retry_import(hub, import_id)
    except (LookupError, ValueError) as error:
        flash(str(error), "error")
        return
    log.info("admin retried import %s: %s", import_id, outcome, extra={"import_id": import_id})
    if outcome == "inline":
        # It ran here and now: say how it ended, not merely that it ran.
        db().rollback()
        ran = db().get(EtlImport, import_id)
        db().refresh(ran)
        failed = ran.status == "failed"
        flash(f"Import {import_id} ran again: {ran.status}" + (f" ({ran.error})" if failed and ran.error else "") + ".",
              "error" if failed else "ok")
        return
    flash({"queued": f"Import {import_id} re-enqueued as job {IMPORT.job_id(import_id)}.",
           "already-queued": f"Import {import_id} is already queued.",
           "waiting": f"Import {import_id} is queued; Redis is unreachable, the reconciler will enqueue it."}
          .get(outcome, f"Import {import_id}: {outcome}"), "ok")


@bp.post("/admin/hooks/deliveries/<int:delivery_id>/resend")
@admin_required
def resend_delivery(delivery_id: int):
    _resend(f"Delivery {delivery_id}", delivery_ids=[delivery_id])
    return redirect(url_for("status.admin_page"))


@bp.post("/admin/hooks/<int:subscription_id>/resend")
@admin_required
def resend_subscription(subscription_id: int):
    _resend(f"Subscription {subscription_id}", subscription_id=subscription_id)
    return redirect(url_for("status.admin_page"))


def _resend(what: str, **which) -> None:
    """Send failed hook deliveries again; the page then shows them pending, and later their outcome."""
    db().rollback()  # the resend writes in its own session
    try:
        queued = resend_deliveries(settings(), **which)
    except (LookupError, ResendRefused) as error:
        flash(str(error), "error")
        return
    log.info("admin resent hook deliveries %s", sorted(queued))
    if not queued:
        flash(f"{what}: no failed delivery to resend.", "error")
    elif "waiting" in queued.values():
        flash(f"{what}: {len(queued)} delivery(ies) due now; Redis is unreachable, the reconciler will send them.", "ok")
    else:
        flash(f"{what}: {len(queued)} delivery(ies) resent ({', '.join(str(d) for d in queued)}).", "ok")


# --- JSON -----------------------------------------------------------------------------------

@bp.get("/api/v1/status")
@operation("The hub's status across tenants (admin)", tags=["meta"], tenant=False,
           security=[{"admin": []}], responses={200: answer("Imports, jobs, connectors", obj()),
                                                401: answer("No admin token, or not the admin token")})
def status_json():
    if not is_admin():
        return json_error(401, "admin token required: send 'Authorization: Bearer <HUB_ADMIN_TOKEN>'")
    return jsonify(status_data(across_tenants(db()), settings()))
