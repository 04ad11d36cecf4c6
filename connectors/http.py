"""Small wire-format helpers the platform connectors share: exact money, timestamps, and the one
retry policy (`ConnectorRetry`, urllib3's Retry with our waits).

Nothing here talks to the network; the connectors own their sessions and mount the retry policy on
them (connectors.base.Connector).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Callable

from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

# Exponential backoff for transient failures (5xx, connection errors): 1, 2, 4, 8, 16 s ...
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0


def to_decimal(value, what: str = "amount") -> Decimal:
    """A platform's money value as an exact Decimal. Strings ("19.99") are the documented form;
    ints are accepted; floats are refused because they are already inexact."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{what}: expected a decimal string, got {value!r}")
    if isinstance(value, float):
        raise ValueError(f"{what}: refusing a float ({value!r}); money must arrive as a decimal string")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what}: not a decimal number: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"{what}: not a finite number: {value!r}")
    return amount


def to_cents(value, what: str = "amount") -> int:
    """Decimal string -> integer cents, exactly ("19.99" -> 1999, "0.10" -> 10, "403" -> 40300).
    A value with more than two decimals (a 3-decimal currency such as KWD) is rounded half-up to
    the cent, which is the unit the Order model counts in."""
    amount = to_decimal(value, what)
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_datetime(value, what: str = "timestamp") -> datetime:
    """ISO 8601 text with an offset or "Z" -> timezone-aware datetime. A naive value is refused:
    guessing its zone would move orders between days."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{what}: not an ISO 8601 timestamp: {value!r}") from None
    else:
        raise ValueError(f"{what}: missing or not text: {value!r}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{what}: timestamp has no UTC offset: {value!r}")
    return parsed


def backoff_seconds(retry_number: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Delay before retry number `retry_number` (0-based): base * 2**n, capped: 1, 2, 4, 8, 16 ..."""
    return min(cap, base * (2 ** retry_number))


def retry_after_delay(header_value: str | None, now: datetime | None = None, default: float | None = 2.0,
                      cap: float = 300.0) -> float | None:
    """A Retry-After header in either form RFC 9110 allows, as seconds to wait.

    delta-seconds ("10", "2.5") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT", measured from `now`,
    an aware datetime; the current UTC time when omitted). A date already past gives 0; an absent,
    negative or unreadable value gives `default`; anything longer than `cap` is cut to `cap`."""
    if header_value is None or not str(header_value).strip():
        return default
    text = str(header_value).strip()
    try:
        seconds = float(text)
        if seconds < 0:  # not a valid delta-seconds
            return default
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return default
        if when is None:
            return default
        if when.tzinfo is None:  # "-0000" / obsolete forms: HTTP-dates are always GMT
            when = when.replace(tzinfo=timezone.utc)
        now = now or datetime.now(timezone.utc)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return default
    return min(max(seconds, 0.0), cap)


# ---------------------------------------------------------------------------------------------
# The retry policy every pull connector mounts on its session

# Transient statuses: request timeout, rate limited, and the gateway/server failures that heal.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_AFTER_CAP_SECONDS = 300.0


class ConnectorRetry(Retry):
    """urllib3's Retry with the connectors' waits: GET only; connection errors and RETRY_STATUSES are
    retried up to `total` times; before retry n (0-based) it waits what Retry-After says (delta-seconds
    or HTTP-date, via `retry_after_delay`), else `rate_limit_wait` for a 429, else 1, 2, 4, 8, 16 s
    (`backoff_seconds`). When the retries are spent the last response is returned (raise_on_status
    False), so the caller can still read the platform's message.

    Waiting goes through the injected `wait` function, and `before_attempt` runs after each wait, just
    before the request is sent again (a client-side rate limiter hooks in there).

    The wait happens in `increment()`, not in `sleep()`: urllib3's connection pool calls increment()
    and then sleep() before each retry, but test transports such as `responses` only call is_retry()
    and increment(); waiting in increment() (and making sleep() a no-op) gives production and tests
    one and the same path. `Retry.new()` rebuilds the object at every increment, so the extra settings
    are carried across in `new()`.
    """

    # Only the statuses in the forcelist are retried: not a 413 because it carries Retry-After.
    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(self, total: int = 5, *, wait: Callable[[float], None] | None = None,
                 before_attempt: Callable[[], None] | None = None, now: Callable[[], datetime] | None = None,
                 rate_limit_wait: float = 2.0, **kwargs):
        kwargs.setdefault("allowed_methods", frozenset({"GET"}))
        kwargs.setdefault("status_forcelist", RETRY_STATUSES)
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("backoff_factor", BACKOFF_BASE_SECONDS)
        kwargs.setdefault("backoff_max", BACKOFF_CAP_SECONDS)
        super().__init__(total=total, **kwargs)
        self.wait = wait
        self.before_attempt = before_attempt
        self.now = now
        self.rate_limit_wait = rate_limit_wait

    def new(self, **kw) -> "ConnectorRetry":
        kw.setdefault("wait", self.wait)
        kw.setdefault("before_attempt", self.before_attempt)
        kw.setdefault("now", self.now)
        kw.setdefault("rate_limit_wait", self.rate_limit_wait)
        return super().new(**kw)

    @property
    def retries_done(self) -> int:
        return len(self.history)

    def get_backoff_time(self) -> float:
        # urllib3 waits 0 before the first retry; the connectors wait 1, 2, 4, 8, 16 s.
        if not self.history:
            return 0.0
        return backoff_seconds(len(self.history) - 1, base=self.backoff_factor, cap=self.backoff_max)

    def get_retry_after(self, response) -> float | None:
        """Retry-After in seconds, read by the one parser (retry_after_delay); None when absent or unreadable."""
        header = response.headers.get("Retry-After") if response is not None else None
        if header is None or not str(header).strip():
            return None
        now = self.now() if self.now else None
        return retry_after_delay(header, now, default=None, cap=RETRY_AFTER_CAP_SECONDS)

    def delay_for(self, response) -> float:
        """How long to wait before the retry this Retry was made for."""
        retry_after = self.get_retry_after(response)
        if retry_after is not None:
            return retry_after
        if response is not None and response.status == 429:
            return self.rate_limit_wait
        return self.get_backoff_time()

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        new_retry = super().increment(method, url, response=response, error=error, _pool=_pool,
                                      _stacktrace=_stacktrace)  # raises MaxRetryError once spent
        delay = new_retry.delay_for(response)
        cause = f"HTTP {response.status}" if response is not None and response.status else type(error).__name__
        log.info("%s on %s %s: retry %d in %.1fs", cause, method, (url or "").split("?", 1)[0],
                 len(new_retry.history), delay)
        if delay > 0:
            (self.wait or time.sleep)(delay)
        if self.before_attempt is not None:
            self.before_attempt()
        return new_retry

    def sleep(self, response=None) -> None:
        """No-op: the wait already happened in increment() (see the class docstring)."""
