"""Dashboards as data: `GET /api/v1/dashboard/creator|advertiser|ops`, JSON for the tenant's own cards."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, g, jsonify, request

from ..auth import require_tenant
from ..models import utcnow
from ..web import behind_flag, db, json_error
from ..workflows import dashboards

bp = Blueprint("dashboards", __name__, url_prefix="/api/v1/dashboard")


behind_flag(bp, "new_dashboard_cards", "Dashboard cards are switched off on this hub (ENABLE_NEW_DASHBOARD_CARDS=false)")


def _as_of() -> date | str:
    """The day the figures end on: `?as_of=YYYY-MM-DD`, today (UTC) by default; or the error message."""
    raw = request.args.get("as_of")
    if not raw:
        return utcnow().date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return f"as_of: expected a date like 2025-01-31, found {raw!r}"


@bp.get("/creator")
@require_tenant("api")
def creator():
    as_of = _as_of()
    if isinstance(as_of, str):
        return json_error(400, as_of)
    return jsonify(dashboards.creator(db(), g.tenant.id, as_of))


@bp.get("/advertiser")
@require_tenant("api")
def advertiser():
    as_of = _as_of()
    if isinstance(as_of, str):
        return json_error(400, as_of)
    return jsonify(dashboards.advertiser(db(), g.tenant.id, as_of))


@bp.get("/ops")
@require_tenant("api")
def ops():
    return jsonify(dashboards.ops(db(), g.tenant.id, utcnow()))
