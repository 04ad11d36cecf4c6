"""The five ways an order matched by a campaign's code is shared among the campaign's IOs that aired
before it, and how shares become whole cents and whole conversions. Pure functions, no database.

Touches are the IOs in the order they aired (earliest first; same day: by io_id).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..models import ATTRIBUTION_MODELS

DEFAULT_MODEL = "last_touch"  # what a single IO's code did before campaigns had codes: the latest IO takes it
DEFAULT_HALF_LIFE_DAYS = 7.0
DEFAULT_WINDOW_DAYS = 30
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 1, 60
# Position-based: the first and the last touch get 40% each, the touches between share the other 20%.
POSITION_ENDS = 0.4


@dataclass(frozen=True)
class Touch:
    io_id: str
    aired_on: date


@dataclass(frozen=True)
class AttributionSettings:
    """What shares a campaign's orders: the campaign's own settings, else its tenant's, else the defaults."""

    model: str
    window_days: int
    half_life_days: float

    @classmethod
    def resolve(cls, campaign, tenant, default_window_days: int) -> "AttributionSettings":
        def first(name: str, default):
            for holder in (campaign, tenant):
                value = getattr(holder, name, None) if holder is not None else None
                if value is not None:
                    return value
            return default

        return cls(first("attribution_model", DEFAULT_MODEL),
                   int(first("attribution_window_days", default_window_days)),
                   float(first("attribution_half_life_days", DEFAULT_HALF_LIFE_DAYS)))


def check_model(model: str) -> str:
    if model not in ATTRIBUTION_MODELS:
        raise ValueError(f"expected one of {'/'.join(ATTRIBUTION_MODELS)}, found {model!r}")
    return model


def check_window_days(days: int) -> int:
    if not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
        raise ValueError(f"expected a window of {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS} days, found {days}")
    return days


def check_half_life_days(days: float) -> float:
    if not 0 < days <= 365:
        raise ValueError(f"expected a half-life of more than 0 and at most 365 days, found {days:g}")
    return days


def shares(model: str, touches: list[Touch], order_day: date, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> list[float]:
    """Each touch's fraction of the order, in the order of `touches`; they add up to 1."""
    n = len(touches)
    if n == 0:
        return []
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear":
        return [1.0 / n] * n
    if model == "position_based":
        if n == 1:
            return [1.0]
        if n == 2:
            return [0.5, 0.5]
        middle = (1.0 - 2 * POSITION_ENDS) / (n - 2)
        return [POSITION_ENDS] + [middle] * (n - 2) + [POSITION_ENDS]
    if model == "time_decay":
        # A touch half_life days older than another weighs half as much; ages in whole days.
        weights = [2.0 ** (-(order_day - t.aired_on).days / half_life_days) for t in touches]
        total = sum(weights)
        return [w / total for w in weights]
    raise ValueError(f"unknown attribution model {model!r}")


def split_cents(total_cents: int, fractions: list[float]) -> list[int]:
    """`total_cents` shared by `fractions` in whole cents that add up to it: each gets its floor, and the
    cents left over go to the largest remainders (ties: the later touch)."""
    if not fractions:
        return []
    exact = [total_cents * f for f in fractions]
    # Rounded first, so 3500.0000000001 and 3499.9999999999 are both 3500 and leave no stray cent.
    floors = [int((e + 1e-6) // 1) for e in exact]
    left = total_cents - sum(floors)
    by_remainder = sorted(range(len(exact)), key=lambda i: (exact[i] - floors[i], i), reverse=True)
    for i in by_remainder[:max(left, 0)]:
        floors[i] += 1
    return floors


def whole_conversions(fractions: list[float]) -> list[int]:
    """The order's one conversion as a whole number, for tables that hold whole numbers (metrics_daily):
    it goes to the largest share (ties: the later touch)."""
    if not fractions:
        return []
    best = max(range(len(fractions)), key=lambda i: (round(fractions[i], 9), i))
    return [1 if i == best else 0 for i in range(len(fractions))]
