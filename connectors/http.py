"""Small wire-format helpers the platform connectors share: exact money, timestamps, retry delays.

Nothing here talks to the network; the connectors own their sessions and decide when to retry.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

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


def retry_after_seconds(header_value: str | None, default: float = 2.0) -> float:
    """A Retry-After header in seconds (Shopify sends e.g. "2.0"); the default when absent or odd.
    (The HTTP-date form of Retry-After is not used by the platforms here and falls back to the default.)"""
    if header_value is None:
        return default
    try:
        seconds = float(str(header_value).strip())
    except ValueError:
        return default
    if seconds != seconds or seconds < 0:  # NaN or negative
        return default
    return min(seconds, BACKOFF_CAP_SECONDS)


def backoff_seconds(retry_number: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Delay before retry number `retry_number` (0-based): base * 2**n, capped: 1, 2, 4, 8, 16 ..."""
    return min(cap, base * (2 ** retry_number))


def retry_after_delay(header_value: str | None, now: datetime | None = None, default: float = 2.0,
                      cap: float = 300.0) -> float:
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
