"""Pull syncs: a connector pages through its platform and each page is applied with its cursor."""
from __future__ import annotations

import logging
from datetime import date
from typing import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    """A sync that cannot start or stopped; the connector's state keeps the same message. `retriable`:
    whether the same sync later could succeed (the platform timed out or rate-limited it past its retries)."""

    def __init__(self, message: str, retriable: bool = False):
        super().__init__(message)
        self.retriable = retriable


def connector_state(session, tenant_id: int, connector: str) -> ConnectorState:
    state = session.scalar(select(ConnectorState).where(
        ConnectorState.tenant_id == tenant_id, ConnectorState.connector == connector))
    if state is None:
        state = ConnectorState(tenant_id=tenant_id, connector=connector, cursor={})
        session.add(state)
        session.flush()
    return state


def apply_pages(session: Session, state: ConnectorState, pages: Iterable[tuple[list, dict]],
                apply_page: Callable[[list], None], failures: tuple[type[Exception], ...]) -> tuple[int, int]:
    """The bookkeeping every pull sync shares: mark the connector running, apply each page and store
    the cursor after it (so a sync resumes after its last whole page), and leave it idle, or failed
    with the platform's message. Returns (pages, items)."""
    state.status, state.last_error, state.updated_at = "running", None, utcnow()
    session.commit()
    done = items = 0
    try:
        for page, cursor in pages:
            apply_page(page)
            state = session.get(ConnectorState, state.id)
            state.cursor, state.last_sync_at, state.updated_at = cursor, utcnow(), utcnow()
            session.commit()
            done, items = done + 1, items + len(page)
    except failures as error:
        session.rollback()
        state = session.get(ConnectorState, state.id)
        state.status, state.last_error, state.updated_at = "failed", str(error), utcnow()
        session.commit()
        raise SyncError(f"{state.connector} sync stopped after {done} page(s): {error}",
                        retriable=getattr(error, "retriable", False)) from None
    state.status, state.updated_at = "idle", utcnow()
    session.commit()
    return done, items


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
                raise SyncError("no Admin API token: run 'python -m hub tenant set-secret <tenant> shopify_admin' (it reads the token from standard input)")
            client = ShopifyOrdersClient(shop, token)
        start = since.isoformat() + "T00:00:00Z" if since else cursor.get("updated_at_min")

        def apply_page(page: list) -> None:
            for raw in page:
                apply_order(session, tenant.id, order_from_shopify(raw), settings.conversion_window_days,
                            cause="shopify-sync")

        pages, orders = apply_pages(
            session, state,
            ((page, {"shop": shop, "updated_at_min": page_cursor}) for page, page_cursor in client.iter_pages(start)),
            apply_page, (ShopifyError,))
        result = {"connector": "shopify", "tenant": tenant_slug, "pages": pages, "orders": orders,
                  "cursor": session.get(ConnectorState, state.id).cursor}
        tenant_id = tenant.id
    finally:
        session.close()
    enqueue_dispatch(settings)
    enqueue_results(settings, tenant_id)
    log.info("shopify sync for %s: %d orders in %d pages", tenant_slug, orders, pages)
    return result
