"""A tenant's connectors and where each one got to: `GET /api/v1/connectors`."""
from __future__ import annotations

from flask import Blueprint, g, jsonify
from sqlalchemy import select

from ..auth import require_tenant
from ..jobs.connectors import state_json
from ..models import ConnectorState
from ..web import db

bp = Blueprint("connectors", __name__, url_prefix="/api/v1/connectors")


@bp.get("")
@require_tenant("api")
def list_connectors():
    states = db().scalars(select(ConnectorState).where(ConnectorState.tenant_id == g.tenant.id)
                          .order_by(ConnectorState.connector)).all()
    return jsonify({"connectors": [state_json(s) for s in states]})
