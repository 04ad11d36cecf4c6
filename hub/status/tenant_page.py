"""`/tenant`: a tenant's own page. A person signs in with the tenant's API token, drops a CSV, XLSX or ODS
file (picking its table and locale), sees the outcome and can download the refused rows to fix; the
dashboards are drawn as charts on the server (hub/status/charts.py). Only the signed-in tenant's data
is read: the session works for that tenant alone (row-level security on PostgreSQL)."""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select

from ..ingest import refused_rows
from ..ingest.summary import history_item, import_summary
from ..ingest.tables import TABLES
from ..models import EtlImport, utcnow
from ..tenants import tenant_for_token, tenant_for_token_digest, token_hash
from ..uploads import UploadRefused, take_upload
from ..web import db, refused_rows_download, settings
from . import charts
from .admin_guard import LOGIN_LIMIT_OVERALL, LOGIN_LIMIT_PER_CLIENT, everyone, limiter
from .views import csrf_ok, secure_page_headers

log = logging.getLogger(__name__)
bp = Blueprint("tenant_page", __name__, url_prefix="/tenant")
SESSION_TENANT = "hub_tenant_api"  # the digest of the API token signed in with, never the token
LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL", "pt-BR")


@bp.after_request
def _headers(response: Response) -> Response:
    return secure_page_headers(response)


def signed_in_tenant():
    """The tenant of this browser's session, with db() working for it; None when signed out (or the token
    was changed since: the digest no longer matches)."""
    digest = session.get(SESSION_TENANT)
    if not isinstance(digest, str):
        return None
    return tenant_for_token_digest(db(), "api", digest)


def _page(template: str, status: int = 200, **context):
    return render_template(template, tenant_page=context.get("tenant").name if context.get("tenant") else "Your hub",
                           logged_in=context.get("tenant") is not None, **context), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_CLIENT, methods=["POST"])
@limiter.limit(LOGIN_LIMIT_OVERALL, methods=["POST"], key_func=everyone)
def login():
    if request.method == "GET":
        return _page("tenant_login.html", error=None)
    if not csrf_ok():
        return _page("tenant_login.html", 400, error="The form's CSRF token is missing or out of date. Reload and try again.")
    token = (request.form.get("token") or "").strip()
    tenant = tenant_for_token(db(), "api", token) if token else None
    if tenant is None:
        return _page("tenant_login.html", 401, error="That is not an API token of this hub.")
    session[SESSION_TENANT] = token_hash(token)
    log.info("tenant page sign-in", extra={"tenant": tenant.slug})
    return redirect(url_for("tenant_page.home"))


@bp.post("/logout")
def logout():
    if csrf_ok():
        session.pop(SESSION_TENANT, None)
    return redirect(url_for("tenant_page.login"))


@bp.get("")
def home():
    tenant = signed_in_tenant()
    if tenant is None:
        return redirect(url_for("tenant_page.login"))
    today = utcnow().date()
    series = charts.daily_series(db(), tenant.id, today)
    dates, heat = charts.heatmap(db(), tenant.id, today)
    funnel = charts.delivery_funnel(db(), tenant.id)
    imports = db().scalars(select(EtlImport).where(EtlImport.tenant_id == tenant.id)
                           .order_by(EtlImport.created_at.desc()).limit(20)).all()
    return _page("tenant.html", tenant=tenant, tables=list(TABLES), locales=LOCALES,
                 imports=[history_item(imp) for imp in imports],
                 downloads_svg=charts.bars_svg(series, "downloads", "downloads per day"),
                 conversions_svg=charts.bars_svg(series, "conversions", "conversions per day"),
                 funnel=funnel, funnel_svg=charts.funnel_svg(funnel) if funnel else None,
                 heatmap_svg=charts.heatmap_svg(dates, heat) if heat else None,
                 totals={"downloads": sum(p["downloads"] for p in series),
                         "conversions": sum(p["conversions"] for p in series)})


@bp.post("/upload")
def upload():
    tenant = signed_in_tenant()
    if tenant is None:
        return redirect(url_for("tenant_page.login"))
    if not csrf_ok():
        flash("The form's CSRF token is missing or out of date. Reload the page and try again.", "error")
        return redirect(url_for("tenant_page.home"))
    if not settings().flags.etl_csv_upload:
        flash("Uploads are switched off on this hub (ENABLE_ETL_CSV_UPLOAD=false).", "error")
        return redirect(url_for("tenant_page.home"))
    try:
        imp, _created = take_upload(tenant.id, request.form, request.files)
    except UploadRefused as refused:
        flash(f"Not taken: {refused}", "error")
        return redirect(url_for("tenant_page.home"))
    return redirect(url_for("tenant_page.outcome", import_id=imp.id))


def _own_import(tenant, import_id: str) -> EtlImport | None:
    imp = db().get(EtlImport, import_id)
    return imp if imp is not None and hmac.compare_digest(str(imp.tenant_id), str(tenant.id)) else None


@bp.get("/imports/<import_id>")
def outcome(import_id: str):
    tenant = signed_in_tenant()
    if tenant is None:
        return redirect(url_for("tenant_page.login"))
    imp = _own_import(tenant, import_id)
    if imp is None:
        return _page("tenant_outcome.html", 404, tenant=tenant, imp=None)
    return _page("tenant_outcome.html", tenant=tenant, imp=import_summary(db(), imp, errors_limit=200))


@bp.get("/imports/<import_id>/refused.<file_format>")
def refused(import_id: str, file_format: str):
    tenant = signed_in_tenant()
    if tenant is None:
        return redirect(url_for("tenant_page.login"))
    imp = _own_import(tenant, import_id)
    if imp is None or file_format not in refused_rows.FORMATS:
        return Response("not found", 404, mimetype="text/plain")
    return refused_rows_download(imp, file_format)
