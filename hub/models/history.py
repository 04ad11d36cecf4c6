"""A row's history: each change the hub applied to an IO, a deal or a metrics row (hub/history.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Json, Timestamp, tenant_id_column, utcnow


class RowHistory(Base):
    __tablename__ = "row_history"
    __table_args__ = (
        Index("ix_row_history_tenant_table_row", "tenant_id", "table_name", "row_key", "changed_at"),
        Index("ix_row_history_changed_at", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    table_name: Mapped[str] = mapped_column(String(64), nullable=False)
    # The row's key values joined with "|" (an io_id; a campaign_id; day|episode_id|source).
    row_key: Mapped[str] = mapped_column(String(400), nullable=False)
    # {column: {"old": value, "new": value}} for each column that changed, values as JSON (dates ISO).
    changes: Mapped[dict] = mapped_column(Json, nullable=False)
    # Where the change came from: an import's source (sheets, upload, api, zapier, buzzsprout, ...),
    # "lifecycle" (the hub completed an IO) or "api" (a deal's stage moved through the API).
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    import_id: Mapped[str | None] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
