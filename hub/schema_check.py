"""`hub db verify`: does the live database have every table, key and index the models declare?"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from . import row_security
from .models import Base


@dataclass
class SchemaReport:
    missing: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    revision: str | None = None
    head: str | None = None

    @property
    def ok(self) -> bool:
        return not self.missing and self.revision == self.head


def _live_indexes(conn: Connection, table: str) -> dict[str, bool]:
    """Index name -> unique, from the catalog itself: reflection skips expression indexes on SQLite."""
    if conn.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
    else:
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"
    return {name: sql.upper().startswith("CREATE UNIQUE") for name, sql in conn.execute(text(query), {"t": table})}


def check_schema(engine: Engine, head: str | None) -> SchemaReport:
    report = SchemaReport(head=head)
    with warnings.catch_warnings():
        # SQLite's reflection warns about expression indexes it cannot describe; we only need their names.
        warnings.simplefilter("ignore")
        inspector = inspect(engine)
        live_tables = set(inspector.get_table_names())
        if "alembic_version" in live_tables:
            with engine.connect() as conn:
                report.revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        for table in Base.metadata.sorted_tables:
            if table.name not in live_tables:
                report.missing.append(f"table {table.name}")
                continue
            live_columns = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in live_columns:
                    report.missing.append(f"column {table.name}.{column.name}")
            live_uniques = {u["name"]: tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)}
            live_indexes = {i["name"]: i for i in inspector.get_indexes(table.name)}
            for constraint in table.constraints:
                if constraint.__class__.__name__ != "UniqueConstraint":
                    continue
                columns = tuple(c.name for c in constraint.columns)
                found = live_uniques.get(constraint.name)
                # PostgreSQL may report a unique key as a unique index; either enforces it.
                index = live_indexes.get(constraint.name)
                if found is None and index is not None and index.get("unique"):
                    found = tuple(index["column_names"])
                if found != columns:
                    report.missing.append(f"unique key {constraint.name} on {table.name} ({', '.join(columns)})")
            with engine.connect() as conn:
                catalog = _live_indexes(conn, table.name)
            for index in table.indexes:
                if catalog.get(index.name) != bool(index.unique):
                    kind = "unique index" if index.unique else "index"
                    report.missing.append(f"{kind} {index.name} on {table.name}")
            with engine.connect() as conn:
                report.row_counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            for table in row_security.tables_without_policy(conn, row_security.tenant_tables(Base.metadata)):
                report.missing.append(f"row-level security policy {row_security.POLICY} on {table} "
                                      "(ENABLE and FORCE ROW LEVEL SECURITY)")
            if problem := row_security.app_role_problem(conn):
                report.missing.append(problem)
    return report
