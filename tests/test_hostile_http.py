"""Hostile requests against a real gunicorn process: bounded bodies (chunked or not), JSON nesting,
and webhook answers that do not tell which tenants exist (issue 15)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


from hub.migrate import upgrade
from hub.models import EtlImport, WebhookReceipt
from hub.request_limits import JSON_MAX_DEPTH, JSONTooDeep, check_json_depth
from hub.tenants import set_secret, tenant_by_slug
from tests.conftest import SECRET_KEY, make_tenant
from tests.helpers import observer, rows
from tests.live_server import gunicorn, memory_kib, stream_chunked, worker_pid

MB = 1024 * 1024
RSS_BOUND_KIB = 30 * 1024  # the most one hostile request may grow the worker (issue 15 saw +335..391 MB)
WEBHOOK_LIMIT = 5 * MB
UPLOAD_LIMIT = 8 * MB
SHOPIFY_SECRET = "shpss_hostile_test"


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'hub.sqlite3'}"
    upgrade(url)
    acme = make_tenant(url, "acme")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wix_public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    session = observer(url)
    set_secret(session, tenant_by_slug(session, "acme"), "shopify", SHOPIFY_SECRET, SECRET_KEY)
    set_secret(session, tenant_by_slug(session, "acme"), "wix", wix_public, SECRET_KEY)
    session.commit()
    session.close()
    return {"url": url, "tenant": acme}


@pytest.fixture(scope="module")
def served(database):
    """Production's default limits: 5 MB webhooks, 256 MB uploads (so the app-wide cap is 256 MB)."""
    with gunicorn(database["url"]) as (base, pid):
        yield dict(database, base=base, pid=pid)


@pytest.fixture
def served_small_uploads(database):
    with gunicorn(database["url"], HUB_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT)) as (base, pid):
        yield dict(database, base=base, pid=pid)


def nothing_stored(url: str) -> None:
    assert rows(url, EtlImport) == [] and rows(url, WebhookReceipt) == []


def attack(served, path: str, headers: dict | None = None, total: int = 200 * MB, prefix: bytes = b""):
    worker = worker_pid(served["pid"])
    # Warm the worker up (imports, connection pools) so only the attack's own cost is measured.
    requests.post(served["base"] + path, data=b"[", headers=headers, timeout=10)  # refused: not JSON
    before = memory_kib(worker)
    status, body, sent = stream_chunked(served["base"], path, total, headers, prefix=prefix)
    after = memory_kib(worker)
    grown = after["VmHWM"] - before["VmHWM"]
    print(f"\n{path}: sent {sent / MB:.1f} MB chunked before the answer {status}; worker VmHWM "
          f"{before['VmHWM'] / 1024:.1f} -> {after['VmHWM'] / 1024:.1f} MiB (+{grown / 1024:.1f}), "
          f"VmRSS {before['VmRSS'] / 1024:.1f} -> {after['VmRSS'] / 1024:.1f} MiB")
    assert worker_pid(served["pid"]) == worker, "the worker died"
    assert grown < RSS_BOUND_KIB, f"worker peak RSS grew by {grown} KiB"
    assert sent < total, "the server read the whole body instead of answering at its limit"
    return status, body


def test_200_mb_chunked_to_an_unknown_tenant_costs_the_worker_under_30_mb(served):
    status, body = attack(served, "/webhooks/sheets/no-such-tenant")
    assert status == 413, body
    assert f"limit of {WEBHOOK_LIMIT} bytes" in json.loads(body)["error"]
    nothing_stored(served["url"])


def test_chunked_bodies_to_every_webhook_stop_at_the_webhook_limit(served):
    token = served["tenant"]["secrets"]["zapier"]
    for path, headers in [("/webhooks/shopify/acme", {}), ("/webhooks/wix/acme", {}),
                          ("/webhooks/zapier/acme/metrics_daily", {"Authorization": f"Bearer {token}"})]:
        status, body = attack(served, path, headers, total=60 * MB)
        assert status == 413, (path, body)
    nothing_stored(served["url"])


def test_upload_checks_the_token_before_reading_the_body(served):
    status, body = attack(served, "/api/v1/etl/upload", {"Authorization": "Bearer wrong"})
    assert status == 401 and b"invalid api token" in body
    nothing_stored(served["url"])


