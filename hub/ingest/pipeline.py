"""The one ingest pipeline: every source's rows are validated, upserted and recorded here.

An import is applied in batches, each its own transaction holding the batch's rows, its row
errors and the import's counters, so a crash leaves no half-applied batch and a rerun resumes
after the last committed one with its counts intact.
"""
from __future__ import annotations

import gc
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from itertools import islice
from operator import itemgetter
from typing import BinaryIO, Iterator, Mapping

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import for_tenant
from ..events import emit
from ..models import FINISHED_STATUSES, EtlImport, EtlImportChunk, EtlRowError, utcnow
from . import bounds
from .readers import ChunkStream, open_rows
from .seen_keys import SeenKeys
from .spec import RowError, TableRules, TableSpec, UnusableInput, source_spec
from .tables import TABLES
from .upsert import ALL_NEW, apply_batch, expectation_after
from .values import DEFAULT_LOCALE
from .validate import Header, raw_values, read_header, validate_row

log = logging.getLogger(__name__)
# Sheet pushes are small; keeping each row's outcome lets the write-back tell every row how it went.
MAX_TRACKED_ROWS = 10_000


def open_payload(session: Session, imp: EtlImport, stack: ExitStack, *, apart: bool = False) -> BinaryIO:
    """The import's input as a binary file. `apart`: stored chunks are read on a session of their own, one
    short transaction each, so that another thread than the one using `session` can read the input (a run's
    input is committed before the run starts and never changes; an uncommitted one must be read on its own
    transaction's session)."""
    local_path = (imp.context or {}).get("local_path")
    if local_path:
        return stack.enter_context(open(local_path, "rb"))

    query = select(EtlImportChunk.data).where(EtlImportChunk.import_id == imp.id, EtlImportChunk.seq == bindparam("seq"))
    reader = for_tenant(stack.enter_context(Session(bind=session.get_bind())), imp.tenant_id) if apart else session

    def fetch(seq: int) -> bytes | None:
        data = reader.execute(query, {"seq": seq}).scalar()
        if apart:
            reader.rollback()  # no transaction left open between chunks
        return data

    return stack.enter_context(ChunkStream(fetch))


def count_rows(session: Session, imp: EtlImport) -> int:
    """How many rows an import's input holds, read the way its run will read them (what the rows quota
    counts, before the import is committed). An input its reader refuses counts the rows before that."""
    counted = 0
    with ExitStack() as stack:
        try:
            for _ in open_rows(open_payload(session, imp, stack), imp.input_format, imp.table_name).rows:
                counted += 1
        except UnusableInput:
            pass
    return counted


class _InputState:
    """What must be remembered across batches: keys already seen, and what the table's own rules keep."""

    def __init__(self, spec: TableSpec, rules: TableRules):
        self.spec = spec
        self.rules = rules
        # Python's hash of the key tuple stands in for the key, so a million-row input keeps a
        # million hashes (12 bytes each), not a million tuples of strings.
        self.seen = SeenKeys()
        # Called for every row, so the key comes out in C, and a table without rules across its rows pays no call.
        self._key = itemgetter(*spec.key) if len(spec.key) > 1 else lambda record: (record[spec.key[0]],)
        self._per_input = None if type(rules).per_input is TableRules.per_input else rules.per_input
        # What the next batch likely holds, judged by the last one (a first import: all new; a replay: no
        # updates); the upsert tries the cheapest way to write that first.
        self.expect = ALL_NEW

    def check(self, row_number: int, record: dict) -> list[RowError]:
        key = self._key(record)
        first = self.seen.first_row(hash(key), row_number)
        if first != row_number:
            shown = ", ".join(str(v.isoformat() if hasattr(v, "isoformat") else v) for v in key)
            return [RowError(row_number, self.spec.key[-1] if len(key) == 1 else None,
                             f"duplicate of row {first}: same {', '.join(self.spec.key)} ({shown}); "
                             "expected each key once per input")]
        error = self._per_input(row_number, record) if self._per_input else None
        return [error] if error else []


