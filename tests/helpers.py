"""Small helpers the tests share: run an import from text, read back what landed."""
from __future__ import annotations

from sqlalchemy import select

from hub.db import make_session_factory
from hub.ingest.intake import create_import
from hub.ingest.pipeline import run_import
from hub.ingest.summary import import_summary
from hub.models import EtlImport


def import_text(url: str, tenant_id: int, table: str, body: str | bytes, input_format: str = "csv",
                batch_rows: int = 5000, source: str = "test", context: dict | None = None) -> dict:
    """Persist `body` as an import and run the pipeline on it, as a job would; returns the summary."""
    session = make_session_factory(url)()
    try:
        imp, _ = create_import(session, tenant_id=tenant_id, source=source, table_name=table,
                               input_format=input_format, payload=body.encode() if isinstance(body, str) else body,
                               context=context)
        session.commit()
        run_import(session, imp.id, batch_rows=batch_rows)
        return import_summary(session, session.get(EtlImport, imp.id), errors_limit=1000)
    finally:
        session.close()


def rows(url: str, model, *order_by) -> list:
    session = make_session_factory(url)()
    try:
        return session.scalars(select(model).order_by(*order_by)).all()
    finally:
        session.close()


def messages(summary: dict) -> list[str]:
    return [error["message"] for error in summary["row_errors"]]
