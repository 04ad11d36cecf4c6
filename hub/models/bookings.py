"""Insertion orders: an advertiser's booked ad slots on an episode, with the codes that attribute sales."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Json, Timestamp, tenant_id_column, utcnow

IO_STATUSES = ("draft", "scheduled", "live", "completed", "cancelled")
# A promo code may be reused once the IO that held it is over.
ACTIVE_IO_STATUSES = ("draft", "scheduled", "live")
# IOs sold and running or about to (drafts are not sold yet): what the dashboards count as booked.
RUNNING_IO_STATUSES = ("scheduled", "live")
_ACTIVE_SQL = text("status IN ('draft', 'scheduled', 'live') AND promo_code IS NOT NULL")


class IoBooking(Base):
    __tablename__ = "io_bookings"
    __table_args__ = (UniqueConstraint("tenant_id", "io_id", name="uq_io_bookings_tenant_io"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    io_id: Mapped[str] = mapped_column(String(128), nullable=False)
    campaign_id: Mapped[str | None] = mapped_column(String(128))
    ad_unit_id: Mapped[str | None] = mapped_column(String(128))
    episode_id: Mapped[str | None] = mapped_column(String(128))
    podcast_id: Mapped[str | None] = mapped_column(String(128))
    flight_start: Mapped[date] = mapped_column(Date, nullable=False)
    flight_end: Mapped[date] = mapped_column(Date, nullable=False)
    booked_impressions: Mapped[int | None] = mapped_column(BigInteger)
    booked_cpm_cents: Mapped[int | None] = mapped_column(BigInteger)
    promo_code: Mapped[str | None] = mapped_column(String(100))
    vanity_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    # "metadata" is reserved by SQLAlchemy's declarative base, so the attribute has another name.
    extra: Mapped[dict | None] = mapped_column("metadata", Json)
    import_id: Mapped[str | None] = mapped_column(String(32))
    # Downloads of the IO's episode within its flight, as last counted; and when it was completed.
    delivered_impressions: Mapped[int | None] = mapped_column(BigInteger)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The pacing state last announced (io.pacing_changed): on_track, behind, at_risk or over (hub/workflows/pacing.py).
    pacing_state: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)


# The database's own guard for "a promo code belongs to one active IO per tenant": the pipeline
# reports a clash row by row first; this index stops two concurrent imports from both winning.
Index(
    "ux_io_bookings_active_promo_code",
    IoBooking.tenant_id,
    func.lower(IoBooking.promo_code),
    unique=True,
    postgresql_where=_ACTIVE_SQL,
    sqlite_where=_ACTIVE_SQL,
)
