"""Per-tenant quotas: rows imported per day (from every surface), and requests per minute per surface.

The counting is the `limits` library's fixed window, the engine under Flask-Limiter (which throttles
the admin sign-in), on Redis when HUB_REDIS_URL is set, so every web process and worker counts
together, and in this process's memory otherwise. Each quota is one counter per tenant.

Callers charge a quota only after they have identified the tenant: a request that fails
authentication neither counts against a tenant's quota nor learns anything about it. That is why
the hub charges from the views (a webhook's signature is checked inside its view) rather than with
Flask-Limiter's decorators, which count before the view runs; and the CLI, the workers (connector
syncs) and /metrics charge or read the same counters outside any request. A counter's key carries
its limit (as `limits` keys do), so a tenant's new limit starts a fresh window.

Rows are charged at the door, before an import is committed: an input over what is left of the day
is refused whole (and costs nothing), the inputs accepted before it stay.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from flask import Request, jsonify
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.storage import RedisStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import Settings
from .ingest.pipeline import count_rows
from .models import EtlImport, TenantQuota, utcnow
from .request_limits import UPLOAD_ENDPOINTS, WEBHOOK_BLUEPRINTS

log = logging.getLogger(__name__)

KEY_PREFIX = "hub-quota"


@dataclass(frozen=True)
class Quota:
    name: str
    setting: str          # the Settings field holding its default
    window: type[RateLimitItem]
    unit: str             # what is counted, for messages

    def default(self, settings: Settings) -> int:
        return getattr(settings, self.setting)


ROWS = Quota("rows_per_day", "quota_rows_per_day", RateLimitItemPerDay, "rows")
QUOTAS: dict[str, Quota] = {q.name: q for q in (
    ROWS,
    Quota("webhooks_per_minute", "quota_webhooks_per_minute", RateLimitItemPerMinute, "requests"),
    Quota("uploads_per_minute", "quota_uploads_per_minute", RateLimitItemPerMinute, "requests"),
    Quota("api_per_minute", "quota_api_per_minute", RateLimitItemPerMinute, "requests"),
)}
SURFACES = ("webhooks", "uploads", "api")


class QuotaError(ValueError):
    """A quota request the hub cannot carry out (an unknown quota, a bad limit); the message says why."""


def quota_named(name: str) -> Quota:
    if name not in QUOTAS:
        raise QuotaError(f"quota: expected one of {', '.join(QUOTAS)}, found {name!r}")
    return QUOTAS[name]


def surface_of(request: Request) -> str:
    """Which request quota a request is counted against: everything under /webhooks/..., the upload, the rest."""
    if request.blueprint in WEBHOOK_BLUEPRINTS:
        return "webhooks"
    if request.endpoint in UPLOAD_ENDPOINTS:
        return "uploads"
    return "api"


# --- limits: the settings' defaults and the tenant's overrides -------------------------------------------

def overrides(session: Session, tenant_id: int) -> dict[str, int]:
    return dict(session.execute(
        select(TenantQuota.quota, TenantQuota.limit).where(TenantQuota.tenant_id == tenant_id)).all())


def limit_for(session: Session, settings: Settings, tenant_id: int, quota: Quota) -> int:
    own = session.scalar(select(TenantQuota.limit).where(
        TenantQuota.tenant_id == tenant_id, TenantQuota.quota == quota.name))
    return own if own is not None else quota.default(settings)


def limits_for(session: Session, settings: Settings, tenant_id: int) -> dict[str, int]:
    """Every quota's limit for the tenant, read in one query: for a request charged more than one quota."""
    return limits_with(settings, overrides(session, tenant_id))


def limits_with(settings: Settings, own: dict[str, int]) -> dict[str, int]:
    """Every quota's limit, given the tenant's own limits as `overrides` (or a webhook's Signer) read them."""
    return {name: own.get(name, quota.default(settings)) for name, quota in QUOTAS.items()}