def _batches(rows: Iterator[tuple[int, list]], size: int) -> Iterator[list[tuple[int, list]]]:
    while batch := list(islice(rows, size)):
        yield batch


class LeaseLost(RuntimeError):
    """Another run holds this import now (this one was taken for dead): stop without writing anything."""


DEFAULT_LEASE_SECONDS = 30


def _take_lease(session: Session, import_id: str, owner: str, seconds: int) -> bool:
    """Hold the import for `seconds`, unless a live run holds it. One guarded UPDATE, so of two runs that
    try at once (an orphaned job process and its replacement) exactly one wins."""
    now = utcnow()
    taken = session.execute(
        update(EtlImport)
        .where(EtlImport.id == import_id, EtlImport.status.not_in(FINISHED_STATUSES),
               or_(EtlImport.lease_owner.is_(None), EtlImport.lease_owner == owner,
                   EtlImport.lease_expires_at < now))
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)).rowcount
    return taken == 1


def _renew_lease(session: Session, imp: EtlImport, owner: str, seconds: int) -> None:
    """In the batch's own transaction: the batch commits only while this run still holds the import.
    The UPDATE locks the row, so a run taking over waits for this commit and then finds the lease fresh."""
    if not _take_lease(session, imp.id, owner, seconds):
        session.rollback()
        raise LeaseLost(f"import {imp.id}: another run holds it now; this run stops")


def rerun_can_change(imp: EtlImport) -> bool:
    """Whether running the import again could end otherwise: yes after a fault (the database went away,
    a worker died), no for an input refused as a whole (a bad header stays bad) or one that completed."""
    return imp.status not in ("completed", "completed_with_errors") and not (imp.context or {}).get("refused_whole")


def _fail(session: Session, imp: EtlImport, message: str) -> None:
    """The input as a whole is refused: the import fails, and no rerun of the same input can change that."""
    imp.status, imp.error, imp.finished_at, imp.updated_at = "failed", message, utcnow(), utcnow()
    imp.lease_owner = imp.lease_expires_at = None
    imp.context = dict(imp.context or {}, refused_whole=True)
    emit(session, imp.tenant_id, "etl.error", import_event_payload(imp), subject=imp.id)


def import_locale(imp: EtlImport) -> str:
    """The locale the import's text cells are read in: the one it was sent with, else the hub's default."""
    return (imp.context or {}).get("locale") or DEFAULT_LOCALE


def import_event_payload(imp: EtlImport) -> dict:
    return {
        "import_id": imp.id,
        "source": imp.source,
        "table": imp.table_name,
        "status": imp.status,
        "rows_total": imp.rows_total,
        "inserted": imp.rows_inserted,
        "updated": imp.rows_updated,
        "unchanged": imp.rows_unchanged,
        "refused": imp.rows_refused,
        "error": imp.error,
    }


def _apply_batches(session, imp, spec, header, state, header_cells, batches, track, renew, ahead: bool) -> None:
    # A CSV's text cells are checked a column at a time; workbooks and pushes carry typed cells, row by row.
    validate_rows = None
    if imp.input_format == "csv":
        from . import columnar  # imported here: only CSV imports pay pyarrow's ~50 MiB

        validate_rows = columnar.validator_for(header)

    def read_and_validate() -> tuple[list, tuple] | None:
        batch = next(batches, None)
        return None if batch is None else (batch, _validate_batch(header, state, batch, validate_rows))

    for batch, (good, refused) in _one_ahead(read_and_validate) if ahead else iter(read_and_validate, None):
        renew()
        _write_batch(session, imp, spec, state, header, header_cells, len(batch), good, refused, track)


