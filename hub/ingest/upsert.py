"""Upserts: write a batch of validated records, telling which were inserted, updated or unchanged.

PostgreSQL takes the fast path (COPY into a temporary staging table, then one INSERT ... ON
CONFLICT that rewrites only rows whose values differ); SQLite, which has one writer at a time,
compares with what is stored and writes only the differences. `apply_batch` picks the path.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Sequence

import psycopg
from sqlalchemy import Date, Float, Numeric, and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ..history import changed_columns, record_changes, row_key
from ..models import EtlImport, RowHistory, utcnow
from .spec import TableSpec

INSERTED, UPDATED, UNCHANGED = "inserted", "updated", "unchanged"
# What a batch most likely holds, judged by the batch before it: the cheapest way to write that is tried
# first (on PostgreSQL), and undone for the next one when the batch holds something else.
ALL_NEW, NO_UPDATES, UPDATES = "all new", "no updates", "updates"


def expectation_after(outcomes: Sequence[str]) -> str:
    """What to expect of the next batch, from this one's outcomes."""
    if UPDATED in outcomes:
        return UPDATES
    return ALL_NEW if outcomes and all(outcome == INSERTED for outcome in outcomes) else NO_UPDATES


def apply_batch(
    session: Session,
    spec: TableSpec,
    present: Sequence[str],
    tenant_id: int,
    import_id: str,
    records: Sequence[dict],
    expect: str = UPDATES,
) -> list[str]:
    """Upsert `records` (keys unique within the batch); returns each record's outcome, in order.

    `expect`: what the caller expects the batch to hold (`expectation_after` the batch before). On
    PostgreSQL, ALL_NEW tries a plain INSERT first, and NO_UPDATES (a replay) an upsert without the
    history's lock and read; each is undone, and the batch written the next way, when the batch holds
    something else. The outcomes, rows and history are the same whatever is expected."""
    if not records:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _apply_postgresql(session, spec, present, tenant_id, import_id, records, expect)
    return _apply_generic(session, spec, present, tenant_id, import_id, records)


def _keep_history(session, spec: TableSpec, tenant_id: int, import_id: str, entries: list[tuple[str, dict]]) -> None:
    if entries:
        imp = session.get(EtlImport, import_id)  # already in the session: the pipeline holds it
        record_changes(session, tenant_id, spec.name, entries, imp.source if imp else "import", import_id)


