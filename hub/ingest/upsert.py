"""Upserts: write a batch of validated records, telling which were inserted, updated or unchanged.

PostgreSQL takes the fast path (COPY into a temporary staging table, then one INSERT ... ON
CONFLICT that rewrites only rows whose values differ); SQLite, which has one writer at a time,
compares with what is stored and writes only the differences. `apply_batch` picks the path.
"""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ..history import changed_columns, record_changes, row_key
from ..models import EtlImport, utcnow
from .spec import TableSpec

INSERTED, UPDATED, UNCHANGED = "inserted", "updated", "unchanged"


def apply_batch(
    session: Session,
    spec: TableSpec,
    present: Sequence[str],
    tenant_id: int,
    import_id: str,
    records: Sequence[dict],
) -> list[str]:
    """Upsert `records` (keys unique within the batch); returns each record's outcome, in order."""
    if not records:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _apply_postgresql(session, spec, present, tenant_id, import_id, records)
    return _apply_generic(session, spec, present, tenant_id, import_id, records)


def _keep_history(session, spec: TableSpec, tenant_id: int, import_id: str, entries: list[tuple[str, dict]]) -> None:
    if entries:
        imp = session.get(EtlImport, import_id)  # already in the session: the pipeline holds it
        record_changes(session, tenant_id, spec.name, entries, imp.source if imp else "import", import_id)


def _value_columns(spec: TableSpec, present: Sequence[str]) -> list[str]:
    return [name for name in present if name not in spec.key]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _apply_postgresql(session, spec, present, tenant_id, import_id, records) -> list[str]:
    key = list(spec.key)
    values = _value_columns(spec, present)
    columns = key + values
    defaults = {name: value for name, value in spec.insert_defaults.items() if name not in present}
    table = _quote(spec.table.name)
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        # Created per batch and dropped at commit; dropped first too, for a second batch in one transaction.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.hub_staging")
        cursor.execute(
            f"CREATE TEMP TABLE hub_staging ON COMMIT DROP AS "
            f"SELECT {', '.join(map(_quote, columns))} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY hub_staging ({', '.join(map(_quote, columns))}) FROM STDIN") as copy:
            for record in records:
                copy.write_row([record[name] for name in columns])

        stored: dict[tuple, dict] = {}
        if spec.keeps_history and values:
            # The values these rows hold now, for their history. Locked (in key order, as the upsert below
            # takes them) so that no concurrent import changes them between this read and the write.
            cursor.execute(
                f"SELECT {', '.join('s.' + _quote(n) for n in key)}, {', '.join('t.' + _quote(n) for n in values)} "
                f"FROM hub_staging s JOIN {table} t ON t.tenant_id = %(tenant_id)s AND "
                + " AND ".join(f"t.{_quote(n)} = s.{_quote(n)}" for n in key)
                + f" ORDER BY {', '.join('t.' + _quote(n) for n in key)} FOR UPDATE OF t", {"tenant_id": tenant_id})
            stored = {tuple(row[:len(key)]): dict(zip(values, row[len(key):])) for row in cursor.fetchall()}

        insert_columns = ["tenant_id", *columns, *defaults, "import_id", spec.touched_at]
        select_list = ["%(tenant_id)s", *map(_quote, columns), *(f"%(default_{n})s" for n in defaults), "%(import_id)s", "%(now)s"]
        if spec.created_at:
            insert_columns.append(spec.created_at)
            select_list.append("%(now)s")
        if values:
            changed = (
                f"({', '.join('t.' + _quote(n) for n in values)}) IS DISTINCT FROM "
                f"({', '.join('EXCLUDED.' + _quote(n) for n in values)})"
            )
            assignments = ", ".join(f"{_quote(n)} = EXCLUDED.{_quote(n)}" for n in (*values, "import_id", spec.touched_at))
            on_conflict = f"DO UPDATE SET {assignments} WHERE {changed}"
        else:
            on_conflict = "DO NOTHING"
        # Rows go in key order so that concurrent imports lock shared rows in the same order: no deadlocks.
        cursor.execute(
            f"INSERT INTO {table} AS t ({', '.join(map(_quote, insert_columns))}) "
            f"SELECT {', '.join(select_list)} FROM hub_staging ORDER BY {', '.join(map(_quote, key))} "
            f"ON CONFLICT (tenant_id, {', '.join(map(_quote, key))}) {on_conflict} "
            f"RETURNING {', '.join('t.' + _quote(n) for n in key)}, (t.xmax = 0) AS inserted",
            {
                "tenant_id": tenant_id,
                "import_id": import_id,
                "now": utcnow(),
                **{f"default_{n}": value for n, value in defaults.items()},
            },
        )
        written = {tuple(row[:-1]): INSERTED if row[-1] else UPDATED for row in cursor.fetchall()}
    outcomes = [written.get(tuple(record[name] for name in key), UNCHANGED) for record in records]
    if stored:
        _keep_history(session, spec, tenant_id, import_id, [
            (row_key([record[n] for n in key]), changed_columns(stored[tuple(record[n] for n in key)], record, values))
            for record, outcome in zip(records, outcomes) if outcome == UPDATED])
    return outcomes


def _apply_generic(session, spec, present, tenant_id, import_id, records) -> list[str]:
    table = spec.table
    key = list(spec.key)
    values = _value_columns(spec, present)
    now = utcnow()
    lookup = select(table.c.id, *(table.c[n] for n in values)).where(
        and_(table.c.tenant_id == tenant_id, *(table.c[n] == _bind(n) for n in key))
    )
    outcomes: list[str] = []
    inserts: list[dict] = []
    history: list[tuple[str, dict]] = []
    for record in records:
        stored = session.execute(lookup, {f"key_{n}": record[n] for n in key}).first()
        if stored is None:
            row = {name: value for name, value in spec.insert_defaults.items() if name not in present}
            row.update({name: record[name] for name in (*key, *values)})
            row.update({"tenant_id": tenant_id, "import_id": import_id, spec.touched_at: now})
            if spec.created_at:
                row[spec.created_at] = now
            inserts.append(row)
            outcomes.append(INSERTED)
        elif any(stored[i + 1] != record[name] for i, name in enumerate(values)):
            changes = {name: record[name] for name in values}
            if spec.keeps_history:
                old = {name: stored[i + 1] for i, name in enumerate(values)}
                history.append((row_key([record[n] for n in key]), changed_columns(old, record, values)))
            session.execute(
                update(table).where(table.c.id == stored[0]).values(**changes, import_id=import_id, **{spec.touched_at: now})
            )
            outcomes.append(UPDATED)
        else:
            outcomes.append(UNCHANGED)
    if inserts:
        session.execute(insert(table), inserts)
    _keep_history(session, spec, tenant_id, import_id, history)
    return outcomes


def _bind(name: str):
    return bindparam(f"key_{name}")
