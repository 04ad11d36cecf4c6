"""Matchmaking over HTTP: recompute a tenant's scores (a job), list the best ones."""
from __future__ import annotations

import logging

from flask import Blueprint, g, jsonify, request

from ..apidoc import answer, obj, operation, query
from ..auth import require_tenant
from ..jobs.matchmaking import MATCH_JOB, enqueue_recalculate
from ..web import behind_flag, db, json_error, settings
from ..workflows.matchmaking import top_matches

log = logging.getLogger(__name__)
bp = Blueprint("match", __name__, url_prefix="/api/match")
MAX_LIMIT = 100


behind_flag(bp, "matchmaking", "Matchmaking is switched off on this hub (ENABLE_MATCHMAKING=false)")


@bp.post("/recalculate")
@operation("Recompute the tenant's match scores (a job)", tags=["match"], responses={
    202: answer("Queued, or done at once when the hub has no queue", obj(("status", "job_id"), status={"type": "string"},
                job_id={"type": "string"}, matches={"type": "array"})),
    404: answer("Matchmaking is switched off on this hub")})
@require_tenant("api")
def recalculate():
    tenant_id = g.tenant.id
    db().close()  # the job opens its own session; do not hold this one (SQLite has one writer)
    try:
        status, matches = enqueue_recalculate(settings(), tenant_id)
    except Exception as error:  # only inline: a queued job's failure is RQ's to retry
        log.exception("matchmaking for tenant %s failed", tenant_id)
        return json_error(500, f"recalculating matches failed: {error.__class__.__name__}: {error}")
    answer = {"status": status, "job_id": MATCH_JOB.job_id(tenant_id)}
    if matches is not None:
        answer["matches"] = matches
    return jsonify(answer), 202


@bp.get("/top")
@operation("The best matches", tags=["match"], parameters=[
    query("limit", {"type": "integer"}, "1 to 100; 10 by default"), query("advertiser_id", {"type": "string"}),
    query("podcast_id", {"type": "string"})], responses={
    200: answer("The matches", obj(("matches",), matches={"type": "array"})), 400: answer("limit is not 1 to 100"),
    404: answer("Matchmaking is switched off on this hub")})
@require_tenant("api")
def top():
    raw = request.args.get("limit", "10")
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        return json_error(400, f"limit: expected a whole number from 1 to {MAX_LIMIT}, found {raw!r}")
    matches = top_matches(db(), g.tenant.id, limit, advertiser_id=request.args.get("advertiser_id") or None,
                          podcast_id=request.args.get("podcast_id") or None)
    return jsonify({"matches": matches})
