"""How an import is reported, the same way to the API, the CLI and the status page."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import EtlImport, EtlRowError
from .values import DEFAULT_LOCALE


def _iso(value):
    return value.isoformat() if value is not None else None


def import_warnings(imp: EtlImport) -> list[str]:
    """What was accepted but ignored: columns the table does not take (a near-miss refuses the input)."""
    return [f"column {name!r} is not a column of {imp.table_name}; its values were ignored"
            for name in imp.unknown_columns or []]


def import_summary(session: Session, imp: EtlImport, errors_limit: int = 100) -> dict:
    errors = session.execute(
        select(EtlRowError.row_number, EtlRowError.column, EtlRowError.message, EtlRowError.raw)
        .where(EtlRowError.import_id == imp.id)
        .order_by(EtlRowError.row_number.is_(None).desc(), EtlRowError.row_number, EtlRowError.id)
        .limit(errors_limit)
    ).all()
    error_count = session.scalar(select(func.count()).select_from(EtlRowError).where(EtlRowError.import_id == imp.id))
    duration = None
    if imp.started_at and imp.finished_at:
        duration = round((imp.finished_at - imp.started_at).total_seconds(), 3)
    return {
        "import_id": imp.id,
        "source": imp.source,
        "table": imp.table_name,
        "format": imp.input_format,
        "filename": imp.filename,
        "status": imp.status,
        "error": imp.error,
        "counts": {
            "rows": imp.rows_total,
            "inserted": imp.rows_inserted,
            "updated": imp.rows_updated,
            "unchanged": imp.rows_unchanged,
            "refused": imp.rows_refused,
        },
        "unknown_columns": imp.unknown_columns or [],
        "warnings": import_warnings(imp),
        # Which locale text cells were read in (dates, numbers, money): en-US unless the input said.
        "locale": (imp.context or {}).get("locale") or DEFAULT_LOCALE,
        "attempts": imp.attempts,
        "created_at": _iso(imp.created_at),
        "started_at": _iso(imp.started_at),
        "finished_at": _iso(imp.finished_at),
        "duration_seconds": duration,
        "row_errors": [
            {"row": row, "column": column, "message": message, "raw": raw} for row, column, message, raw in errors
        ],
        "row_errors_total": error_count,
    }


def history_item(imp: EtlImport) -> dict:
    return {
        "import_id": imp.id,
        "source": imp.source,
        "table": imp.table_name,
        "filename": imp.filename,
        "status": imp.status,
        "rows": imp.rows_total,
        "inserted": imp.rows_inserted,
        "updated": imp.rows_updated,
        "unchanged": imp.rows_unchanged,
        "refused": imp.rows_refused,
        "created_at": _iso(imp.created_at),
        "finished_at": _iso(imp.finished_at),
    }
