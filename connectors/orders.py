"""The one shape every platform's order takes before attribution (Shopify, Wix, Zapier conversions).

It lives below both the connectors (which build it from platform payloads) and the hub (which
attributes it), so that `connectors/` needs nothing from `hub/`."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Order:
    platform: str                      # "shopify", "wix", "stripe", "zapier": part of the order's key
    order_id: str                      # the platform's id, as text
    occurred_at: datetime              # when it was placed (timezone-aware): decides the day and the window
    total_cents: int                   # what it is worth now: total minus refunds, in integer cents
    currency: str | None               # ISO 4217, e.g. "USD"; None for a lead
    codes: list[str] = field(default_factory=list)   # discount codes used (and a utm_campaign, which may name one)
    utm: dict[str, str] = field(default_factory=dict) # utm_* parameters the order carried (landing URL, note attributes, metadata)
    urls: list[str] = field(default_factory=list)    # landing and referring URLs, most telling first
    cancelled: bool = False            # a cancelled order counts for nothing
    cancel_reason: str | None = None   # the platform's own word for why (Shopify: customer, fraud, inventory, declined, other)
    test: bool = False                 # a test order (Shopify "test": true, Stripe livemode false): kept, counted only if the tenant says so
    disputed: bool = False             # the payment is disputed (a Stripe chargeback): kept, not counted while it lasts
    kind: str = "order"                # "order" or "lead" (a lead converts but has no revenue)
    version_at: datetime | None = None # the platform's own "as of" time: an older version never overwrites a newer
    payload: dict = field(default_factory=dict)      # the platform's object, kept as received
