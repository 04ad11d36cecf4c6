"""A row's history: every change the hub applies to an IO, a deal or a metrics row is kept with the old
and new value of each changed column, where it came from (the import's source, or the hub itself),
the import and the time. Written in the same transaction as the change; pruned after
HUB_HISTORY_RETENTION_DAYS (`prune_history`, daily on the scheduler).

An inserted row has no history entry (its first values are in the row itself and its import); an
update records only the columns whose value really changed, so a replay records nothing.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Iterable, Mapping, Sequence

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from .models import RowHistory, utcnow

# The tables whose rows keep a history.
HISTORY_TABLES = ("io_bookings", "deals", "metrics_daily")


def jsonable(value: object) -> object:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def row_key(values: Sequence[object]) -> str:
    return "|".join(jsonable(v) if isinstance(v, (date, datetime)) else str(v) for v in values)


def changed_columns(old: Mapping[str, object], new: Mapping[str, object], columns: Iterable[str]) -> dict:
    """{column: {"old": ..., "new": ...}} for each of `columns` whose value differs."""
    return {name: {"old": jsonable(old.get(name)), "new": jsonable(new.get(name))}
            for name in columns if old.get(name) != new.get(name)}


def record_changes(session: Session, tenant_id: int, table: str, entries: list[tuple[str, dict]], source: str,
                   import_id: str | None = None, at: datetime | None = None) -> int:
    """Keep (row key, changes) entries with no empty changes; one INSERT for them all."""
    rows = [{"tenant_id": tenant_id, "table_name": table, "row_key": key, "changes": changes, "source": source,
             "import_id": import_id, "changed_at": at or utcnow()} for key, changes in entries if changes]
    if rows:
        session.execute(insert(RowHistory), rows)
    return len(rows)


def prune_history(session: Session, before: datetime) -> int:
    """Forget changes older than `before` (the retention); returns how many."""
    return session.execute(delete(RowHistory).where(RowHistory.changed_at < before)
                           .execution_options(synchronize_session=False)).rowcount
