"""Tenants and their secrets: create, store, and check what a caller presents, in constant time."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets as random_secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from connectors.registry import CONNECTORS

from .db import across_tenants, find_for_tenant, for_tenant, scoped_by_its_statement, unscoped
from .models import Tenant, TenantQuota, TenantSecret


def connector_secret_source(connector: str) -> str:
    return f"connector:{connector}"


# How each source's secret is kept. A bearer token is only ever compared, so a hash is enough;
# an HMAC key or a public key must be read back to verify a signature, so it is encrypted.
SECRET_STORAGE = {
    "api": "hash",
    "zapier": "hash",
    "sheets": "encrypt",
    "shopify": "encrypt",  # the app's API secret key, which signs Shopify's webhooks
    "wix": "encrypt",
    "stripe": "encrypt",  # the webhook endpoint's signing secret (whsec_...), which signs Stripe's events
    "hooks": "encrypt",
    # Each pull connector keeps its credentials as one JSON object (`connector add`), apart from any
    # webhook secret of the same platform: Shopify's Admin API token is not its webhook signing key.
    **{connector_secret_source(name): "encrypt" for name in CONNECTORS},
}
GENERATED_SOURCES = ("api", "sheets", "zapier", "hooks")
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")


class TenantError(ValueError):
    """A tenant or secret request the hub cannot carry out; the message says why."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet(secret_key: str) -> Fernet:
    # Fernet wants 32 url-safe base64 bytes; derive them from whatever key the operator set.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()))


def create_tenant(session: Session, slug: str, name: str | None, secret_key: str) -> tuple[Tenant, dict[str, str]]:
    """Create a tenant with fresh secrets; the plain secrets are returned once and never stored."""
    if not SLUG_PATTERN.match(slug):
        raise TenantError(
            f"tenant slug: expected 3-64 lowercase letters, digits or '-', not starting or ending with '-', found {slug!r}"
        )
    if session.scalar(select(Tenant).where(Tenant.slug == slug)):
        raise TenantError(f"tenant {slug!r} already exists")
    tenant = Tenant(slug=slug, name=name or slug)
    session.add(tenant)
    session.flush()
    for_tenant(session, tenant.id)
    issued = {source: random_secrets.token_urlsafe(32) for source in GENERATED_SOURCES}
    for source, value in issued.items():
        set_secret(session, tenant, source, value, secret_key)
    return tenant, issued


def set_secret(session: Session, tenant: Tenant, source: str, value: str, secret_key: str) -> TenantSecret:
    storage = SECRET_STORAGE.get(source)
    if storage is None:
        raise TenantError(f"secret source: expected one of {', '.join(sorted(SECRET_STORAGE))}, found {source!r}")
    if not value.strip():
        raise TenantError(f"secret for {source!r}: expected a non-empty value")
    row = session.scalar(
        select(TenantSecret).where(TenantSecret.tenant_id == tenant.id, TenantSecret.source == source)
    )
    if row is None:
        row = TenantSecret(tenant_id=tenant.id, source=source)
        session.add(row)
    if storage == "hash":
        row.secret_hash, row.secret_encrypted = token_hash(value), None
    else:
        row.secret_hash, row.secret_encrypted = None, _fernet(secret_key).encrypt(value.encode()).decode()
    session.flush()
    return row


def read_secret(session: Session, tenant_id: int, source: str, secret_key: str) -> str | None:
    """The plain secret for signing or verifying a signature, or None when the tenant has none for that source."""
    encrypted = session.scalar(
        select(TenantSecret.secret_encrypted).where(TenantSecret.tenant_id == tenant_id, TenantSecret.source == source)
    )
    return _decrypted(encrypted, source, secret_key)


def _decrypted(encrypted: str | None, source: str, secret_key: str) -> str | None:
    if not encrypted:
        return None
    try:
        return _fernet(secret_key).decrypt(encrypted.encode()).decode()
    except InvalidToken:
        raise TenantError(f"the stored {source!r} secret cannot be decrypted: was HUB_SECRET_KEY changed?") from None


