"""Domain events (the outbox), attributed orders and matchmaking scores."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Json, Timestamp, tenant_id_column, utcnow

EVENT_NAMES = (
    "io.scheduled",
    "io.delivered",
    "io.pacing_changed",
    "deal.stage_changed",
    "match.recalculated",
    "etl.import_completed",
    "etl.error",
    "source.stale",
    "source.fresh",
)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_created", "tenant_id", "created_at"),
        Index("ix_events_name", "name"),
        Index("ix_events_dispatched_at", "dispatched_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict] = mapped_column(Json, nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    # When the dispatcher fanned this event out to its subscribers' deliveries.
    dispatched_at: Mapped[datetime | None] = mapped_column(Timestamp)


class AttributionEvent(Base):
    """One order (or lead) from a shop, attributed to at most one IO."""

    __tablename__ = "attribution_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "platform", "order_id", name="uq_attribution_events_tenant_platform_order"),
        Index("ix_attribution_events_tenant_io", "tenant_id", "io_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    order_id: Mapped[str] = mapped_column(String(128), nullable=False)
    io_id: Mapped[str | None] = mapped_column(String(128))
    episode_id: Mapped[str | None] = mapped_column(String(128))
    day: Mapped[date | None] = mapped_column(Date)
    matched_by: Mapped[str | None] = mapped_column(String(20))
    revenue_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")
    payload: Mapped[dict | None] = mapped_column(Json)
    occurred_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The platform's own "as of" time of the version stored: an older retry never overwrites it.
    version_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("tenant_id", "advertiser_id", "podcast_id", name="uq_matches_tenant_advertiser_podcast"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    advertiser_id: Mapped[str] = mapped_column(String(128), nullable=False)
    podcast_id: Mapped[str] = mapped_column(String(128), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    rationale: Mapped[str | None] = mapped_column(Text)
    signals: Mapped[dict | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
