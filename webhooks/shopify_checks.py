"""What a signed Shopify webhook must also satisfy: it comes from the tenant's shop, and its topic
header agrees with its body (both headers are unsigned; issue 15)."""
from __future__ import annotations

from flask import request

from connectors.shopify import topic_mismatch
from hub.request_limits import bounded_json_loads
from hub.web import json_error


def normalise_shop_domain(value: str) -> str:
    domain = value.strip().lower().removeprefix("https://").removeprefix("http://")
    return domain.strip("/")


def shopify_body_refusal(tenant, topic: str, body: bytes):
    """None when the webhook may be kept; otherwise the answer refusing it."""
    configured = tenant.shopify_shop_domain
    if configured:
        sent = normalise_shop_domain(request.headers.get("X-Shopify-Shop-Domain", ""))
        if sent != normalise_shop_domain(configured):
            # One app secret signs for every shop that installed the app: another shop is not this tenant.
            return json_error(401, f"X-Shopify-Shop-Domain {sent[:100]!r} is not this tenant's shop")
    try:
        payload = bounded_json_loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        return json_error(400, f"body is not valid JSON: {error}")
    if mismatch := topic_mismatch(topic, payload):
        return json_error(400, f"{mismatch}; nothing was stored")
    return None
