"""The seed's ETL endpoints: upload a CSV, XLSX or ODS file, follow its import, list recent imports."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request, url_for
from sqlalchemy import select

from ..apidoc import answer, header, obj, operation, query, ref
from ..auth import require_tenant
from ..ingest.intake import PayloadTooLarge, anchor_export_payload, create_import
from ..ingest.readers import format_for_filename
from ..ingest.summary import history_item, import_summary
from ..ingest.tables import TABLES, switched_off
from ..ingest.spec import UnusableInput
from ..ingest.values import UnknownLocale, normalize_locale
from ..jobs.imports import enqueue_import, retry_import
from ..models import EtlImport
from ..quotas import admit_import, over_quota
from ..web import behind_flag, db, json_error, settings

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
    table = (request.form.get("table") or "").strip()
    if table not in TABLES:
        return json_error(400, f"form field 'table': expected one of {', '.join(TABLES)}, found {table!r}")
    if refusal := switched_off(settings().flags, table):
        return json_error(404, refusal)
    try:
        locale = normalize_locale(request.form["locale"]) if request.form.get("locale") else None
    except UnknownLocale as error:
        return json_error(400, f"form field {error}")
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        return json_error(400, "form field 'file': expected a CSV, XLSX or ODS file, found none")
    try:
        if request.form.get("format") == "anchor":
            # A Spotify for Podcasters export: mapped to metrics_daily records first.
            input_format, source = "records", "anchor-export"
            payload = anchor_export_payload(upload_file.stream, request.form.get("podcast_id", ""))
        else:
            input_format, source = format_for_filename(upload_file.filename, upload_file.mimetype), "upload"
            payload = upload_file.stream
        imp, created = create_import(
            db(),
            tenant_id=g.tenant.id,
            source=source,
            table_name=table,
            input_format=input_format,
            payload=payload,
            filename=upload_file.filename[:300],
            dedupe_key=request.headers.get("Idempotency-Key") or None,
            max_bytes=settings().max_upload_bytes,
            context={"locale": locale} if locale else None,
        )
    except UnusableInput as error:
        return json_error(400, str(error))
    except PayloadTooLarge as error:
        return json_error(413, f"{error}; nothing was stored")
    if not created:  # a retried upload under the same Idempotency-Key: the first import, not run again
        return accepted(imp)
    if exceeded := admit_import(db(), settings(), imp):  # over the rows quota: refused whole, nothing kept
        return over_quota(exceeded)
    db().commit()  # persisted before anything runs or is promised
    enqueue_import(settings(), imp.id)
    db().refresh(imp)
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
