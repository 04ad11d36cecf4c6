"""`POST /webhooks/sheets/<tenant>`: signed pushes from the Apps Script, persisted then imported."""
from __future__ import annotations

import json
import time

from flask import Blueprint, jsonify, request, url_for

from hub.apidoc import answer, header, json_body, obj, operation, ref
from hub.ingest.intake import create_import
from hub.ingest.readers import sheet_push_row_count
from hub.ingest.values import UnknownLocale, normalize_locale
from hub.ingest.summary import import_summary
from hub.ingest.spec import SHEETS
from hub.ingest.tables import SHEET_TABLES, switched_off
from hub.jobs.imports import enqueue_import
from hub.models import EtlImport
from hub.quotas import admit_import, charge_request, limits_with, over_quota
from hub.request_limits import bounded_json_loads
from hub.sheets.ownership import SpreadsheetRefused, accept_push_from, checked_spreadsheet_id, touch
from hub.tenants import webhook_signer
from hub.web import db, json_error, settings, webhook_body

from .decoys import decoy_hmac_secret
from .signatures import SignatureError, check_timestamped_hmac

bp = Blueprint("sheets_webhook", __name__, url_prefix="/webhooks/sheets")
SOURCE = SHEETS.name


def clock() -> float:
    return time.time()


def _signed_by_tenant(tenant_slug: str, signed: bytes):
    """(signer, None) when the request is signed with this tenant's sheets secret, else (None, a 401)."""
    signer = webhook_signer(db(), tenant_slug, SOURCE, settings().secret_key)
    try:
        # An unknown tenant fails the same check, with the same words, as a wrong signature.
        check_timestamped_hmac(signer.secret if signer else decoy_hmac_secret(), request.headers.get("X-Hub-Timestamp"),
                               request.headers.get("X-Hub-Signature-256"), signed, now=clock())
    except SignatureError as error:
        return None, json_error(401, str(error))
    return signer, None


def _accepted(imp, replayed: bool):
    return jsonify({
        "import_id": imp.id,
        "status": imp.status,
        "replayed": replayed,
        "status_url": url_for("sheets_webhook.push_status", tenant_slug=request.view_args["tenant_slug"],
                              import_id=imp.id, _external=True),
    }), 202


@bp.post("/<tenant_slug>")
@operation("A push from the Apps Script: rows of one tab, imported as a job", tags=["webhooks"],
           tenant=False, security=[], description="Signed: X-Hub-Signature-256 is sha256=<hex HMAC-SHA256 of "
           "timestamp + '.' + body> with the tenant's sheets secret; X-Hub-Timestamp at most 300 seconds old.",
           parameters=[header("X-Hub-Timestamp", {"type": "string"}, "unix seconds"),
                       header("X-Hub-Signature-256", {"type": "string"}, "sha256=<hex>")],
           body=json_body(obj(("push_id", "spreadsheet_id", "sheet", "header", "rows"), push_id={"type": "string"},
                              spreadsheet_id={"type": "string"}, sheet={"type": "string"},
                              header={"type": "array", "items": {"type": "string"}}, rows={"type": "array"},
                              locale={"type": "string"}, time_zone={"type": "string"})),
           responses={202: answer("Accepted (or the same push again)", ref("ImportAccepted")),
                      400: answer("The body is not a JSON object"), 401: answer("Not signed by this tenant"),
                      403: answer("The spreadsheet is not this tenant's"), 422: answer("A push field is wrong"), 429: "TooManyRequests"})
