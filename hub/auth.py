"""Who is calling: a tenant by its API token, or an admin by the admin token."""
from __future__ import annotations

import hmac
from functools import wraps

from flask import g, request

from .quotas import charge_request, over_quota, surface_of
from .tenants import tenant_for_token
from .web import db, json_error, settings


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("X-Hub-Token", "").strip() or None


def require_tenant(source: str = "api"):
    """Views behind this see the caller's tenant in `g.tenant`; no token, no tenant, 401; over its
    request quota for this surface (hub/quotas.py), 429."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            token = bearer_token()
            if not token:
                return json_error(401, f"missing credentials: send 'Authorization: Bearer <your {source} token>'")
            tenant = tenant_for_token(db(), source, token)
            if tenant is None:
                return json_error(401, f"invalid {source} token")
            g.tenant = tenant  # and db() works for it from here on (tenant_for_token)
            # Counted only now the caller is known: a bad token neither costs nor reveals the tenant's quota.
            if exceeded := charge_request(db(), settings(), tenant.id, surface_of(request)):
                return over_quota(exceeded)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def admin_token_ok(candidate: str | None) -> bool:
    expected = settings().admin_token
    return bool(expected) and candidate is not None and hmac.compare_digest(candidate.encode(), expected.encode())
