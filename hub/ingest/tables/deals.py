"""deals: campaigns and their pipeline stage, from a sheet tab, a CSV/XLSX upload or Zapier rows.

Rows go through the same pipeline as every other table (header matching, row validation, duplicates,
row errors, outcomes). Its rules make it a workflow rather than a plain upsert:

- `check` runs before the batch is written and refuses, as row errors, moves out of a final stage
  (`row 3, stage: cannot move deal camp-1 from won to proposal; won is final`);
- `write` upserts the campaigns (inserted / updated / unchanged, only columns the input carries are
  written) and, for every row whose stage really changes (or a new deal), sets `stage_changed_at` and
  emits `deal.stage_changed` in the batch's transaction: a replayed input changes nothing and emits nothing.

Campaign codes: `promo_code` and `vanity_url` of the whole campaign (an order that uses one is shared
among the campaign's IOs), and its own `attribution_model`, `attribution_window_days` (1-60) and
`attribution_half_life_days` (blank: the tenant's). A batch that changes any of them attributes the
tenant's orders again, in the batch's transaction, so the credits never show the old settings.

A blank `stage` cell keeps the stored stage (a new deal starts at `lead`); other blank cells clear
their column, as in every table.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...attribution import credit_models
from ...attribution.attribute import DEFAULT_WINDOW_DAYS, reattribute
from ...history import changed_columns, record_changes
from ...models import ATTRIBUTION_MODELS, DEAL_STAGES, Campaign, utcnow
from ...sheets import mirror
from ...workflows.deals import DEFAULT_STAGE, StageRefused, lock_campaigns, record_move, refused_move
from .. import values as v
from ..spec import MIRROR, Column, RowError, TableRules, TableSpec

# What decides which IOs an order of the campaign counts for, and by how much.
ATTRIBUTION_COLUMNS = ("promo_code", "vanity_url", "attribution_model", "attribution_window_days",
                       "attribution_half_life_days")
# The campaign columns a row may set besides its key and stage.
VALUE_COLUMNS = ("sponsor_id", "name", "budget_cents", *ATTRIBUTION_COLUMNS)


def parse_name(raw: object) -> str:
    text = str(raw).strip()
    if len(text) > 200:
        raise v.BadValue(f"expected a name of at most 200 characters, found {len(text)} characters")
    return text


def parse_attribution_model(raw: object) -> str:
    """`position-based`, `Position based` and `position_based` are one model."""
    text = str(raw).strip().lower().replace("-", "_").replace(" ", "_")
    if text not in ATTRIBUTION_MODELS:
        raise v.BadValue(f"expected one of {'/'.join(ATTRIBUTION_MODELS)}, found {v.shown(raw)}")
    return text


def parse_window_days(raw: object) -> int:
    days = v.parse_count(raw)
    try:
        return credit_models.check_window_days(days)
    except ValueError as error:
        raise v.BadValue(str(error)) from None


def parse_half_life_days(raw: object) -> float:
    try:
        days = Decimal(str(raw).strip().replace(",", ".")) if not isinstance(raw, (int, float)) else Decimal(raw)
    except InvalidOperation:
        raise v.BadValue(f"expected a number of days such as 7 or 3.5, found {v.shown(raw)}") from None
    if not days.is_finite():
        raise v.BadValue(f"expected a number of days such as 7 or 3.5, found {v.shown(raw)}")
    try:
        return credit_models.check_half_life_days(float(days))
    except ValueError as error:
        raise v.BadValue(str(error)) from None


def campaign_codes(session: Session, tenant_id: int) -> set[tuple]:
    """Each of the tenant's campaigns that has a code or URL, with them."""
    rows = session.execute(select(Campaign.campaign_id, Campaign.promo_code, Campaign.vanity_url).where(
        Campaign.tenant_id == tenant_id)).all()
    return {tuple(row) for row in rows if row.promo_code or row.vanity_url}