def receive_push(tenant_slug: str):
    body, refused = webhook_body("push", hint="send fewer rows per push")
    if refused is not None:
        return refused

    session = db()
    signer, refused = _signed_by_tenant(tenant_slug, body)
    if refused is not None:
        return refused
    limits = limits_with(settings(), signer.quota_limits)  # both quotas a push is charged, read with the secret
    if exceeded := charge_request(session, settings(), signer.tenant_id, "webhooks", limits=limits):
        return over_quota(exceeded)

    try:
        push = bounded_json_loads(body)
    except (ValueError, UnicodeDecodeError) as error:  # JSONTooDeep included: the message names the limit
        return json_error(400, f"body is not valid JSON: {error}")
    if not isinstance(push, dict):
        return json_error(400, "body: expected a JSON object with push_id, spreadsheet_id, sheet, header, rows")
    push_id = push.get("push_id")
    if not isinstance(push_id, str) or not push_id.strip() or len(push_id) > 200:
        return json_error(422, "push_id: expected a non-empty string (at most 200 characters)")
    sheet = push.get("sheet")
    if sheet not in SHEET_TABLES:
        return json_error(422, f"sheet {sheet!r} is not a table the hub imports: expected a tab named one of {', '.join(SHEET_TABLES)}")
    if refusal := switched_off(settings().flags, sheet):
        return json_error(422, refusal)
    if not isinstance(push.get("header"), list) or not isinstance(push.get("rows"), list):
        return json_error(422, "body: expected 'header' (a list of column names) and 'rows' (a list of {row_number, values})")
    try:
        spreadsheet_id = checked_spreadsheet_id(push.get("spreadsheet_id"))
        # Signed by this tenant is not enough: the spreadsheet must be its own, or the hub would read
        # and write another tenant's sheet on this tenant's say-so. Its own is marked as the one that
        # pushed last by the statement that finds it; any other goes through the registration rules.
        if not touch(session, signer.tenant_id, spreadsheet_id):
            accept_push_from(session, signer.tenant_id, signer.slug, spreadsheet_id)
            touch(session, signer.tenant_id, spreadsheet_id)
    except SpreadsheetRefused as refusal:
        return json_error(403, str(refusal))
    except ValueError as error:
        return json_error(422, str(error))

    # The spreadsheet's own locale (the Apps Script sends getSpreadsheetLocale(), e.g. de_DE): its text
    # cells are read the way that sheet shows numbers and dates.
    try:
        locale = normalize_locale(push["locale"]) if push.get("locale") else None
    except UnknownLocale as error:
        return json_error(422, str(error))
    time_zone = push.get("time_zone") if isinstance(push.get("time_zone"), str) else None
    imp, created = create_import(
        session,
        tenant_id=signer.tenant_id,
        tenant_locale=signer.locale,
        source=SOURCE,
        table_name=sheet,
        input_format="sheet_push",
        payload=body,
        filename=f"{spreadsheet_id}/{sheet}"[:300],
        dedupe_key=push_id,
        context={"spreadsheet_id": spreadsheet_id, "sheet": sheet,
                 **({"locale": locale} if locale else {}), **({"time_zone": time_zone[:64]} if time_zone else {})},
    )
    if not created:  # the same push_id again: the same import, nothing processed twice
        return _accepted(imp, replayed=True)
    # Over the rows quota: refused whole, nothing kept. The rows are counted on the push parsed above.
    if exceeded := admit_import(session, settings(), imp, rows=sheet_push_row_count(push, body), limits=limits):
        return over_quota(exceeded)
    session.commit()  # the push is in the database before the script hears "accepted"
    # Its job id is new with the import, so no pending job can hold it. Queued on RQ, the import is
    # still as committed ('queued'); only a job run inline has moved it on.
    if enqueue_import(settings(), imp.id, new=True) == "inline":
        session.refresh(imp)
    return _accepted(imp, replayed=False)


@bp.get("/<tenant_slug>/imports/<import_id>")
@operation("The outcome of one push, for the script", tags=["webhooks"], tenant=False, security=[],
           description="Signed like a push, over the import id.",
           parameters=[header("X-Hub-Timestamp", {"type": "string"}), header("X-Hub-Signature-256", {"type": "string"})],
           responses={200: answer("The import and each row's outcome", ref("ImportSummary")),
                      401: answer("Not signed by this tenant"), 404: answer("No such import for this tenant"), 429: "TooManyRequests"})
def push_status(tenant_slug: str, import_id: str):
    """The outcome of one push, for the script; signed like a push, over the import id."""
    session = db()
    signer, refused = _signed_by_tenant(tenant_slug, import_id.encode())
    if refused is not None:
        return refused
    if exceeded := charge_request(session, settings(), signer.tenant_id, "webhooks",
                                  limits=limits_with(settings(), signer.quota_limits)):
        return over_quota(exceeded)
    imp = session.get(EtlImport, import_id)
    if imp is None or imp.tenant_id != signer.tenant_id:
        return json_error(404, f"no import {import_id} for tenant {tenant_slug!r}")
    return jsonify(dict(import_summary(session, imp), row_outcomes=imp.row_outcomes or {}))