def test_an_authenticated_upload_stops_at_the_upload_limit(served_small_uploads):
    served = served_small_uploads
    token = served["tenant"]["secrets"]["api"]
    # A well-formed form whose file part never ends.
    form = (b'--xx\r\nContent-Disposition: form-data; name="table"\r\n\r\nmetrics_daily\r\n'
            b'--xx\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\nday,episode_id,source,downloads\r\n")
    status, body = attack(served, "/api/v1/etl/upload", {"Authorization": f"Bearer {token}",
                                                        "Content-Type": "multipart/form-data; boundary=xx"},
                          prefix=form)
    assert status == 413 and f"limit of {UPLOAD_LIMIT} bytes".encode() in body, body
    nothing_stored(served["url"])


def test_the_json_api_reads_at_most_1_mib(served):
    token = served["tenant"]["secrets"]["api"]
    status, body = attack(served, "/api/v1/hooks", {"Authorization": f"Bearer {token}"}, total=50 * MB)
    assert status == 413 and b"limit of 1048576 bytes" in body


def test_gunicorn_refuses_too_many_headers(served):
    headers = {f"X-Filler-{i}": "x" for i in range(100)}
    assert requests.get(served["base"] + "/healthz", headers=headers, timeout=10).status_code in (400, 431)
    assert requests.get(served["base"] + "/healthz", headers={"X-Big": "x" * 9000}, timeout=10).status_code in (400, 431)
    assert requests.get(served["base"] + "/healthz?" + "q" * 5000, timeout=10).status_code in (400, 414)


# --- JSON nesting ----------------------------------------------------------------------------

def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_depth_prescan_counts_brackets_outside_strings_only():
    check_json_depth(deep(JSON_MAX_DEPTH))
    check_json_depth(json.dumps({"note": "[" * 500, "escaped": '\\"[[[[' * 100}).encode())
    with pytest.raises(JSONTooDeep, match=f"limit of {JSON_MAX_DEPTH} levels"):
        check_json_depth(deep(JSON_MAX_DEPTH + 1))
    with pytest.raises(JSONTooDeep):
        check_json_depth(b'{"a": ' * 40 + b"1" + b"}" * 40)


def test_depth_prescan_without_escapes_skips_strings_and_counts_after_an_unclosed_quote():
    check_json_depth(json.dumps({"note": "[" * 500, "rows": [["{" * 40, "]"]] * 3}).encode())
    # A quote that closes no string opens none either: the brackets after it still nest.
    with pytest.raises(JSONTooDeep):
        check_json_depth(b'["a", "b", "' + deep(JSON_MAX_DEPTH + 1))
    with pytest.raises(JSONTooDeep):
        check_json_depth(b'{"x": "[[["}' + deep(JSON_MAX_DEPTH + 1))


def test_100000_nested_arrays_answer_400_naming_the_limit_on_every_json_endpoint(served):
    base, secrets = served["base"], served["tenant"]["secrets"]
    body = deep(100_000)
    zapier = requests.post(f"{base}/webhooks/zapier/acme/metrics_daily", data=body, timeout=30,
                           headers={"Authorization": f"Bearer {secrets['zapier']}", "Content-Type": "application/json"})
    assert zapier.status_code == 400 and f"limit of {JSON_MAX_DEPTH} levels" in zapier.json()["error"]

    timestamp = str(int(time.time()))
    signature = "sha256=" + hmac.new(secrets["sheets"].encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    sheets = requests.post(f"{base}/webhooks/sheets/acme", data=body, timeout=30, headers={
        "Content-Type": "application/json", "X-Hub-Timestamp": timestamp, "X-Hub-Signature-256": signature})
    assert sheets.status_code == 400 and f"limit of {JSON_MAX_DEPTH} levels" in sheets.json()["error"]

    api = {"Authorization": f"Bearer {secrets['api']}", "Content-Type": "application/json"}
    for method, path in [("post", "/api/v1/hooks"), ("post", "/api/v1/io"), ("patch", "/api/v1/deals/c-1/stage")]:
        answer = requests.request(method, base + path, data=body, headers=api, timeout=30)
        assert answer.status_code == 400, (path, answer.text)
        assert f"limit of {JSON_MAX_DEPTH} levels" in answer.json()["error"], path
    nothing_stored(served["url"])


# --- tenant slugs cannot be enumerated ---------------------------------------------------------

def test_unknown_tenant_and_bad_signature_answer_alike_on_every_webhook(served):
    base = served["base"]
    body = b'{"id": 1}'
    timestamp = str(int(time.time()))
    wrong_hmac = base64.b64encode(hmac.new(b"wrong", body, hashlib.sha256).digest()).decode()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    cases = {
        "sheets": ("/webhooks/sheets/{}", body, {"X-Hub-Timestamp": timestamp, "X-Hub-Signature-256": "sha256=" + "0" * 64}),
        "shopify": ("/webhooks/shopify/{}", body, {"X-Shopify-Hmac-Sha256": wrong_hmac, "X-Shopify-Topic": "orders/create",
                                                   "X-Shopify-Event-Id": "e-1"}),
        "wix": ("/webhooks/wix/{}", jwt.encode({"data": "{}"}, other_key, algorithm="RS256").encode(), {}),
        "zapier": ("/webhooks/zapier/{}/metrics_daily", body, {"Authorization": "Bearer not-the-token"}),
    }
    for name, (path, payload, headers) in cases.items():
        answers = []
        for slug in ("acme", "no-such-tenant"):
            response = requests.post(base + path.format(slug), data=payload, timeout=10,
                                     headers={"Content-Type": "application/json", **headers})
            answers.append((response.status_code, response.content))
        assert answers[0] == answers[1], (name, answers)
        assert answers[0][0] == 401, (name, answers)
    # The sheets status poll is signed too, and answers alike.
    polls = [requests.get(f"{base}/webhooks/sheets/{slug}/imports/x", timeout=10, headers={
        "X-Hub-Timestamp": timestamp, "X-Hub-Signature-256": "sha256=" + "0" * 64}) for slug in ("acme", "nobody")]
    assert (polls[0].status_code, polls[0].content) == (polls[1].status_code, polls[1].content)
    nothing_stored(served["url"])
