"""REST-hook subscriptions (Zapier's convention) and each event's delivery to each of them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Timestamp, tenant_id_column, utcnow

DELIVERY_STATUSES = ("pending", "delivered", "failed", "gone")


class HookSubscription(Base):
    __tablename__ = "hook_subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event", "target_url", name="uq_hook_subscriptions_tenant_event_target"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    target_url: Mapped[str] = mapped_column(String(2000), nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    # Set when the subscriber unsubscribed, or its target answered 410 Gone; nothing is sent after.
    unsubscribed_at: Mapped[datetime | None] = mapped_column(Timestamp)


class HookDelivery(Base):
    __tablename__ = "hook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_hook_deliveries_subscription_event"),
        Index("ix_hook_deliveries_tenant_status", "tenant_id", "status"),
        Index("ix_hook_deliveries_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("hook_subscriptions.id", ondelete="CASCADE"), nullable=False)
    event_id: Mapped[str] = mapped_column(String(32), ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When a pending delivery is due (again); the reconciler enqueues it then, whoever else is alive.
    # While an attempt is in flight it is pushed ahead by a lease, so no second runner starts it.
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
