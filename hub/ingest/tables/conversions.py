"""conversions: an order or lead from any shop or CRM (Zapier's `conversions` stream, a file, a shop's
backfill), attributed to an IO like a shop's webhook order.

An order is kept under the platform it came from, which is the import's source (`zapier`, `upload`,
`shopify`, ...): the same order id from a zap and from a file are two orders, not one overwriting the
other."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.orders import Order
from connectors.shopify import order_from_shopify

from ...attribution.attribute import DEFAULT_WINDOW_DAYS, apply_order
from ...models import AttributionEvent
from .. import values as v
from ..spec import Column, TableRules, TableSpec


# A shop's backfill row carries the order as the shop sent it: it is read by the same parser as the
# shop's webhooks, so both paths build the same Order (test flag, the shop's own current total, codes
# from discount applications, UTM parameters, cancel reason).
PAYLOAD_PARSERS = {"shopify": order_from_shopify}


class ConversionRules(TableRules):
    upserts = False

    def write(self, session: Session, tenant_id: int, import_id: str, records: list[dict]) -> list[str]:
        platform = self.source
        window = self.settings.conversion_window_days if self.settings else DEFAULT_WINDOW_DAYS
        outcomes = []
        for record in records:
            order = self.order_from_payload(platform, record) or self.order_from_row(platform, record)
            existed = session.scalar(select(AttributionEvent.id).where(
                AttributionEvent.tenant_id == tenant_id, AttributionEvent.platform == platform,
                AttributionEvent.order_id == order.order_id))
            event = apply_order(session, tenant_id, order, window, cause=import_id)
            outcomes.append("unchanged" if event is None else "updated" if existed else "inserted")
        return outcomes

    @staticmethod
    def order_from_payload(platform: str, record: dict) -> Order | None:
        parse = PAYLOAD_PARSERS.get(platform)
        if parse is None or not record.get("payload"):
            return None
        try:
            return parse(record["payload"])
        except ValueError:
            return None  # not the platform's own shape (a hand-made file): the row's columns say what it is

    @staticmethod
    def order_from_row(platform: str, record: dict) -> Order:
        return Order(
            platform=platform, order_id=record["order_id"], occurred_at=record["occurred_at"],
            total_cents=record.get("revenue_cents") or 0, currency=record.get("currency"),
            codes=record.get("promo_code") or [],
            urls=[u for u in (record.get("landing_url"), record.get("referring_url")) if u],
            cancelled=record.get("status") == "cancelled", kind=record.get("kind") or "order",
            version_at=record.get("updated_at"),
            # The order as its platform sent it when the input has it (a shop's backfill), so that a later
            # event about it (a Shopify refund) can rebuild it; else the row as received.
            payload=record.get("payload") or {k: str(v) for k, v in record.items() if v is not None},
        )


CONVERSIONS = TableSpec(
    name="conversions",
    table=AttributionEvent.__table__,
    columns=(
        Column("order_id", v.parse_identifier, required=True, key=True),
        Column("occurred_at", v.parse_datetime, required=True),
        Column("updated_at", v.parse_datetime),
        Column("revenue_cents", v.parse_count, alias="revenue", alias_parse=v.parse_money_cents),
        Column("currency", v.parse_currency),
        Column("promo_code", v.parse_code_list),
        Column("landing_url", v.parse_url_or_path),
        Column("referring_url", v.parse_url_or_path),
        Column("status", v.parse_choice(("open", "paid", "cancelled"))),
        Column("kind", v.parse_choice(("order", "lead"))),
        Column("payload", v.parse_json_object),
    ),
    rules=ConversionRules,
    sheet_tab=False,
)