def set_quota(session: Session, tenant_id: int, name: str, limit: int) -> TenantQuota:
    quota = quota_named(name)
    if limit < 1:
        raise QuotaError(f"limit for {quota.name}: expected a whole number >= 1, found {limit}")
    row = session.scalar(select(TenantQuota).where(TenantQuota.tenant_id == tenant_id, TenantQuota.quota == quota.name))
    if row is None:
        row = TenantQuota(tenant_id=tenant_id, quota=quota.name, limit=limit)
        session.add(row)
    row.limit, row.updated_at = limit, utcnow()
    session.flush()
    return row


def reset_quota(session: Session, tenant_id: int, name: str) -> bool:
    """Back to the setting's default; False when the tenant had no override."""
    quota = quota_named(name)
    row = session.scalar(select(TenantQuota).where(TenantQuota.tenant_id == tenant_id, TenantQuota.quota == quota.name))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


# --- counting --------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def storage_for(uri: str) -> Storage:
    # One storage per URI and process: memory counters are shared by everything in this process.
    return storage_from_string(uri)


def storage_uri(settings: Settings) -> str:
    return settings.redis_url or "memory://"


def _counter(settings: Settings) -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(storage_for(storage_uri(settings)))


# Count `cost` only if it fits, in one step on the Redis server: the counter as `limits` keeps it (its key,
# and its expiry set when the window's first count creates the key, as its own incr_expire.lua does),
# so the limiter reads it as usual. One round trip instead of a read and then an increment, and two
# requests can no longer both pass the read and together go over the limit.
_CHARGE_IF_IT_FITS = """
local amount = tonumber(ARGV[3])
local used = tonumber(redis.call("get", KEYS[1]) or "0")
if used + amount > tonumber(ARGV[2]) then
    return 0
end
if redis.call("incrby", KEYS[1], amount) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return 1
"""


@lru_cache(maxsize=None)
def _charge_script(uri: str):
    storage = storage_for(uri)
    return storage.get_connection().register_script(_CHARGE_IF_IT_FITS) if isinstance(storage, RedisStorage) else None


def _charged(settings: Settings, counter: FixedWindowRateLimiter, item: RateLimitItem, ids, cost: int) -> bool:
    """Whether `cost` fitted in the window, and was counted; nothing is counted when it did not."""
    script = _charge_script(storage_uri(settings))
    if script is None:  # this process's memory: nothing runs between the test and the hit
        return counter.test(item, *ids, cost=cost) and counter.hit(item, *ids, cost=cost)
    key = counter.storage.prefixed_key(item.key_for(*ids))
    return script(keys=[key], args=[item.get_expiry(), item.amount, cost]) == 1


def _identifiers(tenant_id: int, quota: Quota) -> tuple[str, str, str]:
    return KEY_PREFIX, f"tenant-{tenant_id}", quota.name


@dataclass(frozen=True)
class QuotaExceeded:
    quota: str
    limit: int
    used: int
    asked: int
    resets_at: datetime
    retry_after: int      # seconds until the window resets
    unit: str

    @property
    def message(self) -> str:
        if self.unit != "rows":
            what = f"{self.used} {self.unit} made"
        elif self.asked > self.limit:
            what = f"this input has {self.asked} {self.unit}, more than the whole quota: split it"
        else:
            what = f"this input has {self.asked} {self.unit} and {max(self.limit - self.used, 0)} are left"
        return (f"quota {self.quota} exceeded: the limit is {self.limit} {self.unit}, {what}; it resets at "
                f"{self.resets_at.isoformat(timespec='seconds')} (in {self.retry_after} s); nothing was stored")


@dataclass(frozen=True)
class QuotaUsage:
    quota: str
    limit: int
    used: int
    resets_at: datetime | None   # None while nothing was counted in the window
    overridden: bool

    def as_json(self) -> dict:
        return {"quota": self.quota, "limit": self.limit, "used": self.used, "overridden": self.overridden,
                "resets_at": self.resets_at.isoformat(timespec="seconds") if self.resets_at else None}


