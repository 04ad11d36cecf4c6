"""The pull-connector contract (in the spirit of Redash query runners and Singer taps) and the HTTP
behaviour every platform client shares.

A connector is built from a config dict, checked against its `config_schema`; `test_connection()`
raises ConnectorError with the platform's own words when the credentials or ids are wrong; `sync()`
yields Pages of rows for one hub table (metrics_daily for the podcast hosts, conversions for a shop),
each with the cursor to store once that page is applied, so a sync that stops resumes after its last
whole page.

HTTP: GET with the connector's auth headers through the connector's `requests.Session`, on which one
retry policy is mounted (connectors.http.ConnectorRetry, urllib3's Retry, via HTTPAdapter): connection
errors and 408, 429, 500, 502, 503, 504 are retried up to `max_retries` times, waiting what Retry-After
says (seconds or HTTP-date), else `rate_limit_wait` for a 429, else 1, 2, 4, 8, 16 s. When the retries
are spent the error is `retriable=True`; any other 4xx (401, 403, 404, 422 ...) is fatal at once
(`retriable=False`). Either keeps the platform's message, never a credential.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable, ClassVar, Iterator

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError

from connectors.http import RETRY_STATUSES, ConnectorRetry

DEFAULT_MAX_RETRIES = 5
REQUEST_TIMEOUT_SECONDS = 30
USER_AGENT = "podcast-integration-hub/1.0 (+metrics_daily pull connectors)"
REDACTED = "[redacted]"


class ConnectorError(RuntimeError):
    """A connector that cannot go on. `status` is the HTTP status when there was one; `retriable`
    says whether the same call later could succeed (429/5xx/network after the retries ran out)."""

    def __init__(self, message: str, status: int | None = None, retriable: bool = False):
        super().__init__(message)
        self.status = status
        self.retriable = retriable


@dataclass
class Page:
    rows: list[dict]                               # rows for `table` (metrics_daily: source = the connector's name)
    cursor: dict = field(default_factory=dict)     # store this after the rows are applied
    table: str = "metrics_daily"                   # the hub table the rows are records of


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------------------------
# Config validation: the small JSON-schema subset the connectors use.

_TYPES = {"string": str, "integer": int, "boolean": bool, "number": (int, float)}


def validate_config(schema: dict, config, connector: str) -> dict:
    """A checked copy of `config` with defaults filled in. Knows: properties (type, enum, minimum,
    maximum, default), required, additionalProperties false. An integer given for a string field is
    kept as its decimal text (ids are text: 140447 -> "140447")."""
    if not isinstance(config, dict):
        raise ConnectorError(f"{connector}: config must be an object, got {type(config).__name__}")
    properties: dict = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(config) - set(properties))
        if unknown:
            raise ConnectorError(f"{connector}: unknown config field(s) {', '.join(map(repr, unknown))}; "
                                 f"expected {', '.join(properties)}")
    checked: dict = {}
    for name, spec in properties.items():
        value = config.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in schema.get("required", ()):
                raise ConnectorError(f"{connector}: config field {name!r} is required ({spec.get('description', spec.get('type'))})")
            if "default" in spec:
                checked[name] = spec["default"]
            continue
        kind = spec.get("type", "string")
        if kind == "string" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if kind == "string" and isinstance(value, str):
            value = value.strip()
        expected = _TYPES[kind]
        if isinstance(value, bool) and kind != "boolean" or not isinstance(value, expected):
            raise ConnectorError(f"{connector}: config field {name!r} must be {kind}, got {type(value).__name__}")
        if "enum" in spec and value not in spec["enum"]:
            raise ConnectorError(f"{connector}: config field {name!r} must be one of "
                                 f"{', '.join(map(repr, spec['enum']))}, got {value!r}")
        if "minimum" in spec and value < spec["minimum"]:
            raise ConnectorError(f"{connector}: config field {name!r} must be at least {spec['minimum']}, got {value!r}")
        if "maximum" in spec and value > spec["maximum"]:
            raise ConnectorError(f"{connector}: config field {name!r} must be at most {spec['maximum']}, got {value!r}")
        if "pattern" in spec:
            if not re.fullmatch(spec["pattern"], value):
                raise ConnectorError(f"{connector}: config field {name!r} does not look right "
                                     f"({spec.get('description', spec['pattern'])})")
        checked[name] = value
    return checked


# ---------------------------------------------------------------------------------------------
# Error bodies


def platform_message(response: requests.Response) -> str:
    """The platform's own explanation from an error response, whichever common shape it has:
    {"errors": [{"title", "detail"}]} (JSON:API), {"error": {"message"}}, {"error": "..."},
    {"message": "..."}, {"errors": "..."} and {"errors": {"field": ["message"]}} (Shopify), or plain text."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:300] if text else (response.reason or "")
    return _message_from(body) or (response.reason or "")


