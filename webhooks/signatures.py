"""Signature checks shared by the webhooks, all in constant time."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

MAX_CLOCK_SKEW_SECONDS = 300


class SignatureError(ValueError):
    """The request is not provably from the tenant; the message says which check failed."""


def check_timestamped_hmac(secret: str, timestamp: str | None, signature: str | None, body: bytes,
                           now: float | None = None) -> None:
    """HMAC-SHA256 over `timestamp + "." + body`, sent as `sha256=<hex>`; stale timestamps are refused."""
    if not timestamp:
        raise SignatureError("missing X-Hub-Timestamp header (expected unix seconds)")
    if not signature:
        raise SignatureError("missing X-Hub-Signature-256 header (expected sha256=<hex>)")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError(f"X-Hub-Timestamp: expected unix seconds, found {timestamp[:40]!r}") from None
    skew = (time.time() if now is None else now) - sent_at
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
        raise SignatureError(
            f"X-Hub-Timestamp is {abs(int(skew))} seconds {'old' if skew > 0 else 'in the future'}; "
            f"expected within {MAX_CLOCK_SKEW_SECONDS} seconds (is a clock wrong, or is this a replay?)"
        )
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise SignatureError("X-Hub-Signature-256 does not match the body (wrong secret, or the body was changed)")


def verify_shopify_hmac(secret: str, raw_body: bytes, header_value: str | None) -> bool:
    """True when X-Shopify-Hmac-Sha256 is base64(HMAC-SHA256(app secret, raw body)), as Shopify signs
    webhook deliveries (https://shopify.dev/docs/apps/build/webhooks/subscribe/https).

    Use the body bytes exactly as received (before any JSON parsing). Compared in constant time."""
    if not header_value or not secret:
        return False
    if isinstance(raw_body, str):
        raw_body = raw_body.encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    try:
        given = header_value.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)


STRIPE_TOLERANCE_SECONDS = 300


def verify_stripe_signature(secret: str, raw_body: bytes, header_value: str | None) -> None:
    """Check `Stripe-Signature` (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`) with the official
    library (https://docs.stripe.com/webhooks#verify-events): the endpoint's signing secret, the raw
    bytes, a timestamp at most 300 seconds old. Raises SignatureError saying which check failed."""
    import stripe  # the library is only needed here, on the push side

    if not header_value:
        raise SignatureError("Stripe-Signature header is missing (expected t=<unix seconds>,v1=<hex signature>)")
    try:
        stripe.WebhookSignature.verify_header(raw_body, header_value, secret, tolerance=STRIPE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        raise SignatureError(f"Stripe-Signature: {error.user_message or error}") from None
    except UnicodeDecodeError:  # the library reads the body as text first; Stripe only ever sends UTF-8
        raise SignatureError("Stripe-Signature: the body is not UTF-8, so it is not a signed Stripe event") from None
