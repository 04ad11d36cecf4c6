"""Import runs: what came in (kept whole), how it went, and every refused row with its raw values."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Json, Timestamp, tenant_id_column, utcnow

IMPORT_STATUSES = ("queued", "running", "completed", "completed_with_errors", "failed")
FINISHED_STATUSES = ("completed", "completed_with_errors", "failed")


class EtlImport(Base):
    __tablename__ = "etl_imports"
    __table_args__ = (
        # A replayed sheet push or zap with the same key is the same import.
        UniqueConstraint("tenant_id", "source", "dedupe_key", name="uq_etl_imports_tenant_source_dedupe"),
        Index("ix_etl_imports_tenant_created", "tenant_id", "created_at"),
        Index("ix_etl_imports_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    table_name: Mapped[str] = mapped_column(String(64), nullable=False)
    input_format: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="queued")
    filename: Mapped[str | None] = mapped_column(String(300))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_inserted: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_updated: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_unchanged: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_refused: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Rows already applied: a rerun after a crash resumes here instead of counting them twice.
    rows_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    unknown_columns: Mapped[list | None] = mapped_column(Json)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The one run working on this import, and until when it holds it (renewed with every batch).
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Source-specific facts (spreadsheet id, sheet tab...) and, for small inputs, each row's outcome.
    context: Mapped[dict | None] = mapped_column(Json)
    row_outcomes: Mapped[dict | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)


class EtlImportChunk(Base):
    """The received bytes, in chunks, so a worker anywhere can read them and nothing is held whole in memory."""

    __tablename__ = "etl_import_chunks"

    import_id: Mapped[str] = mapped_column(String(32), ForeignKey("etl_imports.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class EtlRowError(Base):
    __tablename__ = "etl_row_errors"
    __table_args__ = (Index("ix_etl_row_errors_import_row", "import_id", "row_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[str] = mapped_column(String(32), ForeignKey("etl_imports.id", ondelete="CASCADE"), nullable=False)
    tenant_id: Mapped[int] = tenant_id_column()
    row_number: Mapped[int | None] = mapped_column(BigInteger)
    column: Mapped[str | None] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text, nullable=False)
    # The refused row as received, its columns in the input's order: plain JSON on every engine, since
    # PostgreSQL's jsonb would keep the keys sorted.
    raw: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