def _exceeded(counter: FixedWindowRateLimiter, item: RateLimitItem, ids, quota: Quota, asked: int) -> QuotaExceeded:
    stats = counter.get_window_stats(item, *ids)
    # Nothing counted yet (an input larger than the whole quota): the window would start now.
    reset = stats.reset_time if stats.remaining < item.amount else time.time() + item.get_expiry()
    return QuotaExceeded(quota=quota.name, limit=item.amount, used=item.amount - stats.remaining, asked=asked,
                         resets_at=datetime.fromtimestamp(reset, timezone.utc),
                         retry_after=max(1, math.ceil(reset - time.time())), unit=quota.unit)


def charge(session: Session, settings: Settings, tenant_id: int, quota: Quota, cost: int = 1,
           limits: dict[str, int] | None = None) -> QuotaExceeded | None:
    """Count `cost` against the tenant's quota; a QuotaExceeded (nothing counted) when it does not fit.
    `limits`: the tenant's limits as `limits_for` read them in this transaction; else the one is read.

    A storage that cannot be reached lets the work through (logged): quotas protect the hub, they must
    not take it down with Redis."""
    if cost <= 0:
        return None
    item = quota.window(limits[quota.name] if limits is not None else limit_for(session, settings, tenant_id, quota))
    ids = _identifiers(tenant_id, quota)
    counter = _counter(settings)
    try:
        # What does not fit is refused without being counted, so a later, smaller input that fits is still taken.
        if _charged(settings, counter, item, ids, cost):
            return None
        return _exceeded(counter, item, ids, quota, cost)
    except Exception:  # noqa: BLE001 - a dead Redis: log and let through
        log.warning("quota %s for tenant %s not counted: storage unreachable", quota.name, tenant_id, exc_info=True)
        return None


def charge_request(session: Session, settings: Settings, tenant_id: int, surface: str,
                   limits: dict[str, int] | None = None) -> QuotaExceeded | None:
    return charge(session, settings, tenant_id, QUOTAS[f"{surface}_per_minute"], limits=limits)


def charge_rows(session: Session, settings: Settings, tenant_id: int, rows: int,
                limits: dict[str, int] | None = None) -> QuotaExceeded | None:
    return charge(session, settings, tenant_id, ROWS, rows, limits=limits)


def admit_import(session: Session, settings: Settings, imp: EtlImport, rows: int | None = None,
                 limits: dict[str, int] | None = None) -> QuotaExceeded | None:
    """Charge the rows of an import created in this (uncommitted) transaction. Over the quota the
    transaction is rolled back: the import and its payload are not stored, and nothing is counted.
    `rows`: the count when the caller has already read the input the way its run will (a sheet push
    the view parsed); without it the stored input is read back and counted."""
    rows = count_rows(session, imp) if rows is None else rows
    exceeded = charge_rows(session, settings, imp.tenant_id, rows, limits=limits)
    if exceeded is not None:
        session.rollback()
    return exceeded


def usage(session: Session, settings: Settings, tenant_id: int) -> list[QuotaUsage]:
    """Each quota of the tenant: its limit, what is used of the current window and when that resets."""
    own = overrides(session, tenant_id)
    counter = _counter(settings)
    out = []
    for quota in QUOTAS.values():
        item = quota.window(own.get(quota.name, quota.default(settings)))
        ids = _identifiers(tenant_id, quota)
        try:
            used = counter.storage.get(item.key_for(*ids))
            reset = counter.get_window_stats(item, *ids).reset_time if used else None
        except Exception:  # noqa: BLE001
            log.warning("quota usage of tenant %s unreadable: storage unreachable", tenant_id, exc_info=True)
            used, reset = 0, None
        out.append(QuotaUsage(quota=quota.name, limit=item.amount, used=used, overridden=quota.name in own,
                              resets_at=datetime.fromtimestamp(reset, timezone.utc) if reset else None))
    return out


def over_quota(exceeded: QuotaExceeded):
    """The 429 a caller over a quota gets: Retry-After in seconds and a JSON error naming the quota."""
    response = jsonify({"error": exceeded.message, "quota": exceeded.quota, "limit": exceeded.limit,
                        "used": exceeded.used, "resets_at": exceeded.resets_at.isoformat(timespec="seconds"),
                        "retry_after": exceeded.retry_after})
    response.status_code = 429
    response.headers["Retry-After"] = str(exceeded.retry_after)
    return response
