"""The host-connector base: config validation, the registry, Retry-After in both forms, error bodies.

No database and no network; HTTP is answered by `responses`. The per-host behaviour is in
tests/test_connector_<host>.py.
"""
from __future__ import annotations

import re
import socket
import threading
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses

from connectors.base import ConnectorError, Page, platform_message
from connectors.buzzsprout import BuzzsproutConnector
from connectors.google_sheets import GoogleSheetsConnector
from connectors.http import ConnectorRetry, retry_after_delay
from connectors.registry import CONNECTORS, UnknownConnector, get_connector
from connectors.rss import RssConnector
from connectors import transistor
from connectors.shopify import ShopifyConnector
from connectors.simplecast import SimplecastConnector
from connectors.transistor import TransistorConnector

NOW = datetime(2024, 5, 10, 20, 0, tzinfo=timezone.utc)


def test_registry_maps_names_to_classes():
    assert CONNECTORS == {"buzzsprout": BuzzsproutConnector, "simplecast": SimplecastConnector,
                          "transistor": TransistorConnector, "shopify": ShopifyConnector, "rss": RssConnector,
                          "google_sheets": GoogleSheetsConnector}
    assert get_connector(" Simplecast ") is SimplecastConnector
    with pytest.raises(UnknownConnector) as caught:
        get_connector("libsyn")
    assert str(caught.value) == ("unknown connector 'libsyn'; known connectors: buzzsprout, google_sheets, rss, shopify, "
                                 "simplecast, transistor")


def test_every_connector_declares_a_schema_with_its_secret():
    for name, cls in CONNECTORS.items():
        assert cls.name == name and cls.title
        schema = cls.config_schema
        assert schema["type"] == "object"
        assert set(schema["required"]) <= set(schema["properties"])
        assert set(schema["secret"]) <= set(schema["required"])
        # A platform's API takes credentials; a podcast's RSS feed is public and takes none, and Google
        # Sheets reads with the hub's service account (HUB_GOOGLE_SERVICE_ACCOUNT_FILE).
        assert schema["secret"] or name == "rss" or cls is GoogleSheetsConnector


def test_config_defaults_and_integer_ids_become_text():
    connector = BuzzsproutConnector({"podcast_id": 140447, "api_token": "tok-123"})
    assert connector.config == {"podcast_id": "140447", "api_token": "tok-123", "mode": "snapshot", "lookback_days": 30}
    assert "tok-123" not in repr(connector)
    assert connector.redacted_config()["api_token"] == "[redacted]"


@pytest.mark.parametrize("config, message", [
    ({"podcast_id": "140447"}, "buzzsprout: config field 'api_token' is required"),
    ({"podcast_id": "140447", "api_token": "   "}, "buzzsprout: config field 'api_token' is required"),
    ({"podcast_id": "my-show", "api_token": "t"}, "buzzsprout: config field 'podcast_id' does not look right"),
    ({"podcast_id": "1", "api_token": "t", "mode": "hourly"},
     "buzzsprout: config field 'mode' must be one of 'snapshot', 'daily', got 'hourly'"),
    ({"podcast_id": "1", "api_token": "t", "lookback_days": "30"},
     "buzzsprout: config field 'lookback_days' must be integer, got str"),
    ({"podcast_id": "1", "api_token": "t", "lookback_days": 0},
     "buzzsprout: config field 'lookback_days' must be at least 1, got 0"),
    ({"podcast_id": "1", "api_token": True}, "buzzsprout: config field 'api_token' must be string, got bool"),
    ({"podcast_id": "1", "api_token": "t", "api_key": "t"},
     "buzzsprout: unknown config field(s) 'api_key'; expected podcast_id, api_token, mode, lookback_days"),
    ("podcast_id=1", "buzzsprout: config must be an object, got str"),
])
def test_config_errors_name_the_field(config, message):
    with pytest.raises(ConnectorError) as caught:
        BuzzsproutConnector(config)
    assert str(caught.value).startswith(message)
    assert caught.value.retriable is False


def test_transistor_config_requires_show_id():
    with pytest.raises(ConnectorError) as caught:
        TransistorConnector({"api_key": "k"})
    assert str(caught.value).startswith("transistor: config field 'show_id' is required")


def test_retry_after_delay_reads_seconds_and_http_dates():
    assert retry_after_delay("7") == 7.0
    assert retry_after_delay("2.5") == 2.5
    assert retry_after_delay("Fri, 10 May 2024 20:00:12 GMT", NOW) == 12.0
    assert retry_after_delay("Fri, 10 May 2024 19:59:00 GMT", NOW) == 0.0   # already past
    assert retry_after_delay("soon", NOW, default=10.0) == 10.0
    assert retry_after_delay(None, default=3.0) == 3.0
    assert retry_after_delay("-5", default=3.0) == 3.0
    assert retry_after_delay("86400", cap=300.0) == 300.0


