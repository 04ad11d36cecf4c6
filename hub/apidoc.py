"""Each view's OpenAPI operation, kept next to the view; hub/api/openapi.py gathers them into the document.

Here (and not in hub/api) because the webhooks and the status page document their views too, and
they sit beside hub.api in the layers, so none of them may import another (.importlinter).
Path parameters come from the route itself; the security scheme, the 401, the 429 and the 413 that
every tenant or body-reading view can give are added by the builder, so a view lists only its own.
"""
from __future__ import annotations

from typing import Any, Callable

ERROR = {"$ref": "#/components/schemas/Error"}
JSON = "application/json"
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}


def obj(required: tuple[str, ...] = (), **properties: Any) -> dict:
    """A JSON object schema; other keys may come too (answers grow without breaking clients)."""
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def json_body(schema: dict) -> dict:
    """A required JSON request body."""
    return {"content": {JSON: {"schema": schema}}}


def answer(description: str, schema: dict | None = None, media_type: str = JSON) -> dict:
    """A response: `schema` as JSON, or the error shape when there is none."""
    return {"description": description, "content": {media_type: {"schema": schema or ERROR}}}


def query(name: str, schema: dict, description: str = "") -> dict:
    return {"in": "query", "name": name, "schema": schema, "description": description}


def header(name: str, schema: dict, description: str = "") -> dict:
    return {"in": "header", "name": name, "schema": schema, "description": description}


def operation(summary: str, *, responses: dict[int, dict], tenant: bool = True, body: dict | None = None,
              parameters: list[dict] | None = None, description: str = "", tags: list[str] | None = None,
              security: list[dict] | None = None) -> Callable:
    """Attach the view's operation. `tenant` views are behind require_tenant (bearer token, 401, 429);
    `security` names another scheme (or [] for none) for the views that are not."""

    def decorate(view: Callable) -> Callable:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary, "description": description or (view.__doc__ or "").strip(),
            "responses": responses, "tenant": tenant, "body": body, "parameters": parameters or [],
            "tags": tags, "security": security,
        }
        return view

    return decorate


# Shapes several views answer with; the builder registers them under #/components/schemas.
SCHEMAS = {
    "Error": obj(("error",), error={"type": "string", "description": "what was wrong, in words"}),
    "QuotaExceeded": obj(("error", "quota", "limit", "used", "resets_at", "retry_after"),
                         error={"type": "string"}, quota={"type": "string"}, limit={"type": "integer"},
                         used={"type": "integer"}, resets_at={"type": "string", "format": "date-time"},
                         retry_after={"type": "integer", "description": "seconds, as in the Retry-After header"}),
    "ImportAccepted": obj(("import_id", "status", "status_url"), import_id={"type": "string"},
                          status={"type": "string"}, status_url={"type": "string", "format": "uri"}),
    "ImportSummary": obj(("import_id", "status", "counts", "row_errors"), import_id={"type": "string"},
                         source={"type": "string"}, table={"type": "string"}, status={"type": "string"},
                         error=NULLABLE_STRING, counts={"type": "object"}, row_errors={"type": "array"},
                         row_errors_total={"type": "integer"}),
    "Deal": obj(("campaign_id", "stage"), campaign_id={"type": "string"}, name=NULLABLE_STRING,
                stage={"type": "string"}, final={"type": "boolean"}, budget_cents=NULLABLE_INT),
    "Io": obj(("io_id", "status"), io_id={"type": "string"}, status={"type": "string"},
              campaign_id=NULLABLE_STRING, flight_start={"type": "string", "format": "date"},
              flight_end={"type": "string", "format": "date"}),
    "Receipt": obj(("receipt_id", "replayed"), receipt_id={"type": "integer"}, replayed={"type": "boolean"}),
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}
