"""`POST /webhooks/zapier/<tenant>/<stream>`: rows from Zapier's Webhooks "POST" action, into the pipeline.

Zapier signs nothing, so the tenant's `zapier` secret must come as a bearer token (or X-Hub-Token).
Accepted bodies, as the Webhooks by Zapier POST action sends them: a JSON object (one row), a JSON
array of objects ("wrap request in array"), or form-encoded fields. Nested objects and Zapier's
flattened `parent__child` keys are read the same way.
"""
from __future__ import annotations

import json

from flask import Blueprint, jsonify, request, url_for

from hub.apidoc import answer, header, obj, operation, query, ref
from hub.auth import bearer_token
from hub.ingest.intake import create_import, find_replay
from hub.ingest.tables import TABLES, switched_off
from hub.ingest.values import UnknownLocale, normalize_locale
from hub.jobs.imports import enqueue_import
from hub.quotas import admit_import, charge_request, over_quota
from hub.request_limits import bounded_json_loads
from hub.tenants import tenant_by_slug, token_matches
from hub.web import db, json_error, settings, webhook_body

bp = Blueprint("zapier_webhook", __name__, url_prefix="/webhooks/zapier")
SOURCE = "zapier"
# A zap posts to the stream of the table its rows are for: every table the hub imports.
STREAMS = tuple(TABLES)


def flatten(record: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a__b": 1}; the pipeline then matches a column by its last part."""
    flat: dict = {}
    for key, value in record.items():
        name = f"{prefix}__{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value if value is None or isinstance(value, (str, int, float, bool)) else json.dumps(value)
    return flat


def unprefixed(record: dict) -> dict:
    """`order__day` is the `day` column unless the record also has a plain `day`."""
    out: dict = {}
    for key, value in record.items():
        short = key.rsplit("__", 1)[-1]
        out[short if short not in record and short not in out else key] = value
    return out


def _records() -> list[dict] | str:
    if request.mimetype == "application/x-www-form-urlencoded" or request.mimetype == "multipart/form-data":
        return [request.form.to_dict(flat=True)]
    try:
        body = bounded_json_loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError) as error:  # JSONTooDeep included: the message names the limit
        return f"body is not valid JSON: {error}"
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body or not all(isinstance(item, dict) for item in body):
        return "body: expected a JSON object, a JSON array of objects, or form fields"
    return body


@bp.post("/<tenant_slug>/<stream>")
@operation("Rows from Zapier's Webhooks POST action, into a table's pipeline", tags=["webhooks"],
           tenant=False, security=[{"zapier": []}],
           parameters=[header("Idempotency-Key", {"type": "string"}), query("locale", {"type": "string"})],
           body={"content": {"application/json": {"schema": {"oneOf": [obj(), {"type": "array", "items": obj()}]}},
                             "application/x-www-form-urlencoded": {"schema": obj()}}},
           responses={202: answer("Accepted: follow status_url", ref("ImportAccepted")),
                      400: answer("The body is not an object, a list of objects or form fields; or an unknown locale"),
                      401: answer("No zapier token, or not this tenant's"), 404: answer("Not a stream the hub imports"), 429: "TooManyRequests"})
def receive(tenant_slug: str, stream: str):
    # The token is a header: checked before a byte of the body is read.
    session = db()
    tenant = tenant_by_slug(session, tenant_slug)
    token = bearer_token()
    if not token:
        return json_error(401, "missing credentials: send 'Authorization: Bearer <your zapier token>' or X-Hub-Token")
    if tenant is None or not token_matches(session, tenant.id, SOURCE, token):
        return json_error(401, "invalid zapier token for this tenant")
    if exceeded := charge_request(session, settings(), tenant.id, "webhooks"):
        return over_quota(exceeded)
    _, refused = webhook_body()
    if refused is not None:
        return refused
    if stream not in STREAMS:
        return json_error(404, f"stream: expected one of {', '.join(STREAMS)}, found {stream!r}")
    if refusal := switched_off(settings().flags, stream):
        return json_error(404, refusal)

    try:
        locale = normalize_locale(request.args["locale"]) if request.args.get("locale") else None
    except UnknownLocale as error:
        return json_error(400, f"query parameter {error}")
    key = request.headers.get("Idempotency-Key", "").strip()[:200] or None
    replay = find_replay(session, tenant.id, SOURCE, key)
    if replay is None:
        records = _records()
        if isinstance(records, str):
            return json_error(400, records)
        rows = [unprefixed(flatten(record)) for record in records]
        replay, _ = create_import(
            session, tenant_id=tenant.id, source=SOURCE, table_name=stream, input_format="records",
            payload=json.dumps(rows).encode(), dedupe_key=key, filename=f"zapier/{stream}",
            context={"locale": locale} if locale else None,
        )
        if exceeded := admit_import(session, settings(), replay):  # over the rows quota: refused whole
            return over_quota(exceeded)
        session.commit()  # kept before the zap hears "accepted"
        enqueue_import(settings(), replay.id)
        session.refresh(replay)
    return jsonify({"import_id": replay.id, "status": replay.status,
                    "status_url": url_for("etl.status", import_id=replay.id, _external=True)}), 202
