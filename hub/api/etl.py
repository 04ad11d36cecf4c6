"""The seed's ETL endpoints: upload a CSV, XLSX or ODS file, follow its import, list recent imports."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request, url_for
from sqlalchemy import select

from ..apidoc import answer, header, obj, operation, query, ref
from ..auth import require_tenant
from ..ingest import refused_rows
from ..ingest.summary import history_item, import_summary
from ..ingest.tables import TABLES
from ..jobs.imports import retry_import
from ..models import EtlImport
from ..uploads import UploadRefused, take_upload
from ..web import behind_flag, db, json_error, refused_rows_download, settings

bp = Blueprint("etl", __name__, url_prefix="/api/v1/etl")


behind_flag(bp, "etl_csv_upload", "ETL uploads are switched off on this hub (ENABLE_ETL_CSV_UPLOAD=false)")


def accepted(imp: EtlImport, status: int = 202):
    return jsonify({"import_id": imp.id, "status": imp.status,
                    "status_url": url_for("etl.status", import_id=imp.id, _external=True)}), status


@bp.post("/upload")
@operation("Upload a CSV, XLSX or ODS file; the import runs as a job", tags=["etl"],
           parameters=[header("Idempotency-Key", {"type": "string"}, "a retried upload with the same key is the same import")],
           body={"content": {"multipart/form-data": {"schema": obj(
               ("table", "file"), table={"type": "string", "enum": list(TABLES)},
               file={"type": "string", "format": "binary"}, locale={"type": "string", "description": "e.g. de_DE"},
               format={"type": "string", "enum": ["anchor"], "description": "a Spotify for Podcasters export"},
               podcast_id={"type": "string"})}}},
           responses={202: answer("Accepted: follow status_url", ref("ImportAccepted")),
                      400: answer("A form field is missing or wrong, or the file is unusable"),
                      404: answer("Uploads, or this table, are switched off on this hub")})
@require_tenant("api")
def upload():
    try:
        imp, _created = take_upload(g.tenant.id, request.form, request.files,
                                    dedupe_key=request.headers.get("Idempotency-Key") or None)
    except UploadRefused as refused:
        return refused.response or json_error(refused.status, str(refused))
    return accepted(imp)


def _tenant_import(import_id: str) -> EtlImport | None:
    imp = db().get(EtlImport, import_id)
    # Another tenant's import is as absent as one that never existed.
    return imp if imp is not None and imp.tenant_id == g.tenant.id else None


@bp.get("/status/<import_id>")
@operation("One import: its counts, warnings and refused rows", tags=["etl"],
           parameters=[query("errors", {"type": "integer"}, "how many refused rows to list (0 to 10000; 100 by default)")],
           responses={200: answer("The import", ref("ImportSummary")), 404: answer("No such import for this tenant")})
@require_tenant("api")
def status(import_id: str):
    imp = _tenant_import(import_id)
    if imp is None:
        return json_error(404, f"no import {import_id} for this tenant")
    limit = min(max(request.args.get("errors", 100, type=int), 0), 10_000)
    return jsonify(import_summary(db(), imp, errors_limit=limit))


@bp.get("/history")
@operation("The latest imports, newest first", tags=["etl"],
           parameters=[query("limit", {"type": "integer"}, "1 to 500; 50 by default")],
           responses={200: answer("The imports", obj(("imports",), imports={"type": "array", "items": obj(
               ("import_id", "status"), import_id={"type": "string"}, status={"type": "string"})})),
                      404: answer("Uploads are switched off on this hub")})
@require_tenant("api")
def history():
    limit = min(max(request.args.get("limit", 50, type=int), 1), 500)
    imports = db().scalars(
        select(EtlImport).where(EtlImport.tenant_id == g.tenant.id).order_by(EtlImport.created_at.desc()).limit(limit)
    ).all()
    return jsonify({"imports": [history_item(imp) for imp in imports]})


@bp.get("/imports/<import_id>/refused")
@operation("The import's refused rows as sent, with an error column, to fix and upload again", tags=["etl"],
           parameters=[query("format", {"type": "string", "enum": ["csv", "xlsx"]}, "csv by default")],
           responses={200: {"description": "The refused rows as a file",
                            "content": {"text/csv": {"schema": {"type": "string"}},
                                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                            "schema": {"type": "string", "format": "binary"}}}},
                      404: answer("No such import for this tenant, or uploads are switched off"),
                      422: answer("An unknown format")})
@require_tenant("api")
def refused(import_id: str):
    """The import's refused rows as they were sent, with an `error` column: fix them and upload the file
    again (`?format=csv`, the default, or `xlsx`)."""
    imp = _tenant_import(import_id)
    if imp is None:
        return json_error(404, f"no import {import_id} for this tenant")
    file_format = request.args.get("format", "csv")
    if file_format not in refused_rows.FORMATS:
        return json_error(422, f"format: expected csv or xlsx, found {file_format[:20]!r}")
    return refused_rows_download(imp, file_format)


@bp.post("/imports/<import_id>/retry")
@operation("Run a failed or stuck import again", tags=["etl"], responses={
    202: answer("Accepted: follow status_url", ref("ImportAccepted")), 404: answer("No such import for this tenant"),
    409: answer("The import completed, or cannot change by running again")})
@require_tenant("api")
def retry(import_id: str):
    imp = _tenant_import(import_id)
    if imp is None:
        return json_error(404, f"no import {import_id} for this tenant")
    if imp.status in ("completed", "completed_with_errors"):
        return json_error(409, f"import {import_id} is {imp.status}; only failed or stuck imports are retried")
    db().close()
    try:
        retry_import(settings(), import_id)
    except ValueError as error:  # refused as a whole: a rerun cannot change it
        return json_error(409, str(error))
    imp = db().get(EtlImport, import_id)
    return accepted(imp)
