"""How many body bytes each endpoint may read, and how deep its JSON may nest, checked before parsing.

Werkzeug enforces `request.max_content_length` on the input stream itself, with or without a
Content-Length (gunicorn and the development server both terminate chunked bodies), so setting it
per request before the view runs means no endpoint ever buffers more than its own limit + 1 byte:
the upload API its upload limit, the webhooks (reachable without credentials) their webhook limit,
everything else (the JSON API, the admin forms) a small one.

The stream is capped at limit + 1 because Werkzeug's read-everything (`get_data`) stops quietly at
the cap instead of raising: one byte past the limit is how an over-long body is told from one that
is exactly at it.
"""
from __future__ import annotations

import re

import numpy
from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

API_BODY_BYTES = 1024 * 1024   # an IO, a deal stage, a hook subscription, a login form: a few KB at most
JSON_MAX_DEPTH = 32            # our deepest real payload (a Shopify order) nests 5 levels
UPLOAD_ENDPOINTS = {"etl.upload", "tenant_page.upload"}  # the API's and the tenant page's file uploads
WEBHOOK_BLUEPRINTS = {"sheets_webhook", "zapier_webhook", "commerce_webhooks"}

# A JSON string, escapes included ("unrolled": no alternation per character); strings are taken out so
# "[[[" inside one does not count.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = numpy.zeros(256, dtype=numpy.int32)
_BRACKET_STEP[list(b"[{")], _BRACKET_STEP[list(b"]}")] = 1, -1


class JSONTooDeep(ValueError):
    """A JSON document nested deeper than JSON_MAX_DEPTH; refused before a recursive parser sees it."""


def _outside_strings(data: bytes) -> bytes:
    """The bytes of `data` that are not inside a JSON string (an unterminated string's text stays)."""
    if b"\\" in data:
        return _JSON_STRING.sub(b"", data)
    # No escapes: every other quote closes a string, so splitting on quotes alternates outside, inside.
    pieces = data.split(b'"')
    outside = pieces[::2]
    if len(pieces) % 2 == 0:  # an odd number of quotes: the last one opens no string, its tail is outside
        outside.append(pieces[-1])
    return b"".join(outside)


def check_json_depth(data: bytes | str, limit: int = JSON_MAX_DEPTH) -> None:
    """Raise JSONTooDeep when brackets nest deeper than `limit`; cost is linear and needs no recursion.

    The work is done in C (bytes.split, bytes.translate, numpy's cumsum), not byte by byte in Python:
    a push of 500 rows has about 5,000 strings and 2,000 brackets."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") <= limit:
        return  # cannot be deeper than the number of openers
    brackets = numpy.frombuffer(_outside_strings(data).translate(None, _NOT_BRACKETS), dtype=numpy.uint8)
    if brackets.size and numpy.cumsum(_BRACKET_STEP[brackets]).max() > limit:
        raise JSONTooDeep(f"JSON nests deeper than the limit of {limit} levels")


def bounded_json_loads(data: bytes | str):
    """json.loads after the depth check: a JSONTooDeep (a ValueError) names the limit."""
    import json

    check_json_depth(data)
    return json.loads(data)


class DepthLimitedJSONProvider(DefaultJSONProvider):
    """`request.get_json()` everywhere: too deep is a 400 naming the limit, even with silent=True."""

    # Objects keep their order (a refused row's raw values read in the input's column order).
    sort_keys = False

    def loads(self, s, **kwargs):
        try:
            check_json_depth(s)
        except JSONTooDeep as error:
            raise BadRequest(f"body: {error}; nothing was stored") from None
        return super().loads(s, **kwargs)


class BoundedRequest(Request):
    """A request whose body may be at most `body_limit` bytes, however it is read."""

    body_limit: int | None = None

    def limit_body(self, limit: int) -> None:
        self.body_limit = limit
        self.max_content_length = limit + 1

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        raw = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        if self.body_limit is not None and len(raw) > self.body_limit:
            raise RequestEntityTooLarge()
        return raw.decode(errors="replace") if as_text else raw


def body_limit(endpoint: str | None, blueprint: str | None, max_upload_bytes: int, max_webhook_bytes: int) -> int:
    if endpoint in UPLOAD_ENDPOINTS:
        return max_upload_bytes
    if blueprint in WEBHOOK_BLUEPRINTS:
        return max_webhook_bytes
    return min(API_BODY_BYTES, max_webhook_bytes)


def init_app(app: Flask) -> None:
    app.json = DepthLimitedJSONProvider(app)
    app.request_class = BoundedRequest

    @app.before_request
    def limit_body():
        # Runs before any view or decorator touches request.stream, form, files or data.
        hub_settings = app.config["HUB_SETTINGS"]
        request.limit_body(body_limit(request.endpoint, request.blueprint,
                                      hub_settings.max_upload_bytes, hub_settings.max_webhook_bytes))
