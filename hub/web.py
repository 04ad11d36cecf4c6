"""Request plumbing shared by every blueprint: the per-request session, settings and JSON errors."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .config import Settings


def settings() -> Settings:
    return current_app.config["HUB_SETTINGS"]


def db() -> Session:
    """The request's session; the view commits (one transaction per request), teardown closes it."""
    if "db" not in g:
        g.db = current_app.extensions["hub.sessions"]()
    return g.db


def refused_rows_download(imp, file_format: str) -> Response:
    """An import's refused rows as an attachment (hub/ingest/refused_rows.py), for the API and both pages."""
    from .ingest import refused_rows

    return Response(refused_rows.refused_file(db(), imp, file_format), mimetype=refused_rows.FORMATS[file_format],
                    headers={"Content-Disposition": f'attachment; filename="refused-{imp.id}.{file_format}"'})


def json_error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def webhook_body(noun: str = "body", hint: str = ""):
    """(the raw body, None) within HUB_MAX_WEBHOOK_BYTES, or (None, a 413 naming the limit)."""
    limit = settings().max_webhook_bytes
    suffix = f" ({hint})" if hint else ""
    if request.content_length is not None and request.content_length > limit:
        return None, json_error(413, f"{noun} is {request.content_length} bytes; the limit is {limit} bytes{suffix}")
    body = request.get_data(cache=True)  # kept: form fields are parsed from it afterwards
    if len(body) > limit:
        return None, json_error(413, f"{noun} is over the limit of {limit} bytes{suffix}")
    return body, None


def behind_flag(bp: Blueprint, flag: str, refusal: str) -> None:
    """Every route of `bp` answers 404 with `refusal` while the feature flag `flag` is off."""

    @bp.before_request
    def flag_on():
        if not getattr(settings().flags, flag):
            return json_error(404, refusal)


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def close_session(_exc):
        session = g.pop("db", None)
        if session is not None:
            session.close()  # rolls back anything the view did not commit

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error):
        limit = getattr(request, "body_limit", None) or app.config.get("MAX_CONTENT_LENGTH")  # hub/request_limits.py
        return json_error(413, f"request body is larger than the limit of {limit} bytes; nothing was stored")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # API callers get JSON, never an HTML error page.
        return json_error(error.code or 500, error.description or error.name)
