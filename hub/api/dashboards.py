"""Dashboards as data: `GET /api/v1/dashboard/creator|advertiser|ops`, JSON for the tenant's own cards."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, g, jsonify, request

from ..apidoc import answer, obj, operation, query
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
@operation("The creator dashboard's cards", tags=["dashboards"], parameters=[query("as_of", {"type": "string", "format": "date"}, "the day the figures end on; today (UTC) by default")], responses={
    200: answer("Per podcast: downloads, growth, top episodes", obj()), 400: answer("as_of is not a date"),
    404: answer("Dashboard cards are switched off on this hub")})
@require_tenant("api")
def creator():
    as_of = _as_of()
    if isinstance(as_of, str):
        return json_error(400, as_of)
    return jsonify(dashboards.creator(db(), g.tenant.id, as_of))


@bp.get("/advertiser")
@operation("The advertiser dashboard's cards", tags=["dashboards"], parameters=[query("as_of", {"type": "string", "format": "date"}, "the day the figures end on; today (UTC) by default")], responses={
    200: answer("Per campaign and sponsor: delivery, conversions, revenue", obj()), 400: answer("as_of is not a date"),
    404: answer("Dashboard cards are switched off on this hub")})
@require_tenant("api")
def advertiser():
    as_of = _as_of()
    if isinstance(as_of, str):
        return json_error(400, as_of)
    return jsonify(dashboards.advertiser(db(), g.tenant.id, as_of))


@bp.get("/ops")
@operation("The operations dashboard's cards", tags=["dashboards"], responses={
    200: answer("Imports, refused rows, connectors", obj()), 404: answer("Dashboard cards are switched off on this hub")})
@require_tenant("api")
def ops():
    return jsonify(dashboards.ops(db(), g.tenant.id, utcnow()))
