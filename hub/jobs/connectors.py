"""Host connectors per tenant: their settings, their syncs (each page through the ingest pipeline), and
the schedule that runs them, driven by RQ's cron (hub/jobs/cron.py), not a loop of our own."""
from __future__ import annotations

import ipaddress
import json
import logging
from datetime import date, timedelta
from typing import Callable, Iterable
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import ConnectorError, Page
from connectors.google_sheets import SheetPage
from connectors.registry import get_connector

from ..config import Settings, load_settings
from ..db import session_scope
from ..hooks.guarded_http import guarded_session
from ..hooks.target_guard import TargetRefused, allowed_addresses
from ..ingest.intake import create_import
from ..ingest.pipeline import run_import
from ..ingest.tables import TABLES
from ..models import ConnectorState, Tenant, utcnow
from ..quotas import admit_import
from ..tenants import connector_secret_source, read_secret, set_secret
from . import sheet_pull
from .after_import import Finished, follow_imports
from .hooks import allow_loopback
from .kinds import SYNC
from .queue import JobSpec, not_retried
from .writeback import enqueue_results

log = logging.getLogger(__name__)
# A sync still "running" after this long died with its worker; the schedule may start it again.
STALE_RUNNING = timedelta(hours=1)


class SyncError(RuntimeError):
    """A sync that cannot start or stopped; the connector's state keeps the same message. `retriable`:
    whether the same sync later could succeed (the platform timed out or rate-limited it past its retries)."""

    def __init__(self, message: str, retriable: bool = False):
        super().__init__(message)
        self.retriable = retriable


def connector_state(session: Session, tenant_id: int, connector: str) -> ConnectorState:
    state = session.scalar(select(ConnectorState).where(
        ConnectorState.tenant_id == tenant_id, ConnectorState.connector == connector))
    if state is None:
        state = ConnectorState(tenant_id=tenant_id, connector=connector, cursor={})
        session.add(state)
        session.flush()
    return state


def apply_pages(session: Session, state: ConnectorState, pages: Iterable[Page],
                apply_page: Callable[[Page], None]) -> tuple[int, int]:
    """The bookkeeping of a sync: mark the connector running, apply each page and store the cursor after
    it (so a sync resumes after its last whole page), and leave it idle, or failed with the platform's
    message. Returns (pages, rows)."""
    state.status, state.last_error, state.updated_at = "running", None, utcnow()
    session.commit()
    done = items = 0
    try:
        for page in pages:
            apply_page(page)
            state = session.get(ConnectorState, state.id)
            state.cursor, state.last_sync_at, state.updated_at = page.cursor, utcnow(), utcnow()
            session.commit()
            done, items = done + 1, items + len(page.rows)
    except ConnectorError as error:
        session.rollback()
        state = session.get(ConnectorState, state.id)
        state.status, state.last_error, state.updated_at = "failed", str(error), utcnow()
        session.commit()
        raise SyncError(f"{state.connector} sync stopped after {done} page(s): {error}",
                        retriable=error.retriable) from None
    state.status, state.updated_at = "idle", utcnow()
    session.commit()
    return done, items


def _full_config(session: Session, state: ConnectorState, secret_key: str) -> dict:
    secrets = read_secret(session, state.tenant_id, connector_secret_source(state.connector), secret_key)
    return {**(state.config or {}), **(json.loads(secrets) if secrets else {})}


def check_outsider_url(field: str, url: str, allow_loopback: bool = False) -> None:
    """A tenant-chosen URL (an RSS feed's) the hub may call: http(s) without credentials, https unless
    loopback is allowed, and an address literal only if public. A name is not resolved here (a feed
    host may not resolve from where the command runs): the guarded session checks every address it
    connects to, on every sync. ConnectorError names the field and the reason."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        if parts.scheme not in ("http", "https") or not host:
            raise TargetRefused(f"expected an https:// URL, found {url[:100]!r}")
        if parts.username or parts.password:
            raise TargetRefused("credentials in the URL are not accepted")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if parts.scheme != "https" and not allow_loopback:
                raise TargetRefused(f"expected https://, found {parts.scheme}://") from None
            return
        allowed_addresses(host, parts.port, parts.scheme, allow_loopback)
    except TargetRefused as refused:
        raise ConnectorError(f"{field}: {str(refused).replace('target_url: ', '')}") from None
    except ValueError:  # a port that is not a number
        raise ConnectorError(f"{field}: not a URL the hub can call: {url[:100]!r}") from None


def configure(session: Session, tenant: Tenant, name: str, values: dict, interval_minutes: int | None,
              secret_key: str, allow_loopback: bool = False) -> ConnectorState:
    """Store a connector's settings (secrets encrypted apart), checked by the connector's own schema.
    `allow_loopback` (development and tests) admits tenant-chosen URLs on 127.0.0.1."""
    cls = get_connector(name)
    state = connector_state(session, tenant.id, name)
    full = {**_full_config(session, state, secret_key), **values}
    checked = cls(full).config  # raises ConnectorError naming a missing or invalid field
    for field in cls.outsider_url_fields:
        check_outsider_url(field, checked[field], allow_loopback)
    if name == sheet_pull.NAME:
        sheet_pull.bind_spreadsheet(session, tenant, full)  # the spreadsheet becomes the tenant's, or is refused
    secret_fields = set(cls.config_schema.get("secret", []))
    state.config = {k: v for k, v in full.items() if k not in secret_fields}
    set_secret(session, tenant, connector_secret_source(name), json.dumps({k: v for k, v in full.items() if k in secret_fields}), secret_key)
    state.interval_minutes = interval_minutes
    state.updated_at = utcnow()
    return state


def build(session: Session, state: ConnectorState, secret_key: str, allow_loopback: bool = False):
    """The connector with its stored settings. One that calls tenant-chosen URLs gets a session that
    refuses private, loopback and link-local addresses at connect time (DNS rebinding included)."""
    cls = get_connector(state.connector)
    config = _full_config(session, state, secret_key)
    if cls.outsider_url_fields:
        return cls(config, session=guarded_session(allow_loopback))
    return cls(config)


def build_to_run(session: Session, state: ConnectorState, settings: Settings):
    """The connector a sync or `connector test` runs. Google Sheets reads with the hub's service account,
    and only a spreadsheet that is still the tenant's."""
    if state.connector == sheet_pull.NAME:
        return sheet_pull.connector_for(session, state.tenant_id, _full_config(session, state, settings.secret_key),
                                        settings)
    return build(session, state, settings.secret_key, allow_loopback=allow_loopback(settings))


