"""Daily performance per episode and source: a real table with a real unique key (the seed's view was neither)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Timestamp, tenant_id_column, utcnow


class MetricsDaily(Base):
    __tablename__ = "metrics_daily"
    __table_args__ = (
        UniqueConstraint("tenant_id", "day", "episode_id", "source", name="ux_metrics_daily_tenant_day_episode_source"),
        Index("ix_metrics_daily_tenant_episode_day", "tenant_id", "episode_id", "day"),
        Index("ix_metrics_daily_tenant_podcast_day", "tenant_id", "podcast_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    day: Mapped[date] = mapped_column(Date, nullable=False)
    episode_id: Mapped[str] = mapped_column(String(128), nullable=False)
    podcast_id: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    downloads: Mapped[int | None] = mapped_column(BigInteger)
    listeners: Mapped[int | None] = mapped_column(BigInteger)
    completion_rate: Mapped[float | None] = mapped_column(Float)
    ctr: Mapped[float | None] = mapped_column(Float)
    conversions: Mapped[int | None] = mapped_column(BigInteger)
    revenue_cents: Mapped[int | None] = mapped_column(BigInteger)
    # Which import last changed this row: provenance for "where did this number come from?"
    import_id: Mapped[str | None] = mapped_column(String(32))
    last_updated: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
