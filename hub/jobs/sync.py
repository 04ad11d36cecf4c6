"""Pull syncs: a connector pages through its platform and each page is applied with its cursor."""
from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import select

from connectors.shopify import ShopifyError, ShopifyOrdersClient, order_from_shopify

from ..attribution.attribute import apply_order
from ..config import Settings
from ..db import make_session_factory
from ..models import ConnectorState, utcnow
from ..tenants import read_secret, tenant_by_slug
from .hooks import enqueue_dispatch
from .writeback import enqueue_results

log = logging.getLogger(__name__)


class SyncError(RuntimeError):
    """A sync that cannot start or stopped; the connector's state keeps the same message."""


def connector_state(session, tenant_id: int, connector: str) -> ConnectorState:
    state = session.scalar(select(ConnectorState).where(
        ConnectorState.tenant_id == tenant_id, ConnectorState.connector == connector))
    if state is None:
        state = ConnectorState(tenant_id=tenant_id, connector=connector, cursor={})
        session.add(state)
        session.flush()
    return state


def sync_shopify(settings: Settings, tenant_slug: str, shop_domain: str | None = None,
                 since: date | None = None, client: ShopifyOrdersClient | None = None) -> dict:
    """Backfill a tenant's Shopify orders. Each page's orders and the cursor after it commit together,
    so a sync that stops (a 401, a crash) resumes after its last whole page."""
    session = make_session_factory(settings.database_url)()
    try:
        tenant = tenant_by_slug(session, tenant_slug)
        if tenant is None:
            raise SyncError(f"no tenant {tenant_slug!r}")
        state = connector_state(session, tenant.id, "shopify")
        cursor = dict(state.cursor or {})
        shop = shop_domain or cursor.get("shop")
        if not shop:
            raise SyncError("no shop domain: pass --shop <name>.myshopify.com the first time")
        if client is None:
            token = read_secret(session, tenant.id, "shopify_admin", settings.secret_key)
            if token is None:
                raise SyncError("no Admin API token: run 'python -m hub tenant set-secret <tenant> shopify_admin <token>'")
            client = ShopifyOrdersClient(shop, token)
        start = since.isoformat() + "T00:00:00Z" if since else cursor.get("updated_at_min")
        state.status, state.last_error, state.updated_at = "running", None, utcnow()
        session.commit()
        orders = pages = 0
        try:
            for page, page_cursor in client.iter_pages(start):
                for raw in page:
                    apply_order(session, tenant.id, order_from_shopify(raw), settings.conversion_window_days,
                                cause="shopify-sync")
                state.cursor = {"shop": shop, "updated_at_min": page_cursor}
                state.last_sync_at = state.updated_at = utcnow()
                session.commit()
                orders, pages = orders + len(page), pages + 1
        except ShopifyError as error:
            session.rollback()
            state = connector_state(session, tenant.id, "shopify")
            state.status, state.last_error, state.updated_at = "failed", str(error), utcnow()
            session.commit()
            raise SyncError(f"shopify sync stopped after {pages} page(s): {error}") from None
        state.status, state.updated_at = "idle", utcnow()
        session.commit()
        result = {"connector": "shopify", "tenant": tenant_slug, "pages": pages, "orders": orders,
                  "cursor": state.cursor}
        tenant_id = tenant.id
    finally:
        session.close()
    enqueue_dispatch(settings)
    enqueue_results(settings, tenant_id)
    log.info("shopify sync for %s: %d orders in %d pages", tenant_slug, orders, pages)
    return result