def _response(status: int, body: bytes, content_type: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers["Content-Type"] = content_type
    response.reason = "Unauthorized"
    return response


@pytest.mark.parametrize("body, expected", [
    (b'{"errors": [{"title": "Unauthorized", "detail": "API key is invalid"}]}', "Unauthorized: API key is invalid"),
    (b'{"error": {"code": "invalid", "message": "date is required", "param": "date"}}', "date is required (param: date)"),
    (b'{"errors": {"detail": "Unauthorized"}}', "Unauthorized"),
    (b'{"error": "invalid_token", "error_description": "expired"}', "invalid_token: expired"),
    (b"HTTP Token: Access denied.\n", "HTTP Token: Access denied."),
    (b"", "Unauthorized"),
])
def test_platform_message_reads_the_common_error_shapes(body, expected):
    assert platform_message(_response(401, body, "application/json")) == expected


def test_connection_errors_are_retried_then_reported_as_retriable(monkeypatch):
    # `responses` raises an exception body straight out of the adapter, without the retry policy, so
    # the dropped connections come from a real socket here and urllib3's Retry retries them.
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()  # hang up without an answer

    threading.Thread(target=serve, daemon=True).start()
    base = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    monkeypatch.setattr(transistor, "API_BASE", base)
    sleeps: list[float] = []
    connector = TransistorConnector({"show_id": "54321", "api_key": "secret-key"}, sleep=sleeps.append,
                                    clock=lambda: 0.0, max_retries=2)
    try:
        with pytest.raises(ConnectorError) as caught:
            connector.test_connection()
    finally:
        server.close()
    # The cause, once: the platform's name is the one prefix, and what happened on the wire is said.
    # (The hang-up reads as either, depending on when the kernel sees the close.)
    assert re.fullmatch(rf"Transistor: GET {re.escape(base)}/shows/54321 failed after 2 retries: ConnectionError "
                        r"\((Remote end closed connection without response|\[Errno 104\] Connection reset by peer)\)",
                        str(caught.value)), str(caught.value)
    assert caught.value.retriable is True and caught.value.status is None
    assert sleeps == [1.0, 2.0]
    assert len(accepted) == 3


def test_page_holds_rows_and_cursor():
    page = Page(rows=[{"day": "2024-05-01"}], cursor={"last_day": "2024-05-01"})
    assert page.rows == [{"day": "2024-05-01"}] and page.cursor == {"last_day": "2024-05-01"}
    assert Page(rows=[]).cursor == {}


def test_window_prefers_since_then_cursor_then_lookback():
    connector = SimplecastConnector({"podcast_id": "p", "api_token": "t", "lookback_days": 7},
                                    today=lambda: date(2024, 5, 10))
    assert connector.window(None, None) == (date(2024, 5, 3), date(2024, 5, 9))
    assert connector.window(date(2024, 5, 6), None) == (date(2024, 5, 7), date(2024, 5, 9))
    assert connector.window(date(2024, 5, 6), date(2024, 4, 1)) == (date(2024, 4, 1), date(2024, 5, 9))
    assert connector.window(date(2024, 5, 9), None) is None


def test_retry_policy_survives_urllib3_rebuilding_it():
    waits: list[float] = []
    attempts: list[int] = []
    policy = ConnectorRetry(3, wait=waits.append, before_attempt=lambda: attempts.append(1), rate_limit_wait=7.0)
    again = policy.new(total=2)
    assert type(again) is ConnectorRetry and again.total == 2
    assert (again.wait, again.before_attempt, again.rate_limit_wait) == (policy.wait, policy.before_attempt, 7.0)
    assert again.allowed_methods == frozenset({"GET"}) and again.raise_on_status is False
    assert not policy.is_retry("POST", 503) and not policy.is_retry("GET", 404)
    assert not policy.is_retry("GET", 413, has_retry_after=True)     # only the listed statuses
    assert all(policy.is_retry("GET", status) for status in (408, 429, 500, 502, 503, 504))


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (no Retry-After), then 429 with an HTTP-date Retry-After, then 200."""
    answers: list = []

    def do_GET(self):
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        body = b'{"data": {"id": "54321", "type": "show"}}' if status == 200 else b'{"errors": [{"title": "busy"}]}'
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_real_connection_pool_waits_once_per_retry_and_calls_before_request(monkeypatch):
    # The same policy through urllib3's own pool (not responses): the wait happens once per retry
    # (increment() waits, sleep() does not), and before_request runs before every attempt.
    _Flaky.answers = [(503, {}), (429, {"Retry-After": "Fri, 10 May 2024 20:00:05 GMT"})]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(transistor, "API_BASE", f"http://127.0.0.1:{server.server_address[1]}/v1")
    sleeps: list[float] = []
    connector = TransistorConnector({"show_id": "54321", "api_key": "secret-key"}, sleep=sleeps.append,
                                    clock=lambda: 0.0, now=lambda: NOW)
    acquired: list[int] = []
    monkeypatch.setattr(connector.limiter, "acquire", lambda: acquired.append(1))
    try:
        connector.test_connection()
    finally:
        server.shutdown()
        server.server_close()
    assert sleeps == [1.0, 5.0]
    assert len(acquired) == 3


def test_a_host_name_that_does_not_resolve_is_named_as_the_cause(monkeypatch):
    """The first wave said only `ConnectionError`: the DNS failure behind it was lost."""
    monkeypatch.setattr(transistor, "API_BASE", "https://api.transistor.invalid/v1")  # .invalid never resolves (RFC 6761)
    connector = TransistorConnector({"show_id": "54321", "api_key": "secret-key"}, sleep=lambda _: None,
                                    clock=lambda: 0.0, max_retries=0)
    with pytest.raises(ConnectorError) as caught:
        connector.test_connection()
    message = str(caught.value)
    assert message.startswith("Transistor: GET https://api.transistor.invalid/v1/shows/54321 failed")
    assert "Failed to resolve 'api.transistor.invalid'" in message and message.count("Transistor:") == 1
