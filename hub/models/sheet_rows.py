"""What each row of a pulled sheet held when the Google Sheets connector last sent it on."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Timestamp, tenant_id_column, utcnow


class SheetRowDigest(Base):
    """A digest of one sheet row's cells, by the row's key: a pull sends on only the rows whose digest
    changed. Kept in a table rather than the connector's cursor, which a 100,000-row sheet would swell
    to megabytes (the cursor is shown by the API and the status page)."""

    __tablename__ = "sheet_row_digests"
    __table_args__ = (
        UniqueConstraint("tenant_id", "spreadsheet_id", "tab", "row_key", name="uq_sheet_row_digests_row"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    spreadsheet_id: Mapped[str] = mapped_column(String(200), nullable=False)
    tab: Mapped[str] = mapped_column(String(100), nullable=False)
    # sha256 of the row's key cells (or of "row N" for a row without a key), 32 hex digits.
    row_key: Mapped[str] = mapped_column(String(32), nullable=False)
    digest: Mapped[str] = mapped_column(String(32), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
