"""The deal pipeline over HTTP: read a deal with its IOs, move it to another stage."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from ..apidoc import answer, json_body, obj, operation, ref
from ..auth import require_tenant
from ..jobs.hooks import enqueue_dispatch
from ..jobs.writeback import enqueue_mirror
from ..models import DEAL_STAGES, Campaign
from ..web import behind_flag, db, json_error, settings
from ..ingest.tables.deals import DEALS
from ..workflows.deals import StageRefused, deal_json, move_stage

bp = Blueprint("deals", __name__, url_prefix="/api/v1/deals")


behind_flag(bp, DEALS.flag, DEALS.switched_off)


@bp.get("/<campaign_id>")
@operation("A deal with its IOs", tags=["deals"], responses={
    200: answer("The deal", ref("Deal")), 404: answer("No such deal for this tenant, or deals are switched off")})
@require_tenant("api")
def read(campaign_id: str):
    session = db()
    campaign = session.scalar(select(Campaign).where(Campaign.tenant_id == g.tenant.id,
                                                     Campaign.campaign_id == campaign_id))
    if campaign is None:
        return json_error(404, f"no deal {campaign_id!r} for this tenant")
    return jsonify(deal_json(session, campaign))


@bp.patch("/<campaign_id>/stage")
@operation("Move a deal to another stage", tags=["deals"],
           body=json_body(obj(("stage",), stage={"type": "string", "enum": list(DEAL_STAGES)})), responses={
    200: answer("The deal at its new stage", ref("Deal")), 400: answer("The body is not a JSON object"),
    404: answer("No such deal for this tenant, or deals are switched off"),
    422: answer("Not a stage, or a move the pipeline refuses")})
@require_tenant("api")
def change_stage(campaign_id: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_error(400, 'body: expected a JSON object like {"stage": "won"}')
    raw = body.get("stage")
    stage = raw.strip().lower() if isinstance(raw, str) else None
    if stage not in DEAL_STAGES:
        return json_error(422, f"stage: expected one of {'/'.join(DEAL_STAGES)}, found {raw!r}")
    session = db()
    try:
        moved = move_stage(session, g.tenant.id, campaign_id, stage)
    except StageRefused as refused:
        session.rollback()
        return json_error(422, str(refused))
    if moved is None:
        return json_error(404, f"no deal {campaign_id!r} for this tenant")
    campaign, changed = moved
    session.commit()  # the stage and its deal.stage_changed event, together
    if changed:
        enqueue_dispatch(settings())
        enqueue_mirror(settings(), g.tenant.id, "deals")  # the deals tab shows the new stage
    return jsonify(deal_json(session, campaign))
