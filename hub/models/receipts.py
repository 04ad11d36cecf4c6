"""What platforms pushed to us (kept before we answer), and where each pull connector got to."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Json, Timestamp, tenant_id_column, utcnow


class WebhookReceipt(Base):
    """One platform webhook as received; replays of the same event id are the same receipt."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "platform", "event_id", name="uq_webhook_receipts_tenant_platform_event"),
        Index("ix_webhook_receipts_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    topic: Mapped[str] = mapped_column(String(100), nullable=False)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False)
    webhook_id: Mapped[str | None] = mapped_column(String(200))
    triggered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(Timestamp)


class ConnectorState(Base):
    """A pull connector's bookmark per tenant: a sync resumes from `cursor`."""

    __tablename__ = "connector_states"
    __table_args__ = (UniqueConstraint("tenant_id", "connector", name="uq_connector_states_tenant_connector"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    connector: Mapped[str] = mapped_column(String(64), nullable=False)
    # The connector's settings without its secrets (those live encrypted in tenant_secrets).
    config: Mapped[dict | None] = mapped_column(Json)
    # Minutes between scheduled syncs; None means it only syncs when asked.
    interval_minutes: Mapped[int | None] = mapped_column(Integer)
    cursor: Mapped[dict | None] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="idle")
    last_sync_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)

    @property
    def next_sync_at(self) -> datetime | None:
        """When the schedule runs it next (the scheduler looks every minute): an interval after the last
        sync; a scheduled connector that never synced is due since it was configured. None: not scheduled."""
        if self.interval_minutes is None:
            return None
        if self.last_sync_at is None:
            return self.updated_at
        return self.last_sync_at + timedelta(minutes=self.interval_minutes)

SOURCE_STATES = ("fresh", "stale")


class SourceHealth(Base):
    """Whether a source (a connector, a sheet tab that pushes, a shop's webhooks) was last found fresh or
    stale, so `source.stale` and `source.fresh` are emitted once per change (hub/workflows/source_health.py)."""

    __tablename__ = "source_health"
    __table_args__ = (UniqueConstraint("tenant_id", "source_key", name="uq_source_health_tenant_source_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    # "connector:buzzsprout", "sheets:<spreadsheet id>/<table>", "webhooks:shopify"
    source_key: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    last_seen_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The expected time between arrivals, and whether it is the source's schedule or learnt from its history.
    cadence_seconds: Mapped[int | None] = mapped_column(Integer)
    cadence_from: Mapped[str | None] = mapped_column(String(10))
    changed_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