def _one_ahead(produce) -> Iterator:
    """`produce()`'s results until it returns None, each next one produced in a second thread while the
    caller works on the last: Python reads and checks the next batch while PostgreSQL writes this one (the
    GIL is free while psycopg waits for the server). One call at a time and in order, so the keys seen and
    every row's messages are those of one batch after another, and an error reading the input (bad quoting
    midway) is raised after the batches before it are written, as it was."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-read-ahead") as thread:
        pending = thread.submit(produce)
        while (produced := pending.result()) is not None:
            pending = thread.submit(produce)
            yield produced


@contextmanager
def _long_lived_objects_frozen():
    """An import allocates a few objects per cell, so the garbage collector runs often, and each of its
    full passes walked every object the process had loaded (the app, SQLAlchemy, the parsers): a fifth
    of a 100,000-row import's time. Frozen, those are left out of the passes until the import ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_import(session: Session, import_id: str, batch_rows: int = 5000,
               lease_seconds: int = DEFAULT_LEASE_SECONDS, tables: Mapping[str, TableSpec] = TABLES,
               settings: Settings | None = None) -> EtlImport:
    """Run (or resume) one import to its end. Commits as it goes; raises only on faults worth a retry.

    One run at a time: the run holds a lease on the import, renewed with every batch. A second run
    (a duplicate job, an orphaned job process next to its replacement) finds it held and leaves; a run
    whose lease lapsed (its worker was killed) is replaced, and stops at its next batch if it was not dead."""
    imp = session.get(EtlImport, import_id)
    if imp is None:
        raise LookupError(f"import {import_id} does not exist")
    if imp.status in FINISHED_STATUSES:
        return imp  # a duplicate job or a replay: nothing to do twice
    owner = uuid.uuid4().hex
    if not _take_lease(session, import_id, owner, lease_seconds):
        session.rollback()
        raise LeaseLost(f"import {import_id} is being run by another worker; this run leaves it to that one")
    session.commit()
    session.refresh(imp)

    def renew() -> None:
        _renew_lease(session, imp, owner, lease_seconds)

    try:
        with _long_lived_objects_frozen():
            return _run_held(session, imp, tables, settings, batch_rows, renew)
    except LeaseLost:
        raise
    except BaseException:
        # A fault this process lives through (not a kill): let the retry take the import at once.
        session.rollback()
        session.execute(update(EtlImport).where(EtlImport.id == import_id, EtlImport.lease_owner == owner)
                        .values(lease_owner=None, lease_expires_at=None).execution_options(synchronize_session=False))
        session.commit()
        raise


def _run_held(session: Session, imp: EtlImport, tables: Mapping[str, TableSpec], settings: Settings | None,
              batch_rows: int, renew) -> EtlImport:
    imp.status, imp.error, imp.updated_at = "running", None, utcnow()
    imp.started_at = imp.started_at or utcnow()
    imp.attempts += 1
    session.commit()
    started = time.monotonic()

    spec = tables.get(imp.table_name)
    header_cells: list = []
    with ExitStack() as stack:
        try:
            if spec is None:
                raise UnusableInput(f"table: expected one of {', '.join(tables)}, found {imp.table_name!r}")
            # On PostgreSQL the next batch is read and validated in a second thread while this one is written;
            # the input is then read on a connection of its own from the same engine.
            bind = session.get_bind()
            ahead = isinstance(bind, Engine) and bind.dialect.name == "postgresql"
            stream = open_rows(open_payload(session, imp, stack, apart=ahead), imp.input_format, imp.table_name)
            header_cells = stream.header
            header = read_header(spec, header_cells, import_locale(imp))
        except UnusableInput as error:
            renew()
            _fail(session, imp, str(error))
            # One whole-input error per import, however often it is run.
            session.execute(delete(EtlRowError).where(EtlRowError.import_id == imp.id, EtlRowError.row_number.is_(None)))
            session.add(EtlRowError(import_id=imp.id, tenant_id=imp.tenant_id, row_number=None, column=None,
                                    message=str(error), raw={"header": [str(c) for c in header_cells]}))
            session.commit()
            log.warning("import %s refused whole: %s", imp.id, error)
            return imp
        imp.unknown_columns = header.unknown or None
        rules = spec.rules(imp.source, settings)
        state = _InputState(spec, rules)
        track = source_spec(imp.source).writes_back
        try:
            rows = stream.rows
            for _ in range(imp.rows_done):
                # Applied by an earlier attempt: only remember its keys, for the duplicate checks.
                number, values = next(rows)
                record, _ = validate_row(header, number, values)
                if record is not None:
                    state.check(number, record)
            _apply_batches(session, imp, spec, header, state, stream.header, _batches(rows, batch_rows), track, renew, ahead)
        except UnusableInput as error:  # a reader can find the input broken midway (bad CSV quoting...)
            session.rollback()
            renew()
            _fail(session, imp, str(error))
            session.commit()
            return imp
    # Completion is emitted in the transaction that ends the lease, so only the run that holds it can
    # complete the import: whatever happens, etl.import_completed is written once.
    renew()
    imp.status = "completed_with_errors" if imp.rows_refused else "completed"
    imp.finished_at = imp.updated_at = utcnow()
    imp.lease_owner = imp.lease_expires_at = None
    emit(session, imp.tenant_id, "etl.import_completed", import_event_payload(imp), subject=imp.id)
    if imp.rows_refused:
        emit(session, imp.tenant_id, "etl.error", import_event_payload(imp), subject=imp.id)
    session.commit()
    log.info("import %s %s: %d rows in %.2fs", imp.id, imp.status, imp.rows_total, time.monotonic() - started)
    return imp