def tenant_for_token(session: Session, source: str, token: str) -> Tenant | None:
    """The tenant whose `source` secret is this bearer token, or None. On a match the session works for
    that tenant from here on; without one it works for none."""
    digest = token_hash(token)
    # Which tenant holds this token is the one question asked of every tenant's secrets.
    across_tenants(session)
    row = session.scalar(
        select(TenantSecret).where(TenantSecret.source == source, TenantSecret.secret_hash == digest)
    )
    # The lookup is by hash; compare again in constant time so no timing difference leaks.
    if row is None or not hmac.compare_digest(row.secret_hash or "", digest):
        unscoped(session)
        return None
    for_tenant(session, row.tenant_id)
    return session.get(Tenant, row.tenant_id)


def tenant_for_token_digest(session: Session, source: str, digest: str) -> Tenant | None:
    """The tenant whose `source` token hashes to `digest` (a signed-in page keeps the digest, never the
    token); like tenant_for_token, the session then works for that tenant, or for none."""
    across_tenants(session)
    row = session.scalar(select(TenantSecret).where(TenantSecret.source == source, TenantSecret.secret_hash == digest))
    if row is None or not hmac.compare_digest(row.secret_hash or "", digest):
        unscoped(session)
        return None
    for_tenant(session, row.tenant_id)
    return session.get(Tenant, row.tenant_id)


def token_matches(session: Session, tenant_id: int, source: str, token: str) -> bool:
    stored = session.scalar(
        select(TenantSecret.secret_hash).where(TenantSecret.tenant_id == tenant_id, TenantSecret.source == source)
    )
    return stored is not None and hmac.compare_digest(stored, token_hash(token))


def tenant_by_slug(session: Session, slug: str) -> Tenant | None:
    """The tenant named by `slug`; the session works for it from here on (for no tenant when there is none)."""
    return find_for_tenant(session, Tenant, Tenant.id, Tenant.slug == slug)


@dataclass(frozen=True)
class Signer:
    """The tenant that signs a webhook's requests, as the request that checks them needs it."""

    tenant_id: int
    slug: str
    locale: str | None            # the tenant's own (set-locale), for inputs that name none
    secret: str                   # the plain secret of the source
    quota_limits: dict[str, int]  # the tenant's own quota limits; a quota without one has the setting's


# Migration 0026: the tenant, its secret and its quota limits in one round trip, and the scope set.
_SIGNER = text("SELECT tenant_id, slug, locale, secret_encrypted, quota_limits FROM hub_webhook_signer(:slug, :source)")


def webhook_signer(session: Session, slug: str, source: str, secret_key: str) -> Signer | None:
    """What `tenant_with_secret` reads, and the tenant's own quota limits, for a webhook that checks a
    signature and charges quotas; None alike for an unknown tenant and a missing secret. A tenant found
    is the session's scope from here on. On PostgreSQL one statement reads it all (three otherwise)."""
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(_SIGNER, {"slug": slug, "source": source}).first()
        if row is None:
            return None
        scoped_by_its_statement(session, row.tenant_id)
        tenant_id, slug, locale, encrypted, limits = row
        secret = _decrypted(encrypted, source, secret_key)
    else:
        tenant = tenant_by_slug(session, slug)
        if tenant is None:
            return None
        tenant_id, slug, locale = tenant.id, tenant.slug, tenant.locale
        secret = read_secret(session, tenant_id, source, secret_key)
        # The query of hub.quotas.overrides, which this module cannot call: hub.quotas imports the ingest
        # pipeline, and the layers below it (the sheets, the hooks) import this module.
        limits = dict(session.execute(select(TenantQuota.quota, TenantQuota.limit).where(TenantQuota.tenant_id == tenant_id)).all())
    if secret is None:
        return None
    return Signer(tenant_id=tenant_id, slug=slug, locale=locale, secret=secret, quota_limits=dict(limits or {}))


def tenant_with_secret(session: Session, slug: str, source: str, secret_key: str) -> tuple[Tenant | None, str | None]:
    """The tenant and its plain `source` secret; (None, None) alike for an unknown tenant and a missing
    secret, so a webhook's answer never tells which tenants exist."""
    tenant = tenant_by_slug(session, slug)
    secret = read_secret(session, tenant.id, source, secret_key) if tenant else None
    return (tenant, secret) if secret is not None else (None, None)
