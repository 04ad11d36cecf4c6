"""A tenant's connectors and where each one got to: `GET /api/v1/connectors`."""
from __future__ import annotations

from flask import Blueprint, g, jsonify
from sqlalchemy import select

from ..apidoc import NULLABLE_STRING, answer, obj, operation
from ..auth import require_tenant
from ..jobs.connectors import state_json
from ..models import ConnectorState
from ..web import db

bp = Blueprint("connectors", __name__, url_prefix="/api/v1/connectors")


@bp.get("")
@operation("The tenant's connectors and where each one got to", tags=["connectors"], responses={
    200: answer("The connectors", obj(("connectors",), connectors={"type": "array", "items": obj(
        ("connector", "status"), connector={"type": "string"}, status={"type": "string"},
        last_sync_at=NULLABLE_STRING, next_sync_at=NULLABLE_STRING, last_error=NULLABLE_STRING)}))})
@require_tenant("api")
def list_connectors():
    states = db().scalars(select(ConnectorState).where(ConnectorState.tenant_id == g.tenant.id)
                          .order_by(ConnectorState.connector)).all()
    return jsonify({"connectors": [state_json(s) for s in states]})
