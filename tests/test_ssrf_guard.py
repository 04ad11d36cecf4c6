"""The REST-hook SSRF guard holds at connect time: embedded private addresses, DNS rebinding against
a real local server, and failure categories instead of raw socket errors (issue 15)."""
from __future__ import annotations

import socket
import threading

import pytest
import requests


from hub.events import emit
from hub.hooks.delivery import DeliveryFailed, deliver, dispatch_events
from hub.hooks.guarded_http import guarded_session
from hub.hooks.subscriptions import subscribe
from hub.hooks.target_guard import TargetRefused, check_target
from hub.models import HookDelivery
from tests.conftest import SECRET_KEY
from tests.helpers import observer, rows

PUBLIC = "93.184.215.14"


@pytest.mark.parametrize("host", [
    "[::127.0.0.1]",                        # IPv4-compatible loopback
    "[::a9fe:a9fe]",                        # IPv4-compatible 169.254.169.254 (metadata)
    "[64:ff9b::7f00:1]",                    # NAT64 of 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",                 # NAT64 of the metadata address
    "[64:ff9b:1::a00:1]",                   # local-use NAT64 of 10.0.0.1
    "[::ffff:169.254.169.254]",             # IPv4-mapped
    "[2002:7f00:1::]",                      # 6to4 of 127.0.0.1
    "[2002:c0a8:1::1]",                     # 6to4 of 192.168.0.1
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo whose client is 127.0.0.1 (stored inverted)
    "[2600::5efe:a00:1]",                   # ISATAP interface id carrying 10.0.0.1
    "[fe80::1%25eth0]",                     # link-local with a zone
])
def test_every_embedded_form_of_a_private_address_is_refused(host):
    with pytest.raises(TargetRefused, match="private, loopback|does not resolve|reserved"):
        check_target(f"https://{host}/hook")


def test_embedded_public_addresses_are_still_allowed():
    for host in ("[64:ff9b::5db8:d70e]", "[2002:5db8:d70e::1]", f"{PUBLIC}"):
        assert check_target(f"https://{host}/hook")


class CountingServer:
    """A real TCP server on loopback that counts the connections it accepts and answers 200."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.accepted.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    self.accepted.append(b"")

    def close(self):
        self.sock.close()


@pytest.fixture
def server():
    running = CountingServer()
    yield running
    running.close()


def rebinding_resolver(monkeypatch, name: str, answers: list[str]):
    """socket.getaddrinfo answering `name` with answers[0], then answers[1] on every later call."""
    real = socket.getaddrinfo
    calls = []

    def fake(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        address = answers[min(len(calls), len(answers) - 1)]
        calls.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 443))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return calls


def test_the_control_plain_requests_would_follow_the_rebinding(monkeypatch, server):
    # Without the guarded session, check-then-connect is fooled: the check sees the public address,
    # the connect the loopback one. This is the attack the next test must stop.
    calls = rebinding_resolver(monkeypatch, "rebind.example.test", [PUBLIC, "127.0.0.1"])
    url = f"https://rebind.example.test:{server.port}/hook"
    check_target(url)
    with pytest.raises(requests.RequestException):
        requests.post(url, data=b"{}", timeout=3)  # TLS to a plain server fails, but it was reached
    assert calls == [PUBLIC, "127.0.0.1"] and len(server.accepted) == 1


def test_dns_rebinding_is_refused_at_connect_time_and_nothing_reaches_the_server(
        monkeypatch, server, database_url, tenant):
    calls = rebinding_resolver(monkeypatch, "rebind.example.test", [PUBLIC, "127.0.0.1"])
    session = observer(database_url)
    try:
        # Stored while the name answers the public address.
        subscribe(session, tenant["id"], "etl.import_completed", f"https://rebind.example.test:{server.port}/hook",
                  allow_loopback=False)
        emit(session, tenant["id"], "etl.import_completed", {"import_id": "x"})
        (delivery_id,) = dispatch_events(session)
        session.commit()
        # A refused target is final: the delivery fails at once, and its job with it (RQ's failed registry).
        with pytest.raises(DeliveryFailed):
            deliver(session, delivery_id, SECRET_KEY, allow_loopback=False, intervals=(30,))
    finally:
        session.close()
    assert calls[0] == PUBLIC and "127.0.0.1" in calls[1:]
    assert server.accepted == [], "the signed POST reached loopback"
    (delivery,) = rows(database_url, HookDelivery)
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_error.startswith("refused: target_url: rebind.example.test resolves to 127.0.0.1")


def test_the_connection_goes_to_the_checked_address_and_keeps_the_name(monkeypatch, server):
    rebinding_resolver(monkeypatch, "hooks.example.test", ["127.0.0.1"])
    with guarded_session(allow_loopback=True) as http:
        assert http.post(f"http://hooks.example.test:{server.port}/hook", data=b"{}", timeout=3).status_code == 200
    assert f"Host: hooks.example.test:{server.port}".encode() in server.accepted[0]
    with guarded_session() as http, pytest.raises(TargetRefused):
        http.post(f"https://hooks.example.test:{server.port}/hook", data=b"{}", timeout=3)
    assert len(server.accepted) == 1


def test_tenants_see_a_category_not_the_socket_error(database_url, tenant):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    session = observer(database_url)
    try:
        subscribe(session, tenant["id"], "etl.import_completed", f"http://127.0.0.1:{closed_port}/hook", allow_loopback=True)
        emit(session, tenant["id"], "etl.import_completed", {"import_id": "x"})
        (delivery_id,) = dispatch_events(session)
        session.commit()
        with pytest.raises(DeliveryFailed):  # no retry left (intervals=())
            deliver(session, delivery_id, SECRET_KEY, allow_loopback=True, intervals=())
    finally:
        session.close()
    (delivery,) = rows(database_url, HookDelivery)
    assert delivery.last_error == "connection failed: the target refused or dropped the connection"
