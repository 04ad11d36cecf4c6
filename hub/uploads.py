"""An uploaded file taken into an import: the tenant API's upload and the tenant page's share it."""
from __future__ import annotations

from .ingest.intake import PayloadTooLarge, anchor_export_payload, create_import
from .ingest.readers import format_for_filename
from .ingest.spec import UnusableInput
from .ingest.tables import TABLES, switched_off
from .ingest.values import UnknownLocale, normalize_locale
from .jobs.imports import enqueue_import
from .models import EtlImport
from .quotas import admit_import, over_quota
from .web import db, settings


class UploadRefused(Exception):
    """An upload the hub does not take; `status` and the message say why (nothing was stored)."""

    def __init__(self, status: int, message: str, response=None):
        super().__init__(message)
        self.status, self.response = status, response


def take_upload(tenant_id: int, form, files, dedupe_key: str | None = None) -> tuple[EtlImport, bool]:
    """Store an uploaded file as an import of `tenant_id` and run (or queue) it: the API's upload and the
    tenant page's share this. Returns (import, created); raises UploadRefused."""
    table = (form.get("table") or "").strip()
    if table not in TABLES:
        raise UploadRefused(400, f"form field 'table': expected one of {', '.join(TABLES)}, found {table!r}")
    if refusal := switched_off(settings().flags, table):
        raise UploadRefused(404, refusal)
    try:
        locale = normalize_locale(form["locale"]) if form.get("locale") else None
    except UnknownLocale as error:
        raise UploadRefused(400, f"form field {error}") from None
    upload_file = files.get("file")
    if upload_file is None or not upload_file.filename:
        raise UploadRefused(400, "form field 'file': expected a CSV, XLSX or ODS file, found none")
    try:
        if form.get("format") == "anchor":
            # A Spotify for Podcasters export: mapped to metrics_daily records first.
            input_format, source = "records", "anchor-export"
            payload = anchor_export_payload(upload_file.stream, form.get("podcast_id", ""))
        else:
            input_format, source = format_for_filename(upload_file.filename, upload_file.mimetype), "upload"
            payload = upload_file.stream
        imp, created = create_import(
            db(),
            tenant_id=tenant_id,
            source=source,
            table_name=table,
            input_format=input_format,
            payload=payload,
            filename=upload_file.filename[:300],
            dedupe_key=dedupe_key,
            max_bytes=settings().max_upload_bytes,
            context={"locale": locale} if locale else None,
        )
    except UnusableInput as error:
        raise UploadRefused(400, str(error)) from None
    except PayloadTooLarge as error:
        raise UploadRefused(413, f"{error}; nothing was stored") from None
    if not created:  # a retried upload under the same Idempotency-Key: the first import, not run again
        return imp, False
    if exceeded := admit_import(db(), settings(), imp):  # over the rows quota: refused whole, nothing kept
        raise UploadRefused(429, exceeded.message, response=over_quota(exceeded))
    db().commit()  # persisted before anything runs or is promised
    enqueue_import(settings(), imp.id)
    db().refresh(imp)
    return imp, True