def _validate_batch(header: Header, state: _InputState, batch, validate_rows=None) -> tuple[list, list]:
    """No database: what is good and what is refused, and why."""
    good: list[tuple[int, dict, list]] = []
    refused: list[tuple[list, list[RowError]]] = []
    checked = validate_rows(batch) if validate_rows else (validate_row(header, number, values) for number, values in batch)
    for (number, values), (record, errors) in zip(batch, checked):
        if record is not None:
            errors = state.check(number, record)
        if errors:
            refused.append((values, errors))
        else:
            good.append((number, record, values))
    return good, refused


def _write_batch(session, imp, spec, state: _InputState, header: Header, header_cells, batch_size, good, refused,
                 track) -> None:
    """One transaction: the batch's rows, its row errors and the import's counters, together."""
    rules = state.rules
    if good:
        checked = rules.check(session, imp.tenant_id, [(number, record) for number, record, _ in good])
        if checked:
            refused.extend((values, [checked[number]]) for number, _, values in good if number in checked)
            good = [item for item in good if item[0] not in checked]

    def write(records: list[dict]) -> list[str]:
        if rules.upserts:
            return apply_batch(session, spec, header.present, imp.tenant_id, imp.id, records, state.expect)
        return rules.write(session, imp.tenant_id, imp.id, records)

    # Rows the database refuses for their data become row errors; the rest of the batch lands.
    outcomes, good, faulty = bounds.write_isolating(session, write, good)
    if outcomes:
        state.expect = expectation_after(outcomes)
    refused.extend((values, [RowError(number, None, f"expected a value the database accepts, found one it refused: {why}")])
                   for (number, _, values), why in faulty)
    records = [record for _, record, _ in good]
    rules.after_write(session, imp.tenant_id, records, outcomes)
    for values, errors in refused:
        raw = bounds.storable(raw_values(header_cells, values))
        for error in errors:
            session.add(EtlRowError(import_id=imp.id, tenant_id=imp.tenant_id, row_number=error.row_number,
                                    column=error.column, message=str(error), raw=raw))
    imp.rows_total += batch_size
    imp.rows_done += batch_size
    imp.rows_inserted += outcomes.count("inserted")
    imp.rows_updated += outcomes.count("updated")
    imp.rows_unchanged += outcomes.count("unchanged")
    imp.rows_refused += len(refused)
    imp.updated_at = utcnow()
    if track and imp.rows_total <= MAX_TRACKED_ROWS:
        tracked = dict(imp.row_outcomes or {})
        notes = rules.notes  # e.g. why a sheet row's stale status was kept as the hub's
        tracked.update({str(number): f"{outcome} ({notes[number]})" if number in notes else outcome
                        for (number, _, _), outcome in zip(good, outcomes)})
        tracked.update({str(errors[0].row_number): "error: " + "; ".join(str(e) for e in errors) for _, errors in refused})
        imp.row_outcomes = tracked
    session.commit()
