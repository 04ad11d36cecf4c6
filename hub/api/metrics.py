"""`GET /api/v1/metrics/discrepancies`: episode-days two host sources disagree on (hub/workflows/discrepancies.py)."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, g, jsonify, request

from ..apidoc import answer, obj, operation, query
from ..auth import require_tenant
from ..models import utcnow
from ..web import db, json_error, settings
from ..workflows.discrepancies import discrepancies

bp = Blueprint("metrics_api", __name__, url_prefix="/api/v1/metrics")
DEFAULT_DAYS = 30


def _day(name: str, default: date) -> date:
    raw = request.args.get(name)
    return date.fromisoformat(raw) if raw else default


@bp.get("/discrepancies")
@operation("Episode-days two host sources disagree on", tags=["metrics"], parameters=[
    query("first", {"type": "string", "format": "date"}), query("last", {"type": "string", "format": "date"}),
    query("episode_id", {"type": "string"})], responses={
    200: answer("The discrepancies", obj(("first", "last", "tolerance", "discrepancies"), first={"type": "string"},
                last={"type": "string"}, tolerance={"type": "number"}, discrepancies={"type": "array"})),
    400: answer("first or last is not a date")})
@require_tenant("api")
def list_discrepancies():
    """`?first=YYYY-MM-DD&last=YYYY-MM-DD` (default: the 30 days before today), `?episode_id=`."""
    today = utcnow().date()
    try:
        last = _day("last", today - timedelta(days=1))
        first = _day("first", last - timedelta(days=DEFAULT_DAYS - 1))
    except ValueError:
        return json_error(400, "first, last: expected dates like 2025-01-31")
    tolerance = settings().reconcile_tolerance
    found = discrepancies(db(), g.tenant.id, first, last, tolerance, request.args.get("episode_id") or None)
    return jsonify({"first": first.isoformat(), "last": last.isoformat(), "tolerance": tolerance,
                    "discrepancies": found})