def _value_columns(spec: TableSpec, present: Sequence[str]) -> list[str]:
    return [name for name in present if name not in spec.key]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _apply_postgresql(session, spec, present, tenant_id, import_id, records, expect=UPDATES) -> list[str]:
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
        staged = itemgetter(*columns) if len(columns) > 1 else lambda record: (record[columns[0]],)
        with cursor.copy(f"COPY hub_staging ({', '.join(map(_quote, columns))}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(staged(record))

        insert_columns = ["tenant_id", *columns, *defaults, "import_id", spec.touched_at]
        select_list = ["%(tenant_id)s", *map(_quote, columns), *(f"%(default_{n})s" for n in defaults), "%(import_id)s", "%(now)s"]
        if spec.created_at:
            insert_columns.append(spec.created_at)
            select_list.append("%(now)s")
        # Rows go in key order so that concurrent imports lock shared rows in the same order: no deadlocks.
        insert_staged = (
            f"INSERT INTO {table} AS t ({', '.join(map(_quote, insert_columns))}) "
            f"SELECT {', '.join(select_list)} FROM hub_staging ORDER BY {', '.join(map(_quote, key))} "
        )
        parameters = {
            "tenant_id": tenant_id,
            "import_id": import_id,
            "now": utcnow(),
            **{f"default_{n}": value for n, value in defaults.items()},
        }

        def all_inserted() -> list[str] | None:
            # A plain INSERT costs the server about a fifth less than INSERT ... ON CONFLICT with RETURNING
            # (speculative insertion per row). A stored key stops it at once with a unique violation. (A
            # unique key other than the table's is broken here and in the upsert alike, which raises it.)
            try:
                cursor.execute(insert_staged, parameters)
            except psycopg.errors.UniqueViolation:
                return None
            return [INSERTED] * len(records)

        if expect == ALL_NEW:
            if (outcomes := _kept_if_answered(cursor, all_inserted)) is not None:
                return outcomes
            expect = NO_UPDATES  # some rows are stored: written next the way a replay is
        insert_staged += f"ON CONFLICT (tenant_id, {', '.join(map(_quote, key))}) "
        if values:
            changed = _differ(values, "t", "EXCLUDED")
            assignments = ", ".join(f"{_quote(n)} = EXCLUDED.{_quote(n)}" for n in (*values, "import_id", spec.touched_at))
            on_conflict = f"DO UPDATE SET {assignments} WHERE {changed}"
        else:
            on_conflict = "DO NOTHING"
        upsert = insert_staged + f"{on_conflict} RETURNING {', '.join('t.' + _quote(n) for n in key)}, (t.xmax = 0) AS inserted"
        history = spec.keeps_history and bool(values)

        def none_updated() -> list[str] | None:
            # Inserted rows have no history and unchanged rows none either, so a batch that updates no
            # row needs neither the lock nor the read of old values below.
            cursor.execute(upsert, parameters)
            returned = cursor.fetchall()
            return _outcomes(records, key, returned) if all(row[-1] for row in returned) else None

        if history and expect == NO_UPDATES and (outcomes := _kept_if_answered(cursor, none_updated)) is not None:
            return outcomes
        if history:
            # Lock the rows this batch will change, in key order (as the upsert below takes them), so that
            # what the upsert reads as their old values is still what they hold when it writes. Only those:
            # locking writes to every locked row, and a replay changes none.
            cursor.execute(
                f"SELECT count(*) FROM (SELECT * FROM hub_staging ORDER BY {', '.join(map(_quote, key))}) s "
                f"CROSS JOIN LATERAL (SELECT 1 FROM {table} t WHERE {_same_row(key)} "
                f"AND {_differ(values, 't', 's')} FOR UPDATE) locked",
                {"tenant_id": tenant_id})
            upsert, parameters = _with_history(session, spec, key, values, upsert, parameters)
        cursor.execute(upsert, parameters)
        returned = cursor.fetchall()
    return _outcomes(records, key, returned)


def _kept_if_answered(cursor, attempt) -> list[str] | None:
    """`attempt()` in a savepoint: its writes stay when it returns the outcomes, and are undone when it
    returns None (the batch held something else than expected, and is written the next way)."""
    cursor.execute("SAVEPOINT hub_attempt")
    outcomes = attempt()
    if outcomes is None:
        cursor.execute("ROLLBACK TO SAVEPOINT hub_attempt")
    cursor.execute("RELEASE SAVEPOINT hub_attempt")
    return outcomes


def _outcomes(records, key: list[str], returned: list[tuple]) -> list[str]:
    """Each record's outcome from the rows the upsert returned: (key values..., inserted)."""
    # A batch is most often all new (a first import) or all unchanged (a replay): no need to match rows then.
    if not returned:
        return [UNCHANGED] * len(records)
    if len(returned) == len(records) and all(row[-1] for row in returned):
        return [INSERTED] * len(records)
    written = {tuple(row[:-1]): INSERTED if row[-1] else UPDATED for row in returned}
    return [written.get(tuple(record[name] for name in key), UNCHANGED) for record in records]


def _with_history(session, spec: TableSpec, key: list[str], values: list[str], upsert: str, parameters: dict):
    """The upsert, made to write each updated row's history in the same statement: the changed columns'
    old and new values, as `hub.history.changed_columns` does on SQLite, without the rows travelling
    to Python and back. Every part of one statement reads the same snapshot, so `old` holds the values
    from before the upsert; the rows that differ were locked by the statement before, so nothing else
    changed them since. (A row that equalled its input then and that another import changes within
    these few milliseconds is updated with an old value one change behind in its history.)"""
    table = _quote(spec.table.name)
    imp = session.get(EtlImport, parameters["import_id"])  # already in the session: the pipeline holds it
    returning = ", ".join(["t.id", *("t." + _quote(n) for n in values)])
    changes = " || ".join(
        f"CASE WHEN o.{_quote(n)} IS DISTINCT FROM w.{_quote(n)} THEN jsonb_build_object({_literal(n)}, "
        f"jsonb_build_object('old', {_json(spec, 'o', n)}, 'new', {_json(spec, 'w', n)})) ELSE '{{}}'::jsonb END"
        for n in values)
    row_key = f"concat_ws('|', {', '.join(_key_text(spec, 'w', n) for n in key)})"
    statement = (
        f"WITH old AS MATERIALIZED (SELECT t.* FROM hub_staging s CROSS JOIN LATERAL "
        f"(SELECT t.id, {', '.join('t.' + _quote(n) for n in values)} FROM {table} t WHERE {_same_row(key)} LIMIT 1) t), "
        f"written AS ({upsert}, {returning}), "
        f"history AS (INSERT INTO {RowHistory.__tablename__} (tenant_id, table_name, row_key, changes, source, import_id, changed_at) "
        f"SELECT %(tenant_id)s, %(history_table)s, {row_key}, {changes}, %(history_source)s, %(import_id)s, %(now)s "
        f"FROM written w JOIN old o ON o.id = w.id WHERE NOT w.inserted) "
        f"SELECT {', '.join('w.' + _quote(n) for n in key)}, w.inserted FROM written w"
    )
    return statement, dict(parameters, history_table=spec.name, history_source=imp.source if imp else "import")


def _same_row(key: list[str]) -> str:
    """The stored row of a staged one, for a LATERAL subquery: one probe of the table's unique key per
    staged row. (A plain join let the planner hash the whole table for every batch, since a temporary
    table has no statistics: a million-row import took minutes per 100,000 rows by its end.) The
    subquery must not be one the planner can pull up into a join, or it plans that same hash join:
    FOR UPDATE or LIMIT 1 (the key is unique, so LIMIT 1 changes no answer) keeps it a probe."""
    return "t.tenant_id = %(tenant_id)s AND " + " AND ".join(f"t.{_quote(n)} = s.{_quote(n)}" for n in key)


def _differ(values: list[str], left: str, right: str) -> str:
    """Whether the value columns of row `left` and row `right` differ anywhere (NULLs compared as values)."""
    return (f"({', '.join(f'{left}.{_quote(n)}' for n in values)}) IS DISTINCT FROM "
            f"({', '.join(f'{right}.{_quote(n)}' for n in values)})")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json(spec: TableSpec, alias: str, name: str) -> str:
    """A column's value as JSON the way `hub.history.jsonable` writes it: dates ISO, decimals as text."""
    column = f"{alias}.{_quote(name)}"
    if isinstance(spec.table.c[name].type, Numeric) and not isinstance(spec.table.c[name].type, Float):
        return f"to_jsonb({column}::text)"
    return f"to_jsonb({column})"


def _key_text(spec: TableSpec, alias: str, name: str) -> str:
    """A key value as `hub.history.row_key` writes it: a date as YYYY-MM-DD whatever the session's DateStyle."""
    column = f"{alias}.{_quote(name)}"
    if isinstance(spec.table.c[name].type, Date):
        return f"to_char({column}, 'YYYY-MM-DD')"
    return f"{column}::text"


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
