"""What a sheet row holds, as far as the hub knows, in a column the hub also changes (an IO's status, a deal's stage)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Timestamp, tenant_id_column, utcnow

# Where the remembered value came from: a sheet push that landed, or the hub writing its own value into the cell.
SHEET_VALUE_ORIGINS = ("received", "written")


class SheetValue(Base):
    """The value last received from, or written to, one sheet row's hub-owned cell.

    A push that still carries this value is the sheet not yet knowing what the hub changed, not a
    person moving the row; see hub/sheets/mirror.py.
    """

    __tablename__ = "sheet_values"
    __table_args__ = (
        UniqueConstraint("tenant_id", "table_name", "row_key", "column_name",
                         name="uq_sheet_values_tenant_table_row_column"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    table_name: Mapped[str] = mapped_column(String(64), nullable=False)
    row_key: Mapped[str] = mapped_column(String(300), nullable=False)
    column_name: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[str] = mapped_column(String(200), nullable=False)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
