"""The IO rows' rules that need the database: promo codes held by other active IOs, refused status
moves, and the events of the moves made. The pipeline calls them through IO_BOOKINGS' hooks."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import ACTIVE_IO_STATUSES, IoBooking
from ..sheets import mirror
from ..workflows import io_lifecycle
from .validate import RowError


def promo_clashes(session: Session, tenant_id: int, batch: list[tuple[int, dict]]) -> dict[int, RowError]:
    """Promo codes in the batch that an active IO already stored under another io_id holds."""
    wanted = {
        record["promo_code"].lower(): (number, record)
        for number, record in batch
        if record.get("promo_code") and record.get("status", "draft") in ACTIVE_IO_STATUSES
    }
    if not wanted:
        return {}
    rows = session.execute(
        select(IoBooking.io_id, func.lower(IoBooking.promo_code)).where(
            IoBooking.tenant_id == tenant_id,
            IoBooking.status.in_(ACTIVE_IO_STATUSES),
            func.lower(IoBooking.promo_code).in_(list(wanted)),
        )
    ).all()
    clashes: dict[int, RowError] = {}
    for io_id, code in rows:
        number, record = wanted[code]
        if io_id != record["io_id"]:
            clashes[number] = RowError(
                number, "promo_code",
                f"{record['promo_code']} is already the promo code of active IO {io_id}; "
                "expected a code no other draft/scheduled/live IO uses",
            )
    return clashes


def check_ios(session: Session, tenant_id: int, numbered: list[tuple[int, dict]], memo: dict) -> dict[int, RowError]:
    """Rows refused for a promo-code clash or a status move; remembers each IO's status before the write."""
    # First: a sheet row still showing the status it last had keeps the hub's (no move, no clash).
    mirror.keep_hub_values(session, tenant_id, "io_bookings", numbered, memo)
    refusals = promo_clashes(session, tenant_id, numbered)
    memo["statuses"] = io_lifecycle.current_statuses(session, tenant_id, [r["io_id"] for _, r in numbered])
    for number, record in numbered:
        reason = io_lifecycle.refused_move(memo["statuses"].get(record["io_id"]), record.get("status"))
        if reason and number not in refusals:
            refusals[number] = RowError(number, "status", reason)
    return refusals


def record_io_moves(session: Session, tenant_id: int, records: list[dict], outcomes: list[str], memo: dict) -> None:
    mirror.remember_received(session, tenant_id, "io_bookings", records, memo)
    statuses = memo.get("statuses", {})
    io_lifecycle.record_moves(session, tenant_id, [
        (r["io_id"], statuses.get(r["io_id"]), r["status"])
        for r, outcome in zip(records, outcomes) if outcome != "unchanged" and r.get("status")])