class DealRules(TableRules):
    upserts = False

    def __init__(self, source: str, settings=None):
        super().__init__(source, settings)
        self.sheet = mirror.SheetCells(source, "deals")

    def check(self, session: Session, tenant_id: int, numbered: list[tuple[int, dict]]) -> dict[int, RowError]:
        """Rows of this batch whose stage move is refused. Locks the batch's stored campaigns (PostgreSQL)
        until the batch commits, so the move checked here is the move `write` makes."""
        stored = lock_campaigns(session, tenant_id, [record["campaign_id"] for _, record in numbered])
        # A sheet row still showing the stage it last had keeps the hub's (moved through the API meanwhile).
        self.notes.update(self.sheet.keep_hub_values(session, tenant_id, numbered))
        refusals = {}
        for number, record in numbered:
            campaign = stored.get(record["campaign_id"])
            reason = refused_move(record["campaign_id"], campaign.stage if campaign else None, record.get("stage"))
            if reason:
                refusals[number] = RowError(number, "stage", reason)
        return refusals

    def write(self, session: Session, tenant_id: int, import_id: str, records: list[dict]) -> list[str]:
        """Upsert the batch's campaigns; returns each record's outcome, in order."""
        codes_before = campaign_codes(session, tenant_id)
        stored = lock_campaigns(session, tenant_id, [record["campaign_id"] for record in records])
        now = utcnow()
        outcomes: list[str] = []
        history: list[tuple[str, dict]] = []
        attribution_changed = False
        for record in records:
            campaign_id, stage = record["campaign_id"], record.get("stage")
            campaign = stored.get(campaign_id)
            if campaign is None:
                campaign = Campaign(tenant_id=tenant_id, campaign_id=campaign_id, stage=stage or DEFAULT_STAGE,
                                    created_at=now, **{name: record[name] for name in VALUE_COLUMNS if name in record})
                session.add(campaign)
                stored[campaign_id] = campaign
                record_move(session, tenant_id, campaign, None, at=now)
                outcomes.append("inserted")
                attribution_changed |= any(record.get(name) is not None for name in ATTRIBUTION_COLUMNS)
                continue
            reason = refused_move(campaign_id, campaign.stage, stage)
            if reason:
                # `check` turns these into row errors first; should a move slip past it, refuse the
                # batch rather than move a deal out of a final stage.
                raise StageRefused(reason)
            changed = False
            before = {name: getattr(campaign, name) for name in (*VALUE_COLUMNS, "stage")}
            for name in VALUE_COLUMNS:
                if name in record and getattr(campaign, name) != record[name]:
                    setattr(campaign, name, record[name])
                    changed = True
                    attribution_changed |= name in ATTRIBUTION_COLUMNS
            if stage and stage != campaign.stage:
                old, campaign.stage = campaign.stage, stage
                record_move(session, tenant_id, campaign, old, at=now)
                changed = True
            if changed:
                after = {name: getattr(campaign, name) for name in before}
                history.append((campaign_id, changed_columns(before, after, before)))
            outcomes.append("updated" if changed else "unchanged")
        session.flush()
        record_changes(session, tenant_id, "deals", history, self.source, import_id, at=now)
        if attribution_changed:
            window = self.settings.conversion_window_days if self.settings else DEFAULT_WINDOW_DAYS
            # A new or changed code or URL may claim orders no campaign held; settings move only campaigns' orders.
            reattribute(session, tenant_id, window, cause=import_id,
                        campaign_orders_only=campaign_codes(session, tenant_id) == codes_before)
        return outcomes

    def after_write(self, session: Session, tenant_id: int, records: list[dict], outcomes: list[str]) -> None:
        self.sheet.remember_received(session, tenant_id, records)


DEALS = TableSpec(
    name="deals",
    table=Campaign.__table__,
    columns=(
        Column("campaign_id", v.parse_identifier, required=True, key=True),
        Column("sponsor_id", v.parse_identifier),
        Column("name", parse_name),
        Column("budget_cents", v.parse_count, alias="budget", alias_parse=v.parse_money_cents),
        Column("stage", v.parse_choice(DEAL_STAGES)),
        Column("promo_code", v.parse_promo_code),
        Column("vanity_url", v.parse_url),
        Column("attribution_model", parse_attribution_model),
        Column("attribution_window_days", parse_window_days),
        Column("attribution_half_life_days", parse_half_life_days),
    ),
    rules=DealRules,
    insert_defaults={"stage": DEFAULT_STAGE},
    created_at="created_at",
    flag="deal_pipeline",
    switched_off="The deal pipeline is switched off on this hub (ENABLE_DEAL_PIPELINE=false)",
    after_import=(MIRROR,),
)
