"""Which spreadsheets belong to which tenant (`tenant_spreadsheets`).

A tenant's signed push is accepted only from a spreadsheet registered to it, and the hub writes
(write-back, `hub_results`, `matches`, mirrored statuses) only into the tenant's own spreadsheets. A
spreadsheet is registered by an operator (`python -m hub tenant add-sheet`), by configuring the Google
Sheets pull connector, or, for a tenant that has none yet, by its first signed push when no tenant holds it. A refusal never says whether another
tenant holds the spreadsheet, let alone which.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..models import TenantSpreadsheet, utcnow
from .targets import SPREADSHEET_ID


class SpreadsheetRefused(ValueError):
    """The spreadsheet cannot be used by this tenant; the message says what to do and names no other tenant."""


def checked_spreadsheet_id(value) -> str:
    if not isinstance(value, str) or not SPREADSHEET_ID.match(value):
        shown = repr(value)[:80]
        raise ValueError("spreadsheet_id: expected a spreadsheet id (letters, digits, '-' or '_', at most 200), "
                         f"found {shown}")
    return value


def owns(session: Session, tenant_id: int, spreadsheet_id: str) -> bool:
    return session.scalar(select(TenantSpreadsheet.id).where(
        TenantSpreadsheet.tenant_id == tenant_id, TenantSpreadsheet.spreadsheet_id == spreadsheet_id)) is not None


def spreadsheets_of(session: Session, tenant_id: int) -> list[TenantSpreadsheet]:
    return session.scalars(select(TenantSpreadsheet).where(TenantSpreadsheet.tenant_id == tenant_id)
                           .order_by(TenantSpreadsheet.created_at, TenantSpreadsheet.id)).all()


def _claim(session: Session, tenant_id: int, spreadsheet_id: str, bound_by: str) -> bool:
    """Register the spreadsheet to the tenant unless some tenant holds it; True when it is this tenant's.
    The unique key settles two tenants racing for it; on PostgreSQL another tenant's row is not even
    visible to this transaction (row-level security), only its unique key is."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(TenantSpreadsheet).values(
        tenant_id=tenant_id, spreadsheet_id=spreadsheet_id, bound_by=bound_by, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["spreadsheet_id"]))
    return owns(session, tenant_id, spreadsheet_id)


def register(session: Session, tenant_id: int, spreadsheet_id: str) -> bool:
    """The operator's registration; False when it was this tenant's already."""
    checked_spreadsheet_id(spreadsheet_id)
    if owns(session, tenant_id, spreadsheet_id):
        return False
    if not _claim(session, tenant_id, spreadsheet_id, "cli"):
        raise SpreadsheetRefused(f"spreadsheet {spreadsheet_id} is registered to another tenant; "
                                 "remove it there first (python -m hub tenant remove-sheet)")
    return True


def unregister(session: Session, tenant_id: int, spreadsheet_id: str) -> bool:
    found = session.scalar(select(TenantSpreadsheet).where(
        TenantSpreadsheet.tenant_id == tenant_id, TenantSpreadsheet.spreadsheet_id == spreadsheet_id))
    if found is not None:
        session.delete(found)
    return found is not None


def accept_push_from(session: Session, tenant_id: int, tenant_slug: str, spreadsheet_id: str) -> None:
    """May this tenant's push come from this spreadsheet? Binds it on the tenant's first push; raises
    SpreadsheetRefused otherwise."""
    if owns(session, tenant_id, spreadsheet_id):
        return
    if not spreadsheets_of(session, tenant_id) and _claim(session, tenant_id, spreadsheet_id, "first push"):
        return
    if owns(session, tenant_id, spreadsheet_id):
        return  # a concurrent copy of this tenant's first push claimed it between the two reads above
    raise _not_registered(tenant_slug, spreadsheet_id)


def accept_pull_from(session: Session, tenant_id: int, tenant_slug: str, spreadsheet_id: str) -> None:
    """Configuring the Google Sheets pull connector binds its spreadsheet to the tenant unless another
    tenant holds it; that refusal is worded as a push's, naming no other tenant."""
    checked_spreadsheet_id(spreadsheet_id)
    if owns(session, tenant_id, spreadsheet_id) or _claim(session, tenant_id, spreadsheet_id, "connector"):
        return
    raise _not_registered(tenant_slug, spreadsheet_id)


def _not_registered(tenant_slug: str, spreadsheet_id: str) -> SpreadsheetRefused:
    return SpreadsheetRefused(
        f"spreadsheet {spreadsheet_id} is not registered to this tenant: an operator registers it with "
        f"'python -m hub tenant add-sheet {tenant_slug} {spreadsheet_id}'")


def touch(session: Session, tenant_id: int, spreadsheet_id: str) -> bool:
    """Mark the spreadsheet as the tenant's one that pushed last; False (nothing marked) when it is not
    registered to the tenant."""
    # On the table, not the entity: no objects in the session to bring up to date, and the ORM's
    # bulk UPDATE machinery cost a push's ack about 0.7 ms more.
    spreadsheets = TenantSpreadsheet.__table__
    return session.execute(update(spreadsheets).where(
        spreadsheets.c.tenant_id == tenant_id, spreadsheets.c.spreadsheet_id == spreadsheet_id,
    ).values(last_pushed_at=utcnow())).rowcount > 0


def latest_spreadsheet(session: Session, tenant_id: int) -> str | None:
    """The tenant's spreadsheet that pushed last (else the first registered): where its results go."""
    found = spreadsheets_of(session, tenant_id)
    if not found:
        return None
    pushed = [s for s in found if s.last_pushed_at is not None]
    return max(pushed, key=lambda s: s.last_pushed_at).spreadsheet_id if pushed else found[0].spreadsheet_id


class TenantSheets:
    """A sheet target as one tenant may use it: every read and write names a spreadsheet registered to
    the tenant, or nothing is read or written. The jobs hand this, never the bare target, to write-back,
    `hub_results`, `matches` and the mirror."""

    def __init__(self, target, session: Session, tenant_id: int):
        self.target, self.session, self.tenant_id = target, session, tenant_id

    def _check(self, spreadsheet_id: str) -> None:
        if not owns(self.session, self.tenant_id, spreadsheet_id):
            raise SpreadsheetRefused(f"spreadsheet {spreadsheet_id!r} is not registered to tenant {self.tenant_id}; "
                                     "nothing was read or written")

    def read_values(self, spreadsheet_id: str, tab: str):
        self._check(spreadsheet_id)
        return self.target.read_values(spreadsheet_id, tab)

    def write_cells(self, spreadsheet_id: str, tab: str, cells) -> None:
        self._check(spreadsheet_id)
        self.target.write_cells(spreadsheet_id, tab, cells)

    def replace_tab(self, spreadsheet_id: str, tab: str, rows, formats=None, highlights=()) -> None:
        self._check(spreadsheet_id)
        self.target.replace_tab(spreadsheet_id, tab, rows, formats, highlights)
