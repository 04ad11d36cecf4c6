"""What an importable table is made of: its columns and their parsers, its key, its per-row rules, and
one rules object for what it does beyond a plain upsert (database checks, its own writer, what follows a
write). The tables themselves are in hub/ingest/tables/, one module each.

This module imports only the value parsers, so every other module of the hub may import it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Callable, ClassVar

from sqlalchemy import Table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..config import Settings

# A pure rule on one parsed row: [(column, why it is refused), ...].
RowRule = Callable[[dict], list[tuple[str, str]]]
# Columns the hub itself writes into a sheet; they come back in pushes and are not data.
HUB_COLUMNS = frozenset({"hub_status", "hub_synced_at"})

# What may follow an import of a table (hub/jobs/after_import.py runs them, from jobs, syncs and the API).
REFRESH_DELIVERY = "refresh-delivery"  # new downloads may complete IOs
MIRROR = "mirror"                      # the hub changed values a sheet shows (IO statuses, deal stages)


class UnusableInput(ValueError):
    """The input as a whole cannot be imported (bad header, unreadable file); no row was applied."""


@dataclass(frozen=True)
class RowError:
    row_number: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row_number}" if self.row_number is not None else "input"
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


@dataclass(frozen=True)
class Column:
    name: str
    parse: Callable[[object], object]
    required: bool = False
    # Another header that carries the same value in other units, e.g. `revenue` in currency units.
    alias: str | None = None
    alias_parse: Callable[[object], object] | None = None
    # A key column must have a value in every row.
    key: bool = False


class TableRules:
    """A table's behaviour beyond validating and upserting rows, for one run of one import.

    A fresh object is made for every run (`spec.rules(source, settings)`), so what it learns on the way (an IO's
    status before the write, why a sheet row kept the hub's value) is its own typed state, for that
    input only. The pipeline calls, per batch and in the batch's transaction:
    `per_input` for each valid row in input order (rules across the input's rows), `check` before the
    write (rules that need the database), `write` when the table is not a plain upsert, `after_write`
    once the batch's rows are written.
    """

    # False: the table writes its batch itself (`write`), e.g. conversions are attributed, not upserted.
    upserts: ClassVar[bool] = True

    def __init__(self, source: str, settings: Settings | None = None):
        self.source = source
        # The hub's settings where the import runs under them (jobs, syncs, requests), e.g. the
        # attribution window; None in tests and tools that run the pipeline bare.
        self.settings = settings
        # Row number -> why a value in it was kept as the hub's, for the row's status in its sheet.
        self.notes: dict[int, str] = {}

    def per_input(self, row_number: int, record: dict) -> RowError | None:
        return None

    def check(self, session: Session, tenant_id: int, numbered: list[tuple[int, dict]]) -> dict[int, RowError]:
        return {}

    def write(self, session: Session, tenant_id: int, import_id: str, records: list[dict]) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} upserts; the pipeline writes its rows")

    def after_write(self, session: Session, tenant_id: int, records: list[dict], outcomes: list[str]) -> None:
        return None


@dataclass(frozen=True)
class TableSpec:
    name: str
    table: Table
    columns: tuple[Column, ...]
    row_rules: tuple[RowRule, ...] = ()
    rules: type[TableRules] = TableRules
    # Used when a new row is inserted and the input has no such column; an update leaves them alone.
    insert_defaults: dict[str, object] = field(default_factory=dict)
    # Set to now whenever a row is written; only a real change writes a row.
    touched_at: str = "last_updated"
    created_at: str | None = None
    # The feature flag (a FeatureFlags field) that switches the table off, and what a refused input is told.
    flag: str | None = None
    switched_off: str = ""
    # Whether a sheet tab of this name is pushed by the Apps Script (conversions come from shops and zaps).
    sheet_tab: bool = True
    # What follows an import of this table (REFRESH_DELIVERY, MIRROR).
    after_import: tuple[str, ...] = ()
    # Whether an update keeps the old and new values of its changed columns (hub/history.py).
    keeps_history: bool = False

    @cached_property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class SourceSpec:
    """Where an import came from, as far as what follows it is concerned."""

    name: str
    # The input's rows can be told how they went, one by one (a sheet's hub_status cells): the import
    # keeps each row's outcome, and a write-back follows it.
    writes_back: bool = False


SHEETS = SourceSpec("sheets", writes_back=True)
_SOURCES = {SHEETS.name: SHEETS}


def source_spec(name: str) -> SourceSpec:
    """A source's declaration; sources that declare nothing (uploads, zaps, the CLI, syncs) get the defaults."""
    return _SOURCES.get(name) or SourceSpec(name)