def run_sync(settings: Settings, tenant_id: int, name: str, since: date | None = None, connector=None) -> dict:
    """Sync one connector: every page is an import through the pipeline, then its cursor is stored. What
    follows the pages' imports runs once at the end, also when the sync stopped midway."""
    finished: list[Finished] = []
    try:
        return _sync_pages(settings, tenant_id, name, since, connector, finished)
    finally:
        follow_imports(settings, finished)
        enqueue_results(settings, tenant_id)


def _sync_pages(settings: Settings, tenant_id: int, name: str, since: date | None, connector,
                finished: list[Finished]) -> dict:
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        state = session.scalar(select(ConnectorState).where(
            ConnectorState.tenant_id == tenant_id, ConnectorState.connector == name))
        if state is None or state.config is None:
            raise SyncError(f"connector {name!r} is not configured: run 'python -m hub connector add {name} ...'")
        cursor = dict(state.cursor or {})

        def read_pages():
            # Built inside the sync, so a connector that cannot be built (a spreadsheet no longer the
            # tenant's) leaves its reason as the connector's last_error.
            yield from (connector or build_to_run(session, state, settings)).sync(cursor, since)

        def apply_page(page: Page) -> None:
            if isinstance(page, SheetPage):
                page = sheet_pull.changed_rows_only(session, tenant_id, page)
            if not page.rows:
                return
            fields = sheet_pull.import_fields(page) if isinstance(page, SheetPage) else {
                "source": name, "input_format": "records", "payload": json.dumps(page.rows).encode(),
                "filename": f"{name} sync"}
            imp, _ = create_import(session, tenant_id=tenant_id, table_name=page.table, **fields)
            if exceeded := admit_import(session, settings, imp):
                # Stops here like a platform error: the cursor stays after the last whole page, so the next
                # scheduled sync resumes with this page. Not retried in minutes: the window is a day.
                raise ConnectorError(f"a {name} page of {len(page.rows)} rows was not imported: {exceeded.message}")
            session.commit()
            imp = run_import(session, imp.id, batch_rows=settings.import_batch_rows,
                             lease_seconds=settings.import_lease_seconds, tables=TABLES, settings=settings)
            finished.append(Finished.of(imp))
            if imp.status == "failed":
                raise ConnectorError(f"import {imp.id} of a {name} page failed: {imp.error}")
            if isinstance(page, SheetPage):
                sheet_pull.remember(session, tenant_id, page)  # committed with the cursor

        pages, rows = apply_pages(session, state, read_pages(), apply_page)
        result = {"connector": name, "pages": pages, "rows": rows, "cursor": session.get(ConnectorState, state.id).cursor}
    log.info("%s sync for tenant %s: %d rows in %d pages", name, tenant_id, rows, pages)
    return result


def sync_connector_job(tenant_id: int, name: str) -> dict:
    try:
        return run_sync(load_settings(), tenant_id, name)
    except SyncError as error:
        if not error.retriable:
            not_retried()  # a 401 or a refused page fails the same way on every retry
        raise


SYNC_JOB = JobSpec(SYNC, rq=sync_connector_job, inline=run_sync)


def due_connectors(session: Session, now=None) -> list[ConnectorState]:
    now = now or utcnow()
    due = []
    for state in session.scalars(select(ConnectorState).where(ConnectorState.interval_minutes.is_not(None))):
        if state.status == "running" and now - state.updated_at < STALE_RUNNING:
            continue
        last = state.last_sync_at
        if last is None or now - last >= timedelta(minutes=state.interval_minutes):
            due.append(state)
    return due


def sync_due_connectors(settings: Settings) -> list[str]:
    """Enqueue every connector whose interval has passed (one job per tenant and connector at a time)."""
    with session_scope(settings.database_url, all_tenants=True) as session:  # the cron fan-out
        due = [(s.tenant_id, s.connector) for s in due_connectors(session)]
    started = []
    for tenant_id, name in due:
        outcome = SYNC_JOB.enqueue(settings, tenant_id, name)
        if outcome in ("queued", "inline"):
            started.append(f"{tenant_id}:{name}")
    return started


def sync_due_connectors_job() -> list[str]:
    return sync_due_connectors(load_settings())


def state_json(state: ConnectorState) -> dict:
    return {
        "connector": state.connector,
        "status": state.status,
        "every_minutes": state.interval_minutes,
        "last_sync_at": state.last_sync_at.isoformat() if state.last_sync_at else None,
        "next_sync_at": state.next_sync_at.isoformat() if state.next_sync_at else None,
        "cursor": state.cursor,
        "last_error": state.last_error,
        "config": state.config,  # secrets are not in it
    }


def connector_states_json(settings: Settings, tenant_id: int) -> list[dict]:
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        return [state_json(s) for s in session.scalars(
            select(ConnectorState).where(ConnectorState.tenant_id == tenant_id).order_by(ConnectorState.connector))]
