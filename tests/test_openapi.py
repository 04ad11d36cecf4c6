"""The OpenAPI document (GET /api/v1/openapi.json) covers every API and webhook route, and the hub
keeps to it: schemathesis generates requests from the served document and runs them in-process.

On SQLite only (this module's `database_url`): the property test checks what the API answers, which
the engine does not change, and it is the slowest test per engine.
"""
from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (not_a_server_error, response_headers_conformance, response_schema_conformance,
                                 status_code_conformance)

from hub import create_app
from hub.api.openapi import undocumented
from hub.db import get_engine
from hub.migrate import upgrade

API_CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, response_headers_conformance]


@pytest.fixture
def database_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    upgrade(url)
    yield url
    get_engine(url).dispose()


def test_every_api_and_webhook_route_is_documented(app):
    # A new view under /api/ or /webhooks/ without @operation(...) (hub/apidoc.py) fails here.
    assert undocumented(app) == []


def test_a_new_route_without_an_operation_is_reported(app):
    app.add_url_rule("/api/v1/something-new", "something_new", lambda: "", methods=["POST"])
    assert undocumented(app) == ["POST /api/v1/something-new"]


def test_document_is_openapi_3_1_and_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for path in ("/api/v1/etl/upload", "/api/match/top", "/webhooks/sheets/{tenant_slug}",
                 "/webhooks/zapier/{tenant_slug}/{stream}", "/webhooks/shopify/{tenant_slug}",
                 "/webhooks/wix/{tenant_slug}", "/webhooks/stripe/{tenant_slug}"):
        assert path in paths, path
    upload = paths["/api/v1/etl/upload"]["post"]
    assert upload["security"] == [{"bearer": []}]
    assert {"202", "400", "401", "413", "429"} <= set(upload["responses"])
    too_many = document["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in too_many["headers"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # What a path parameter is comes from the route: <int:...> is an integer.
    hook = paths["/api/v1/hooks/{subscription_id}"]["parameters"][0]
    assert hook["schema"]["type"] == "integer"


def test_document_is_valid_against_the_openapi_3_1_schema(app):
    schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).validate()  # raises on an invalid document


@pytest.fixture
def hub_app(database_url):
    # Quotas high enough that a run of generated requests is not all 429s.
    return create_app({"database_url": database_url, "redis_url": None,
                       "quota_api_per_minute": 100_000, "quota_webhooks_per_minute": 100_000,
                       "quota_uploads_per_minute": 100_000})


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation; the routes are known without a database."""
    document = create_app({"database_url": "sqlite://", "redis_url": None}).test_client().get(
        "/api/v1/openapi.json").get_json()
    return [(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method != "parameters"]


# The Python API rather than schema.parametrize(): schemathesis' lazy pytest loader (from_fixture)
# sets an attribute pytest 9 no longer has, and the schema needs this test's app and database.
@pytest.mark.parametrize(("method", "path"), _operations())
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_hub_keeps_to_its_document(hub_app, tenant, method, path, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", hub_app)
    operation = schema[path][method]
    if path.startswith("/webhooks/"):
        # Unsigned (or badly signed) requests, and the zapier token of the right tenant: never a 5xx,
        # always a documented status.
        checks = [not_a_server_error, status_code_conformance]
        headers = {"Authorization": f"Bearer {tenant['secrets']['zapier']}"} if "/zapier/" in path else {}
    else:
        # A valid tenant token, so the views behind require_tenant run for real.
        checks = API_CHECKS
        headers = {"Authorization": f"Bearer {tenant['secrets']['api']}"}
    if mode == GenerationMode.NEGATIVE:
        # Requests the document calls invalid: refused with a documented status, never a 5xx.
        checks = [not_a_server_error, status_code_conformance]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    def keeps_to_it(case):
        if "tenant_slug" in (case.path_parameters or {}) and "/zapier/" in path:
            case.path_parameters["tenant_slug"] = tenant["slug"]
        case.call_and_validate(headers=headers, checks=checks)

    try:
        keeps_to_it()
    except Unsatisfiable:
        # Nothing in the operation can be made invalid (no parameters or body, or only free strings).
        assert mode == GenerationMode.NEGATIVE


# What schemathesis found (500s before the fix), pinned down as plain examples.

def test_an_id_too_large_for_the_database_is_not_found_not_a_500(client, tenant):
    auth = {"Authorization": f"Bearer {tenant['secrets']['api']}"}
    too_large = str(2**63)
    assert client.delete(f"/api/v1/hooks/{too_large}", headers=auth).status_code == 404
    assert client.post(f"/api/v1/hooks/{too_large}/resend", headers=auth).status_code == 404
    assert client.post(f"/api/v1/hooks/deliveries/{too_large}/resend", headers=auth).status_code == 404
    response = client.get(f"/api/v1/hooks/deliveries?subscription_id={too_large}", headers=auth)
    assert response.status_code == 400
    assert "subscription_id" in response.get_json()["error"]
    assert client.delete(f"/api/v1/hooks/{2**63 - 1}", headers=auth).status_code == 404  # the largest id routes


def test_a_stripe_body_that_is_not_utf8_is_refused_not_a_500(client, tenant):
    response = client.post(f"/webhooks/stripe/{tenant['slug']}", data=b"\x80\x81",
                           headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"})
    assert response.status_code == 401
    assert "UTF-8" in response.get_json()["error"]
