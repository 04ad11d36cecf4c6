"""An HTTP session for calling URLs that outsiders chose (REST hooks now, RSS feeds later).

Each new connection resolves its host once, checks every address with the target guard, and connects
to the checked address; urllib3 keeps the name for the Host header, TLS SNI and the certificate
check, since only the socket's destination changes. Proxies from the environment are ignored (a proxy
would resolve the name again), redirects are the caller's business (requests' `allow_redirects=False`).
Failures are reported as a category a tenant may see, never the raw socket error (a port-scan oracle).
"""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .target_guard import TargetRefused, allowed_addresses


def _pinned(connection_cls, scheme: str, allow_loopback: bool):
    class PinnedConnection(connection_cls):
        def _new_conn(self):
            addresses = allowed_addresses(self.host, self.port, scheme, allow_loopback)
            # urllib3 connects to _dns_host and keeps `host` for Host, SNI and the certificate.
            self._dns_host = str(addresses[0])
            return super()._new_conn()

    return PinnedConnection


class GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_loopback: bool = False, **kwargs):
        self.allow_loopback = allow_loopback
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,),
                         {"ConnectionCls": _pinned(HTTPConnection, "http", self.allow_loopback)})
        https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,),
                          {"ConnectionCls": _pinned(HTTPSConnection, "https", self.allow_loopback)})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}


def guarded_session(allow_loopback: bool = False) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no HTTP(S)_PROXY: the checked address must be the one connected to
    adapter = GuardedAdapter(allow_loopback)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def failure_category(error: Exception) -> str:
    """What a tenant is told about a call that got no HTTP answer."""
    if isinstance(error, TargetRefused):
        return f"refused: {error}"
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS error: the target's certificate or handshake was not accepted"
    if isinstance(error, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout, requests.exceptions.Timeout)):
        return "timeout: the target did not answer in time"
    if isinstance(error, requests.exceptions.ConnectionError):
        return "connection failed: the target refused or dropped the connection"
    return "request failed"
