"""The deal pipeline: a campaign's stage moves lead -> qualified -> proposal -> negotiation -> won/lost.

Among the open stages a deal may move forward or back (a proposal that goes quiet goes back to
qualified); `won` and `lost` are final. Moves come from sheet rows, uploads and Zapier through the
ingest pipeline (the `deals` table, which asks `refused_move` before writing) and from
`PATCH /api/v1/deals/<campaign_id>/stage`; both record a real move with `record_move`, which sets
`stage_changed_at` and emits `deal.stage_changed` in the caller's transaction.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..attribution.credit_models import DEFAULT_WINDOW_DAYS, AttributionSettings
from ..events import emit
from ..history import record_changes
from ..models import DEAL_STAGES, Campaign, IoBooking, Sponsor, Tenant, utcnow

FINAL_STAGES = ("won", "lost")
OPEN_STAGES = tuple(stage for stage in DEAL_STAGES if stage not in FINAL_STAGES)
DEFAULT_STAGE = "lead"


class StageRefused(ValueError):
    """A move the pipeline does not allow; the message says why."""


def refused_move(campaign_id: str, old: str | None, new: str | None) -> str | None:
    """Why moving deal `campaign_id` from `old` to `new` is refused, or None when it may move."""
    if old is None or new is None or old == new:
        return None
    if new not in DEAL_STAGES:
        return f"expected one of {'/'.join(DEAL_STAGES)}, found {new!r}"
    if old in FINAL_STAGES:
        return f"cannot move deal {campaign_id} from {old} to {new}; {old} is final"
    return None


def lock_campaigns(session: Session, tenant_id: int, campaign_ids: list[str]) -> dict[str, Campaign]:
    """The stored campaigns among `campaign_ids`, locked until the transaction ends (PostgreSQL).

    Checking a move and writing it happen under the same lock, so two concurrent moves of one deal
    cannot both pass the check, and the event of a move is emitted once. SQLite has one writer at a
    time (the hub begins its transactions IMMEDIATE), which gives the same guarantee.
    """
    if not campaign_ids:
        return {}
    query = (select(Campaign).where(Campaign.tenant_id == tenant_id, Campaign.campaign_id.in_(campaign_ids))
             .order_by(Campaign.campaign_id))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {campaign.campaign_id: campaign for campaign in session.scalars(query)}


def record_move(session: Session, tenant_id: int, campaign: Campaign, old: str | None,
                at: datetime | None = None) -> None:
    """The campaign's stage was just set (or the campaign created, `old` None): stamp it and emit the event."""
    campaign.stage_changed_at = at or utcnow()
    emit(session, tenant_id, "deal.stage_changed",
         {"campaign_id": campaign.campaign_id, "old_stage": old, "new_stage": campaign.stage},
         subject=campaign.campaign_id)


def move_stage(session: Session, tenant_id: int, campaign_id: str, new_stage: str) -> tuple[Campaign, bool] | None:
    """Move one stored deal. Returns (campaign, moved), None for an unknown deal; raises StageRefused."""
    campaign = lock_campaigns(session, tenant_id, [campaign_id]).get(campaign_id)
    if campaign is None:
        return None
    reason = refused_move(campaign_id, campaign.stage, new_stage)
    if reason:
        raise StageRefused(reason)
    if campaign.stage == new_stage:
        return campaign, False
    old, campaign.stage = campaign.stage, new_stage
    record_move(session, tenant_id, campaign, old)
    record_changes(session, tenant_id, "deals", [(campaign_id, {"stage": {"old": old, "new": new_stage}})], "api")
    return campaign, True


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def deal_json(session: Session, campaign: Campaign) -> dict:
    """A deal as the API shows it: its stage, budget, sponsor and the IOs booked under it."""
    sponsor = None
    if campaign.sponsor_id:
        sponsor = session.scalar(select(Sponsor).where(
            Sponsor.tenant_id == campaign.tenant_id, Sponsor.sponsor_id == campaign.sponsor_id))
    ios = session.scalars(select(IoBooking).where(
        IoBooking.tenant_id == campaign.tenant_id, IoBooking.campaign_id == campaign.campaign_id)
        .order_by(IoBooking.flight_start, IoBooking.io_id)).all()
    return {
        "campaign_id": campaign.campaign_id,
        "name": campaign.name,
        "sponsor_id": campaign.sponsor_id,
        "sponsor": {"name": sponsor.name, "category": sponsor.category} if sponsor else None,
        "budget_cents": campaign.budget_cents,
        "stage": campaign.stage,
        "final": campaign.stage in FINAL_STAGES,
        "stage_changed_at": _iso(campaign.stage_changed_at),
        "created_at": _iso(campaign.created_at),
        "promo_code": campaign.promo_code,
        "vanity_url": campaign.vanity_url,
        # What shares an order of the campaign's code: its own settings, else its tenant's, else the defaults.
        "attribution": vars(AttributionSettings.resolve(campaign, session.get(Tenant, campaign.tenant_id),
                                                        DEFAULT_WINDOW_DAYS)),
        "ios": [{"io_id": io.io_id, "status": io.status, "flight_start": io.flight_start.isoformat(),
                 "flight_end": io.flight_end.isoformat(), "booked_impressions": io.booked_impressions}
                for io in ios],
    }
