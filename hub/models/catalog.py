"""What is sold and by whom: podcasts, episodes, sponsors, their campaigns (deals) and ad units.

Identifiers that come from sheets and platforms are text (`007` stays `007`) and unique per tenant.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, Timestamp, tenant_id_column, utcnow

DEAL_STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")


class Podcast(Base):
    __tablename__ = "podcasts"
    __table_args__ = (UniqueConstraint("tenant_id", "podcast_id", name="uq_podcasts_tenant_podcast"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    podcast_id: Mapped[str] = mapped_column(String(128), nullable=False)
    title: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(100))
    # What its RSS feed says of it (connectors/rss.py): the feed, its Podcasting 2.0 guid, iTunes fields.
    feed_url: Mapped[str | None] = mapped_column(String(2000))
    podcast_guid: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str | None] = mapped_column(String(35))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    itunes_type: Mapped[str | None] = mapped_column(String(10))  # episodic or serial
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    # Which import last changed this row, and when (an imported table, like metrics_daily).
    import_id: Mapped[str | None] = mapped_column(String(32))
    last_updated: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow,
                                                   server_default=func.current_timestamp())


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("tenant_id", "episode_id", name="uq_episodes_tenant_episode"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    episode_id: Mapped[str] = mapped_column(String(128), nullable=False)
    podcast_id: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(300))
    published_on: Mapped[date | None] = mapped_column(Date)
    # What its feed item says of it: the item's <guid> (episode_id may be the tenant's own id, see
    # connectors/rss.py), when it was published, its length and numbers, its audio, transcript, chapters.
    guid: Mapped[str | None] = mapped_column(String(2000))
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    season_number: Mapped[int | None] = mapped_column(Integer)
    episode_number: Mapped[int | None] = mapped_column(Integer)
    episode_type: Mapped[str | None] = mapped_column(String(10))  # full, trailer or bonus
    audio_url: Mapped[str | None] = mapped_column(String(2000))
    transcript_url: Mapped[str | None] = mapped_column(String(2000))
    chapters_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    import_id: Mapped[str | None] = mapped_column(String(32))
    last_updated: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow,
                                                   server_default=func.current_timestamp())


class Sponsor(Base):
    __tablename__ = "sponsors"
    __table_args__ = (UniqueConstraint("tenant_id", "sponsor_id", name="uq_sponsors_tenant_sponsor"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    sponsor_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)


class Campaign(Base):
    """A deal with a sponsor; `stage` moves through DEAL_STAGES."""

    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("tenant_id", "campaign_id", name="uq_campaigns_tenant_campaign"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    campaign_id: Mapped[str] = mapped_column(String(128), nullable=False)
    sponsor_id: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200))
    budget_cents: Mapped[int | None] = mapped_column(BigInteger)
    stage: Mapped[str] = mapped_column(String(20), nullable=False, default="lead")
    stage_changed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # A code or URL of the whole campaign: an order that uses it is shared among the campaign's IOs.
    promo_code: Mapped[str | None] = mapped_column(String(100))
    vanity_url: Mapped[str | None] = mapped_column(String(500))
    # Overrides of the tenant's attribution settings; None takes the tenant's.
    attribution_model: Mapped[str | None] = mapped_column(String(20))
    attribution_window_days: Mapped[int | None] = mapped_column(Integer)
    attribution_half_life_days: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)


class AdUnit(Base):
    __tablename__ = "ad_units"
    __table_args__ = (UniqueConstraint("tenant_id", "ad_unit_id", name="uq_ad_units_tenant_ad_unit"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = tenant_id_column()
    ad_unit_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(20))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
