"""Tenants and the secrets each platform uses to talk to the hub on a tenant's behalf."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigId, Timestamp, tenant_id_column, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    # The tenant's Shopify shop (`acme.myshopify.com`): one app secret signs for every shop that
    # installed the app, so a webhook from another shop is refused when this is set.
    shopify_shop_domain: Mapped[str | None] = mapped_column(String(255))
    # The locale this tenant's inputs are read in when they do not say (`python -m hub tenant set-locale`).
    locale: Mapped[str | None] = mapped_column(String(16))
    # Whether test orders (Shopify "test": true, Stripe livemode false) count as conversions, for a
    # trial run of a shop (`python -m hub tenant set-count-test-orders`); off, they are kept as "test".
    count_test_orders: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # How campaign codes share an order among the campaign's IOs, unless the campaign says otherwise
    # (`python -m hub tenant set-attribution`); None takes the hub's defaults (hub/attribution/models.py).
    attribution_model: Mapped[str | None] = mapped_column(String(20))
    attribution_window_days: Mapped[int | None] = mapped_column(Integer)
    attribution_half_life_days: Mapped[float | None] = mapped_column(Float)

    secrets: Mapped[list["TenantSecret"]] = relationship(back_populates="tenant", cascade="all, delete-orphan")


class TenantSecret(Base):
    """One secret per tenant and source: a hash when we only verify it, ciphertext when we must sign with it."""

    __tablename__ = "tenant_secrets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "source", name="uq_tenant_secrets_tenant_source"),
        Index("ix_tenant_secrets_source_hash", "source", "secret_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="secrets")


class TenantQuota(Base):
    """A tenant's own limit for one quota (hub/quotas.py names them); without a row the setting's default holds."""

    __tablename__ = "tenant_quotas"
    __table_args__ = (UniqueConstraint("tenant_id", "quota", name="uq_tenant_quotas_tenant_quota"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    quota: Mapped[str] = mapped_column(String(40), nullable=False)
    limit: Mapped[int] = mapped_column("limit", BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow, onupdate=utcnow)


class AdminSession(Base):
    """A signed-in admin browser. The cookie carries only the id; logging out deletes the row, so a
    cookie captured before the logout opens nothing afterwards."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the random id in the cookie
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, index=True)


class TenantSpreadsheet(Base):
    """A Google spreadsheet (or the tenant's local workbook) that belongs to one tenant: pushes from it
    are accepted, and the hub writes back, `hub_results` and `matches` only into these."""

    __tablename__ = "tenant_spreadsheets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    # Unique across tenants: a spreadsheet is one tenant's, whoever registered it first.
    spreadsheet_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    bound_by: Mapped[str] = mapped_column(String(20), nullable=False)  # 'cli', 'first push' or 'connector'
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    last_pushed_at: Mapped[datetime | None] = mapped_column(Timestamp)  # the latest one gets hub_results