def _message_from(body, field_keyed: bool = False) -> str:
    if isinstance(body, str):
        return body.strip()[:300]
    if isinstance(body, list):
        return "; ".join(filter(None, (_message_from(item) for item in body)))[:300]
    if not isinstance(body, dict):
        return ""
    nested = [(key, body[key]) for key in ("errors", "error") if isinstance(body.get(key), (list, dict))]
    message = "; ".join(filter(None, (_message_from(value, field_keyed=key == "errors") for key, value in nested)))
    if message:
        return message[:300]
    parts = [str(body[key]).strip() for key in ("error", "errors", "title", "message", "detail", "error_description")
             if isinstance(body.get(key), (str, int)) and not isinstance(body.get(key), bool) and str(body[key]).strip()]
    if parts:
        message = ": ".join(dict.fromkeys(parts))
        if body.get("param"):
            message += f" (param: {body['param']})"
        return message[:300]
    if field_keyed:
        # {"errors": {"updated_at_min": ["is invalid"], "base": ["..."]}}: messages per field ("base": the whole).
        fields = []
        for key, value in body.items():
            texts = [str(v).strip() for v in (value if isinstance(value, list) else [value])
                     if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip()]
            if texts:
                fields.append("; ".join(texts) if key == "base" else f"{key}: {'; '.join(texts)}")
        return "; ".join(fields)[:300]
    return ""


# ---------------------------------------------------------------------------------------------


