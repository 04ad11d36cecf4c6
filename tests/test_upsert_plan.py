"""How PostgreSQL runs the upsert that keeps row history (hub/ingest/upsert.py): read from its own plan,
and its two ways in (a batch expected to update nothing, first written without the history's lock and
read; or every batch through them).

The statement reads each staged row's stored values before it writes them. Written as a join, or as a
LATERAL subquery the planner may pull up into one, PostgreSQL planned a hash of the tenant's whole
table for every batch: a million-row upsert then ran 4x slower at its end than at its start. Only
EXPLAIN ANALYZE shows which it does, so this test reads the plan of the statement the hub sends.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from hub.db import for_tenant, make_session_factory
from hub.ingest import upsert
from hub.ingest.intake import create_import
from hub.ingest.tables import TABLES
from hub.models import MetricsDaily, RowHistory
from tests.conftest import make_tenant
from tests.helpers import import_text, rows

STORED = 3000
CHANGED = 10


def _metrics_csv(count: int, downloads_offset: int = 0) -> str:
    first = date(2024, 1, 1)
    lines = [f"{first + timedelta(days=n // 4)},ep-{n % 4},youtube,{n + downloads_offset}" for n in range(count)]
    return "day,episode_id,source,downloads\n" + "\n".join(lines) + "\n"


def _nodes(plan: dict, within: str | None = None):
    """Every node of a JSON plan with the name of the CTE it belongs to."""
    within = plan.get("Subplan Name", within)
    yield plan, within
    for child in plan.get("Plans", []):
        yield from _nodes(child, within)


def test_the_history_read_probes_only_the_staged_rows(postgres_url, monkeypatch):
    tenant = make_tenant(postgres_url)
    assert import_text(postgres_url, tenant["id"], "metrics_daily", _metrics_csv(STORED))["counts"]["inserted"] == STORED

    plans = []
    real = upsert._with_history

    def explained(session, *args, **kwargs):
        """The statement as the hub builds it, run once first under EXPLAIN ANALYZE and rolled back."""
        statement, parameters = real(session, *args, **kwargs)
        with session.connection().connection.driver_connection.cursor() as cursor:
            cursor.execute("SAVEPOINT plan_probe")
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            plans.append(cursor.fetchone()[0])
            cursor.execute("ROLLBACK TO SAVEPOINT plan_probe")
            cursor.execute("RELEASE SAVEPOINT plan_probe")
        return statement, parameters

    monkeypatch.setattr(upsert, "_with_history", explained)
    records = [{"day": date(2024, 1, 1) + timedelta(days=n // 4), "episode_id": f"ep-{n % 4}", "source": "youtube",
                "downloads": n + 1} for n in range(CHANGED)]
    session = for_tenant(make_session_factory(postgres_url)(), tenant["id"])
    try:
        imp, _ = create_import(session, tenant_id=tenant["id"], source="test", table_name="metrics_daily",
                               input_format="csv", payload=b"")
        outcomes = upsert.apply_batch(session, TABLES["metrics_daily"], ["day", "episode_id", "source", "downloads"],
                                      tenant["id"], imp.id, records)
    finally:
        session.rollback()
        session.close()
    assert outcomes == ["updated"] * CHANGED

    plan, = plans
    plan = plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]
    reads = [(node["Node Type"], node["Actual Rows"] * node["Actual Loops"])
             for node, cte in _nodes(plan) if cte == "CTE old" and node.get("Relation Name") == "metrics_daily"]
    assert reads, f"the plan has no read of metrics_daily for the old values: {json.dumps(plan)[:2000]}"
    # One probe per staged row finds CHANGED rows in all; a scan of the tenant's rows reads all STORED.
    assert sum(rows for _, rows in reads) == CHANGED, f"the history read reads {reads}, expected {CHANGED} rows: {json.dumps(plan)[:2000]}"


def _batch_outcomes(url: str, tenant_id: int, records: list[dict], expect: str, keep: bool) -> list[str]:
    session = for_tenant(make_session_factory(url)(), tenant_id)
    try:
        imp, _ = create_import(session, tenant_id=tenant_id, source="test", table_name="metrics_daily",
                               input_format="csv", payload=b"")
        outcomes = upsert.apply_batch(session, TABLES["metrics_daily"], ["day", "episode_id", "source", "downloads"],
                                      tenant_id, imp.id, records, expect)
        session.commit() if keep else session.rollback()
        return outcomes
    finally:
        session.close()


@pytest.mark.parametrize("expect", [upsert.NO_UPDATES, upsert.ALL_NEW])
def test_a_batch_expected_to_update_nothing_ends_as_the_full_path_would(postgres_url, expect):
    tenant = make_tenant(postgres_url)
    import_text(postgres_url, tenant["id"], "metrics_daily", _metrics_csv(3))  # downloads 0, 1, 2
    day = date(2024, 1, 1)
    records = [
        {"day": day, "episode_id": "ep-0", "source": "youtube", "downloads": 10},    # stored 0: updated
        {"day": day, "episode_id": "ep-1", "source": "youtube", "downloads": 1},     # stored 1: unchanged
        {"day": day, "episode_id": "ep-2", "source": "youtube", "downloads": 12},    # stored 2: updated
        {"day": day, "episode_id": "ep-3", "source": "youtube", "downloads": 13},    # new
        {"day": day, "episode_id": "ep-4", "source": "youtube", "downloads": 14},    # new
    ]
    expected = ["updated", "unchanged", "updated", "inserted", "inserted"]
    # The path that takes every row through the lock and the read, rolled back: the answer to match.
    assert _batch_outcomes(postgres_url, tenant["id"], records, upsert.UPDATES, keep=False) == expected
    # Expected to be all new or to update nothing, it updates two rows: undone, and written again with their history.
    assert _batch_outcomes(postgres_url, tenant["id"], records, expect, keep=True) == expected

    stored = {m.episode_id: m.downloads for m in rows(postgres_url, MetricsDaily)}
    assert stored == {"ep-0": 10, "ep-1": 1, "ep-2": 12, "ep-3": 13, "ep-4": 14}
    history = sorted((h.row_key, h.changes) for h in rows(postgres_url, RowHistory))
    assert history == [("2024-01-01|ep-0|youtube", {"downloads": {"old": 0, "new": 10}}),
                       ("2024-01-01|ep-2|youtube", {"downloads": {"old": 2, "new": 12}})]
    # No updates: new rows inserted, stored ones unchanged, nothing more in the history.
    fresh = [dict(r, day=date(2024, 2, 1)) for r in records[3:]]
    assert (_batch_outcomes(postgres_url, tenant["id"], records + fresh, expect, keep=True)
            == ["unchanged"] * 5 + ["inserted"] * 2)
    assert len(rows(postgres_url, MetricsDaily)) == 7
    assert len(rows(postgres_url, RowHistory)) == 2
    # All new, as expected: every row inserted, with the import's id and stamp as the upsert writes them.
    newer = [dict(r, day=date(2024, 3, 1), downloads=20 + i) for i, r in enumerate(records)]
    assert _batch_outcomes(postgres_url, tenant["id"], newer, expect, keep=True) == ["inserted"] * 5
    march = [m for m in rows(postgres_url, MetricsDaily, MetricsDaily.episode_id) if m.day == date(2024, 3, 1)]
    assert [(m.episode_id, m.downloads) for m in march] == [(f"ep-{i}", 20 + i) for i in range(5)]
    assert all(m.import_id and m.last_updated and m.tenant_id == tenant["id"] for m in march)
    assert len(rows(postgres_url, RowHistory)) == 2
