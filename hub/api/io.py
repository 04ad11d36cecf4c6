"""The seed's IO endpoints: create an IO, read it with its delivery and results, export it as a document."""
from __future__ import annotations

import io as _io
import json

from flask import Blueprint, g, jsonify, request, send_file
from sqlalchemy import select

from ..apidoc import answer, json_body, obj, operation, ref
from ..auth import require_tenant
from ..ingest.intake import create_import
from ..jobs.after_import import Finished, follow_imports
from ..ingest.pipeline import run_import
from ..ingest.tables import TABLES
from ..ingest.tables.io_bookings import IO_BOOKINGS
from ..ingest.summary import import_summary
from ..models import IoBooking, RowHistory, utcnow
from ..quotas import admit_import, over_quota
from ..web import behind_flag, db, json_error, settings
from ..workflows.io_export import insertion_order_xlsx
from ..workflows.io_summary import io_summary
from ..workflows.make_goods import make_goods
from ..workflows.pacing import PacingThresholds

bp = Blueprint("io", __name__, url_prefix="/api/v1/io")


behind_flag(bp, IO_BOOKINGS.flag, IO_BOOKINGS.switched_off)


def _summary(found: IoBooking) -> dict:
    return io_summary(db(), found, utcnow().date(), PacingThresholds.of(settings()), settings().reconcile_tolerance)


def _find(io_id: str) -> IoBooking | None:
    return db().scalar(select(IoBooking).where(IoBooking.tenant_id == g.tenant.id, IoBooking.io_id == io_id))


@bp.post("")
@operation("Create or update one IO", tags=["io"], body=json_body(obj(
    ("io_id", "flight_start", "flight_end"), io_id={"type": "string"}, campaign_id={"type": "string"},
    flight_start={"type": "string", "format": "date"}, flight_end={"type": "string", "format": "date"},
    booked_impressions={"type": "integer"}, booked_cpm_cents={"type": "integer"})), responses={
    201: answer("The IO with its delivery and pacing", ref("Io")), 400: answer("The body is not a JSON object"),
    404: answer("IOs are switched off on this hub"), 422: answer("The row was refused; the reasons, and import_id")})
@require_tenant("api")
def create():
    """One IO as JSON, validated by the same rules as a sheet row (and the same lifecycle moves)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_error(400, "body: expected a JSON object with io_id, flight_start, flight_end, ...")
    session = db()
    imp, _ = create_import(session, tenant_id=g.tenant.id, source="api", table_name="io_bookings",
                           input_format="records", payload=json.dumps([body]).encode(), filename="POST /api/v1/io")
    if exceeded := admit_import(session, settings(), imp):  # one row, counted like any other
        return over_quota(exceeded)
    session.commit()
    # One row: run it now, in this request, so the caller gets the IO or the reasons at once.
    imp = run_import(session, imp.id, tables=TABLES, settings=settings())
    # What follows any IO import (the sheet's row shows its new status, io.* events go out) follows this one.
    follow_imports(settings(), [Finished.of(imp)])
    if imp.status != "completed":
        summary = import_summary(session, imp)
        reasons = [e["message"] for e in summary["row_errors"]] or [imp.error]
        return json_error(422, "; ".join(str(r) for r in reasons), import_id=imp.id)
    found = _find(str(body.get("io_id", "")).strip())
    return jsonify(_summary(found)), 201


@bp.get("/<io_id>")
@operation("An IO with its delivery, pacing and results", tags=["io"], responses={
    200: answer("The IO", ref("Io")), 404: answer("No such IO for this tenant, or IOs are switched off")})
@require_tenant("api")
def read(io_id: str):
    found = _find(io_id)
    if found is None:
        return json_error(404, f"no IO {io_id!r} for this tenant")
    return jsonify(_summary(found))


@bp.get("/<io_id>/make-goods")
@operation("Where the IO's shortfall could run instead", tags=["io"], responses={
    200: answer("Suggestions, cheapest first", obj()), 404: answer("No such IO for this tenant, or IOs are switched off")})
@require_tenant("api")
def make_good_suggestions(io_id: str):
    """Where the IO's shortfall could run instead, cheapest first (hub/workflows/make_goods.py)."""
    found = _find(io_id)
    if found is None:
        return json_error(404, f"no IO {io_id!r} for this tenant")
    return jsonify(make_goods(db(), found, utcnow().date(), PacingThresholds.of(settings())))


@bp.get("/<io_id>/export")
@operation("The insertion order as an XLSX document", tags=["io"], responses={
    200: answer("The document", {"type": "string", "format": "binary"},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), 404: answer("No such IO for this tenant, or IOs are switched off")})
@require_tenant("api")
def export(io_id: str):
    found = _find(io_id)
    if found is None:
        return json_error(404, f"no IO {io_id!r} for this tenant")
    document = insertion_order_xlsx(_summary(found), g.tenant.name)
    return send_file(_io.BytesIO(document), as_attachment=True, download_name=f"insertion-order-{io_id}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/<io_id>/history")
@operation("Every change the hub applied to the IO, newest first", tags=["io"], responses={
    200: answer("The changes", obj(("io_id", "history"), io_id={"type": "string"}, history={"type": "array"})), 404: answer("No such IO for this tenant, or IOs are switched off")})
@require_tenant("api")
def history(io_id: str):
    """Every change the hub applied to the IO, newest first: old and new value of each changed column,
    the source, the import and the time (kept HUB_HISTORY_RETENTION_DAYS)."""
    if _find(io_id) is None:
        return json_error(404, f"no IO {io_id!r} for this tenant")
    entries = db().scalars(select(RowHistory).where(
        RowHistory.tenant_id == g.tenant.id, RowHistory.table_name == "io_bookings", RowHistory.row_key == io_id)
        .order_by(RowHistory.changed_at.desc(), RowHistory.id.desc())).all()
    return jsonify({"io_id": io_id, "history": [
        {"changed_at": e.changed_at.isoformat(), "source": e.source, "import_id": e.import_id, "changes": e.changes}
        for e in entries]})
