"""The OpenAPI 3.1 document of the JSON API and the webhooks, built from the app's own routes and the
operation each view carries (hub/apidoc.py), served at `GET /api/v1/openapi.json` without a token.

Built from the url_map rather than written by hand, so a route's path and parameters cannot drift
from the document; tests/test_openapi.py fails when a route has no operation.
"""
from __future__ import annotations

import re

from apispec import APISpec
from flask import Blueprint, Flask, current_app, jsonify

from ..apidoc import JSON, SCHEMAS, answer, obj, operation, ref

bp = Blueprint("openapi", __name__)

DOCUMENTED_PREFIXES = ("/api/", "/webhooks/")
# `<converter(args):name>` or `<name>` in a Werkzeug rule.
_RULE_PART = re.compile(r"<(?:(?P<converter>[a-zA-Z_]+)(?:\([^>]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_CONVERTER_SCHEMAS = {
    # Werkzeug's int converter takes digits only; a 64-bit id is the most any table holds.
    "int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
    "default": {"type": "string", "minLength": 1},
}

RESPONSES = {
    "Unauthorized": answer("No token, or not a valid one"),
    "TooManyRequests": {
        "description": "Over the tenant's request or rows quota; nothing was done. Try again after Retry-After seconds.",
        "headers": {"Retry-After": {"description": "seconds until the quota's window resets",
                                    "schema": {"type": "integer", "minimum": 0}, "required": True}},
        "content": {JSON: {"schema": ref("QuotaExceeded")}},
    },
    "TooLarge": answer("The body is over this endpoint's size limit; nothing was stored"),
}


def documented_rules(app: Flask):
    """The rules the document must cover: the JSON API and the webhooks."""
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(DOCUMENTED_PREFIXES)]


def undocumented(app: Flask) -> list[str]:
    """`METHOD /path` of every documented-prefix route whose view carries no operation."""
    return sorted(f"{method} {rule.rule}" for rule in documented_rules(app)
                  for method in rule.methods - {"HEAD", "OPTIONS"}
                  if not hasattr(app.view_functions[rule.endpoint], "openapi"))


def _path_and_parameters(rule: str) -> tuple[str, list[dict]]:
    parameters = [{"in": "path", "name": m["name"], "required": True,
                   "schema": _CONVERTER_SCHEMAS.get(m["converter"] or "default", _CONVERTER_SCHEMAS["default"])}
                  for m in _RULE_PART.finditer(rule)]
    return _RULE_PART.sub(lambda m: "{" + m["name"] + "}", rule), parameters


def _operation(spec: dict, endpoint: str, path_parameters: list[dict]) -> dict:
    # A string names a shared response (RESPONSES).
    responses = {str(code): {"$ref": f"#/components/responses/{value}"} if isinstance(value, str) else value
                 for code, value in spec["responses"].items()}
    if path_parameters:
        # An id that does not exist, and a path Werkzeug does not route (e.g. an encoded "/"), are 404s.
        responses.setdefault("404", answer("Not found"))
    out: dict = {"operationId": endpoint, "summary": spec["summary"], "responses": responses}
    if spec["description"]:
        out["description"] = spec["description"]
    if spec["tags"]:
        out["tags"] = spec["tags"]
    if spec["parameters"]:
        out["parameters"] = [{k: v for k, v in p.items() if v != ""} for p in spec["parameters"]]
    if spec["tenant"]:
        out["security"] = [{"bearer": []}]
        responses.setdefault("401", {"$ref": "#/components/responses/Unauthorized"})
        responses.setdefault("429", {"$ref": "#/components/responses/TooManyRequests"})
    if spec["security"] is not None:
        out["security"] = spec["security"]
    if spec["body"] is not None:
        out["requestBody"] = dict(spec["body"], required=spec["body"].get("required", True))
        responses.setdefault("413", {"$ref": "#/components/responses/TooLarge"})
    return out


def build_document(app: Flask) -> dict:
    spec = APISpec(
        title="The hub", version="1", openapi_version="3.1.0",
        info={"description": "Tenant-scoped JSON API and webhooks of the integration hub. Every error is "
                             "JSON: {\"error\": \"what was wrong\"}."},
    )
    spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer",
        "description": "The tenant's API token (the webhooks use their own secrets, see each operation)"})
    spec.components.security_scheme("zapier", {
        "type": "http", "scheme": "bearer", "description": "The tenant's zapier token (or as X-Hub-Token)"})
    spec.components.security_scheme("admin", {"type": "http", "scheme": "bearer", "description": "HUB_ADMIN_TOKEN"})
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for name, response in RESPONSES.items():
        spec.components.response(name, response)

    paths: dict[str, tuple[list[dict], dict]] = {}
    for rule in sorted(documented_rules(app), key=lambda r: r.rule):
        view_spec = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if view_spec is None:
            continue  # reported by undocumented(), and so by the test
        path, parameters = _path_and_parameters(rule.rule)
        _, operations = paths.setdefault(path, (parameters, {}))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operations[method.lower()] = _operation(view_spec, rule.endpoint, parameters)
    for path, (parameters, operations) in paths.items():
        spec.path(path=path, operations=operations, parameters=parameters or None)
    return spec.to_dict()


@bp.get("/api/v1/openapi.json")
@operation("This document", tenant=False, security=[], tags=["meta"],
           responses={200: answer("The OpenAPI 3.1 document", obj(("openapi", "paths"), openapi={"type": "string"},
                                                                     paths={"type": "object"}))})
def document():
    # Built once per app: the routes do not change after create_app.
    if "hub.openapi" not in current_app.extensions:
        current_app.extensions["hub.openapi"] = build_document(current_app)
    return jsonify(current_app.extensions["hub.openapi"])

