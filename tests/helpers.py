"""Small helpers the tests share: run an import from text, read back what landed."""
from __future__ import annotations

import io
import os
import sys
import time

from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hub.db import across_tenants, for_tenant, make_session_factory, owner_engine
from hub.ingest.intake import create_import
from hub.ingest.pipeline import run_import
from hub.ingest.summary import import_summary
from hub.models import AttributionCredit, AttributionEvent, EtlImport


def observer(url: str) -> Session:
    """A session that looks across tenants, as the tests do when they check what landed where; the
    application's own sessions work for one tenant (hub/db.py)."""
    return across_tenants(make_session_factory(url)())


def import_text(url: str, tenant_id: int, table: str, body: str | bytes, input_format: str = "csv",
                batch_rows: int = 5000, source: str = "test", context: dict | None = None) -> dict:
    """Persist `body` as an import and run the pipeline on it, as a job would; returns the summary."""
    session = for_tenant(make_session_factory(url)(), tenant_id)
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
    session = observer(url)
    try:
        return session.scalars(select(model).order_by(*order_by)).all()
    finally:
        session.close()


def add_attributed_order(session: Session, tenant_id: int, order_id: str, io_id: str, revenue_cents: int = 0,
                         status: str = "open", day=None) -> AttributionEvent:
    """An order stored as the hub stores one matched by an IO's own code: its event, and (when it counts)
    one credit giving the IO the whole order."""
    from datetime import date

    event = AttributionEvent(tenant_id=tenant_id, platform="shopify", order_id=order_id, io_id=io_id,
                             revenue_cents=revenue_cents, status=status, day=day or date(2025, 1, 1))
    session.add(event)
    session.flush()
    if status in ("open", "currency_mismatch"):
        session.add(AttributionCredit(tenant_id=tenant_id, event_id=event.id, platform="shopify", io_id=io_id,
                                      day=event.day, model="io", share=1.0, whole_conversions=1,
                                      revenue_cents=revenue_cents if status == "open" else 0))
    return event


def messages(summary: dict) -> list[str]:
    return [error["message"] for error in summary["row_errors"]]


def load_import(url: str, import_id: str) -> EtlImport:
    session = observer(url)
    try:
        return session.get(EtlImport, import_id)
    finally:
        session.close()


def work(redis_url: str) -> None:
    """A real RQ worker in burst mode, with its scheduler so retries with intervals run too."""
    connection = Redis.from_url(redis_url)
    SimpleWorker([Queue("hub", connection=connection)], connection=connection).work(burst=True, with_scheduler=True)


def upload_csv(client, token: str, body: str, table: str = "metrics_daily") -> dict:
    """POST a CSV to the upload API; it must be accepted (202)."""
    response = client.post(
        "/api/v1/etl/upload",
        data={"table": table, "file": (io.BytesIO(body.encode()), "m.csv")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def backend_pid(session) -> int:
    """The PostgreSQL backend serving `session`'s connection (in its current transaction, if one is open)."""
    return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def wait_until_blocked_by(url: str, holder_pid: int, timeout: float = 10.0, interval: float = 0.02) -> int:
    """Wait until another backend of this database waits on a lock held by `holder_pid`; returns its pid.

    Polls pg_locks (ungranted locks) with pg_blocking_pids, each poll in its own transaction, because
    pg_stat_activity is read once per transaction. Fails the test if nothing blocks within `timeout` seconds.
    """
    import pytest

    query = text("""
        SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE NOT l.granted AND a.datname = current_database() AND :holder = ANY(pg_blocking_pids(l.pid))
        LIMIT 1""")
    engine = owner_engine(url)  # the observer sees every backend's locks
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            waiter = conn.execute(query, {"holder": holder_pid}).scalar()
            conn.rollback()
        if waiter is not None:
            return waiter
        if time.monotonic() > deadline:
            pytest.fail(f"no backend waited on a lock held by backend {holder_pid} within {timeout:g}s", pytrace=False)
        time.sleep(interval)


def job_process_facts() -> dict:
    """An RQ job's answer about the process it ran in: its pid, and whether pyarrow was already loaded."""
    return {"pid": os.getpid(), "pyarrow_loaded": "pyarrow" in sys.modules}
