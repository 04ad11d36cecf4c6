"""Liveness, readiness, and a small admin page of recent imports (behind the admin token)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request
from sqlalchemy import func, select, text

from ..auth import admin_token_ok, bearer_token
from ..ingest.summary import history_item
from ..jobs.queue import redis_connection
from ..models import EtlImport, EtlRowError, Tenant
from ..web import db, json_error, settings

bp = Blueprint("status", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    down = {}
    try:
        db().execute(text("SELECT 1"))
    except Exception as error:  # any failure to reach the database means not ready
        down["database"] = str(error).splitlines()[0]
    if settings().redis_url:
        try:
            redis_connection(settings().redis_url).ping()
        except Exception as error:
            down["redis"] = str(error).splitlines()[0]
    if down:
        return jsonify({"status": "unavailable", "down": down}), 503
    return jsonify({"status": "ready"})


def _admin_credentials() -> str | None:
    auth = request.authorization
    if auth is not None and auth.password:
        return auth.password
    return bearer_token()


def _require_admin():
    if not admin_token_ok(_admin_credentials()):
        return Response(
            "admin token required", 401, {"WWW-Authenticate": 'Basic realm="hub admin", charset="UTF-8"'}
        )
    return None


def _status_data() -> dict:
    session = db()
    tenants = {t.id: t.slug for t in session.scalars(select(Tenant)).all()}
    recent = session.scalars(select(EtlImport).order_by(EtlImport.created_at.desc()).limit(50)).all()
    by_status = dict(session.execute(select(EtlImport.status, func.count()).group_by(EtlImport.status)).all())
    errors = session.execute(
        select(EtlRowError.import_id, EtlRowError.row_number, EtlRowError.column, EtlRowError.message)
        .order_by(EtlRowError.id.desc())
        .limit(50)
    ).all()
    engine = session.get_bind()
    return {
        "database": f"{engine.dialect.name} ({engine.url.render_as_string(hide_password=True)})",
        "jobs": "inline (no Redis configured)" if settings().jobs_inline else f"RQ queue {settings().queue_name!r}",
        "imports_by_status": by_status,
        "recent_imports": [dict(history_item(imp), tenant=tenants.get(imp.tenant_id)) for imp in recent],
        "recent_row_errors": [
            {"import_id": i, "row": r, "column": c, "message": m} for i, r, c, m in errors
        ],
    }


@bp.get("/admin")
def admin_page():
    refused = _require_admin()
    if refused is not None:
        return refused
    return render_template("admin.html", data=_status_data())


@bp.get("/api/v1/status")
def status_json():
    if not admin_token_ok(_admin_credentials()):
        return json_error(401, "admin token required: send 'Authorization: Bearer <HUB_ADMIN_TOKEN>'")
    return jsonify(_status_data())