class Connector:
    """Base of the pull connectors. Subclasses set name/title/config_schema, `auth_headers()`, and
    implement `test_connection()` and `sync()`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    config_schema: ClassVar[dict] = {"type": "object", "properties": {}, "required": [], "secret": []}
    # Days the platform needs before a day's numbers are final: the last complete day is today - this.
    settle_days: ClassVar[int] = 1
    # Wait after a 429 that carries no Retry-After.
    rate_limit_wait: ClassVar[float] = 2.0
    # Config fields holding a URL the tenant chose (an RSS feed's), not the platform's own API: the hub
    # checks them when stored and hands such a connector a session that refuses private addresses.
    outsider_url_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: dict, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, *,
                 now: Callable[[], datetime] = utc_now, today: Callable[[], date] | None = None,
                 clock: Callable[[], float] = time.monotonic, max_retries: int = DEFAULT_MAX_RETRIES):
        self.config = validate_config(self.config_schema, config, self.name)
        self.session = session or requests.Session()
        self.sleep = sleep
        self.now = now
        self.today = today or (lambda: self.now().astimezone(timezone.utc).date())
        self.clock = clock
        self.max_retries = max_retries
        # The one retry policy, mounted on the session this connector was given (so give each
        # connector a session of its own). An adapter of its own kind that the session was handed
        # with (the hub's address guard for tenant-chosen URLs) is kept and given the policy.
        adapter = HTTPAdapter(max_retries=self.retry_policy())
        for prefix in ("https://", "http://"):
            handed = self.session.adapters.get(prefix)
            if handed is not None and type(handed) is not HTTPAdapter:
                handed.max_retries = self.retry_policy()
            else:
                self.session.mount(prefix, adapter)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.redacted_config()}>"

    def redacted_config(self) -> dict:
        secret = set(self.config_schema.get("secret", ()))
        return {key: (REDACTED if key in secret else value) for key, value in self.config.items()}

    # -- the contract -----------------------------------------------------------------------------

    def test_connection(self) -> None:
        raise NotImplementedError

    def sync(self, cursor: dict | None, since: date | None = None) -> Iterator[Page]:
        raise NotImplementedError

    # -- helpers for subclasses -------------------------------------------------------------------

    def auth_headers(self) -> dict:
        return {}

    def before_request(self) -> None:
        """Called before every HTTP attempt, retries included (Transistor's client-side rate limiter
        hooks in here): by `get()` before the first, by the retry policy after each wait."""

    def after_response(self, response: requests.Response) -> None:
        """Called with every response `get()` receives (after retries), before its status is judged
        (Shopify's call-limit pacing hooks in here)."""

    def retry_policy(self) -> ConnectorRetry:
        return ConnectorRetry(self.max_retries, wait=lambda seconds: self.sleep(seconds),
                              before_attempt=lambda: self.before_request(), now=lambda: self.now(),
                              rate_limit_wait=self.rate_limit_wait)

    def row(self, day: date, episode_id, downloads: int, podcast_id: str) -> dict:
        return {"day": day.isoformat(), "episode_id": str(episode_id), "podcast_id": str(podcast_id),
                "source": self.name, "downloads": downloads}

    def last_complete_day(self) -> date:
        return self.today() - timedelta(days=self.settle_days)

    def window(self, last_day: date | None, since: date | None) -> tuple[date, date] | None:
        """Days to fetch: from `since` (an explicit backfill wins), else the day after the cursor's
        last complete day, else `lookback_days` back; up to the last complete day. None: up to date."""
        end = self.last_complete_day()
        if since is not None:
            start = since
        elif last_day is not None:
            start = last_day + timedelta(days=1)
        else:
            start = end - timedelta(days=int(self.config.get("lookback_days", 30)) - 1)
        return (start, end) if start <= end else None

    def redact(self, text: str) -> str:
        for key in self.config_schema.get("secret", ()):
            secret = self.config.get(key)
            if secret:
                text = text.replace(str(secret), REDACTED)
        return text

    def fail(self, message: str, status: int | None = None, retriable: bool = False) -> ConnectorError:
        return ConnectorError(self.redact(f"{self.title}: {message}"), status=status, retriable=retriable)

    def get(self, url: str, params: dict | None = None, headers: dict | None = None) -> requests.Response:
        """GET, retried by the session's retry policy. Returns 2xx and 304 responses; raises
        ConnectorError otherwise."""
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.auth_headers(), **(headers or {})}
        shown = url.split("?", 1)[0]
        self.before_request()
        try:
            response = self.session.get(url, params=params, headers=all_headers, timeout=REQUEST_TIMEOUT_SECONDS)
        except (requests.ConnectionError, requests.Timeout) as exc:
            # Raised through MaxRetryError: the retry policy spent its retries on it.
            spent = bool(exc.args) and isinstance(exc.args[0], MaxRetryError)
            after = f" after {self.max_retries} retries" if spent else ""
            raise self.fail(f"GET {shown} failed{after}: {connection_failure(exc)}", retriable=True) from None
        self.after_response(response)
        status = response.status_code
        if status < 300 or status == 304:
            return response
        message = platform_message(response)
        if status in RETRY_STATUSES:
            # The policy retries these statuses until its retries are spent, then hands back the last answer.
            raise self.fail(f"GET {shown} failed after {self.max_retries} retries: HTTP {status}: {message}",
                            status=status, retriable=True)
        # 401 (bad token), 403 (no access), 404 (no such podcast/show/shop), 422 (bad parameter) ...:
        # the same call will fail again. Another 5xx (501, 505 ...) is not retried now but may heal.
        raise self.fail(f"GET {shown} failed: HTTP {status}: {message}", status=status, retriable=status >= 500)

    def json(self, response: requests.Response, what: str):
        try:
            return response.json()
        except ValueError:
            raise self.fail(f"{what}: expected JSON, got {response.text[:200]!r}", status=response.status_code) from None


# ---------------------------------------------------------------------------------------------
# Value checks shared by the host parsers


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>: ")


def connection_failure(exc: Exception) -> str:
    """What failed on the wire, once: the exception's kind and the deepest cause urllib3 kept (a host name
    that does not resolve, a refused connection, a timeout, a TLS failure, a hang-up), not the kind alone."""
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    while cause is not None and isinstance(cause, Exception) and cause.args and isinstance(cause.args[0], Exception):
        cause = cause.args[0]  # ProtocolError('Connection aborted.', RemoteDisconnected(...)) and the like
    text = _OBJECT_REPR.sub("", str(cause if cause is not None else exc)).strip()
    if isinstance(cause, Exception) and len(cause.args) > 1 and isinstance(cause.args[-1], Exception):
        text = _OBJECT_REPR.sub("", str(cause.args[-1])).strip()
    return f"{exc.__class__.__name__} ({text[:300]})" if text else exc.__class__.__name__


def parse_day(value, what: str) -> date:
    """'YYYY-MM-DD', or an ISO timestamp whose date part is taken."""
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise ValueError(f"{what}: expected a YYYY-MM-DD date, got {value!r}")


def count(value, what: str) -> int:
    """A download count: a whole number >= 0 (JSON integer; bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what}: expected a whole number of downloads >= 0, got {value!r}")
    return value


def days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)
