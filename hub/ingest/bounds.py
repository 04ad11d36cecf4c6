"""Bounds: a cell's value is refused as a row error before the parser or the database can choke on it.

A hostile or mistyped cell (`10^20` downloads, a 5,000-digit number, revenue `1e999999`, a NUL byte,
a name longer than its column) must cost its row, never the import: an exception that escapes the
validator fails the whole batch, the job is retried and every good row after it is lost. So every
column gets explicit bounds, read from the table's SQL types (a String(n) gives its length, an
integer column the signed 64-bit range), checked around its parser. What still gets past (a value
the database refuses for reasons we did not foresee) is isolated by `write_isolating`: the batch is
split inside savepoints until the rows at fault are found; they become row errors, the rest lands.
"""
from __future__ import annotations

import re
from typing import Callable

from sqlalchemy import exc as sa_exc
from sqlalchemy.types import Date, DateTime, Float, Integer, Numeric, String

from .values import BadValue, shown

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Longer numeric text than this is refused before any parsing: no count, amount or rate a person
# types needs more, and Python's int()/Decimal() cost grows with the digits (or raise past 4,300).
MAX_NUMBER_CHARS = 40
# Dates spelled out in full with a time and zone stay well under this.
MAX_DATE_CHARS = 64
# Text columns with no declared length (or values kept in a JSON payload) get this cap.
MAX_TEXT_CHARS = 2000
# What a parser may raise on a value it did not expect; anything else is a bug and is left to surface.
PARSER_FAULTS = (ValueError, ArithmeticError, RecursionError)

_NUMBER, _DATE, _TEXT = "number", "date", "text"


def _found(raw: object) -> str:
    """The bad value quoted back, cut short: a 5,000-digit cell must not make a 5,000-digit message."""
    if isinstance(raw, str) and len(raw) > 60:
        return f"{raw[:40]!r}... ({len(raw)} characters)"
    text = shown(raw)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _kind_and_length(spec, name: str) -> tuple[str, int | None]:
    column = spec.table.c.get(name)
    if column is None:
        return _TEXT, MAX_TEXT_CHARS
    sql_type = column.type
    if isinstance(sql_type, (Integer, Float, Numeric)):
        return _NUMBER, None
    if isinstance(sql_type, (Date, DateTime)):
        return _DATE, None
    if isinstance(sql_type, String) and sql_type.length:
        return _TEXT, sql_type.length
    return _TEXT, MAX_TEXT_CHARS


def longest_cell(spec, name: str) -> int:
    """The most characters a text cell of this column may have and still pass every length check of
    `guard` (for text columns, when the parser returns the cell unchanged)."""
    kind, length = _kind_and_length(spec, name)
    if kind == _NUMBER:
        return MAX_NUMBER_CHARS
    if kind == _DATE:
        return MAX_DATE_CHARS
    return length or MAX_TEXT_CHARS


def guard(spec, name: str, parse: Callable[[object], object], money: bool = False) -> Callable[[object], object]:
    """`parse` wrapped in the column's bounds; raises BadValue (expected/found) for a value out of them.

    `money` is for an alias given in currency units (`revenue` for `revenue_cents`): its limit is
    shown in those units."""
    kind, length = _kind_and_length(spec, name)
    if kind == _NUMBER:
        if money:
            expected = f"an amount up to {INT64_MAX // 100}.{INT64_MAX % 100:02d}"
        else:
            expected = f"a whole number up to {INT64_MAX}"

        def bounded(raw: object) -> object:
            if type(raw) is str and len(raw) > MAX_NUMBER_CHARS:
                raise BadValue(f"expected a number of at most {MAX_NUMBER_CHARS} characters, found {_found(raw)}")
            value = parse(raw)
            if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:  # Cents too
                raise BadValue(f"expected {expected}, found {_found(raw)}")
            return value
    elif kind == _DATE:
        expected = "a date"

        def bounded(raw: object) -> object:
            if type(raw) is str and len(raw) > MAX_DATE_CHARS:
                raise BadValue(f"expected a date of at most {MAX_DATE_CHARS} characters, found {_found(raw)}")
            return parse(raw)
    else:
        limit = length or MAX_TEXT_CHARS
        expected = f"text of at most {limit} characters"

        def bounded(raw: object) -> object:
            if type(raw) is str and "\x00" in raw:
                raise BadValue(f"expected text without NUL (\\x00) characters, found one at character {raw.index(chr(0)) + 1}")
            value = parse(raw)
            if type(value) is str:
                if len(value) > limit:
                    raise BadValue(f"expected {expected}, found {len(value)} characters")
            elif type(value) is list and sum(len(item) for item in value) > limit:
                raise BadValue(f"expected {expected}, found {sum(len(item) for item in value)} characters")
            elif type(value) is int and not INT64_MIN <= value <= INT64_MAX:
                raise BadValue(f"expected a whole number up to {INT64_MAX}, found {_found(raw)}")
            return value

    bounded.expected = expected
    return bounded


def guarded_plan(header) -> list[tuple]:
    """The header's plan with each parser guarded; worked out once per header."""
    plan = header.__dict__.get("_guarded_plan")
    if plan is None:
        plan = [(name, index, guard(header.spec, name, parse, money=label != name), label, required, typed)
                for name, index, parse, label, required, typed in header.plan]
        header.__dict__["_guarded_plan"] = plan
    return plan


def unexpected(parse, raw: object, error: BaseException) -> str:
    """The row error for a value that made a parser raise something other than BadValue."""
    expected = getattr(parse, "expected", "a value this column accepts")
    return f"expected {expected}, found {_found(raw)}"


def storable(raw: dict[str, object]) -> dict[str, object]:
    """A refused row kept beside its errors: PostgreSQL's JSON cannot hold a NUL, so it is shown as U+FFFD."""
    if not any(type(v) is str and "\x00" in v for v in raw.values()) and not any("\x00" in k for k in raw):
        return raw
    return {k.replace("\x00", "\ufffd"): v.replace("\x00", "\ufffd") if type(v) is str else v for k, v in raw.items()}


class UnreadableRow(list):
    """A row a reader could not decode: it is refused as a row error, the rest of the input goes on."""

    __slots__ = ("column", "message")

    def __init__(self, cells: list[object], column: str | None, message: str):
        super().__init__(cells)
        self.column = column
        self.message = message


# Lone surrogates are how errors="surrogateescape" carries undecodable bytes through the decoder.
_ESCAPED = re.compile("[\udc80-\udcff]+")


def undecodable(cells: list[str], header: list[object], encoding: str) -> UnreadableRow | None:
    for index, cell in enumerate(cells):
        match = _ESCAPED.search(cell)
        if match:
            found = bytes(ord(c) - 0xDC00 for c in match.group())
            column = str(header[index]) if index < len(header) and header[index] else f"column {index + 1}"
            clean = [c.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for c in cells]
            return UnreadableRow(clean, column, f"expected {encoding} text, found undecodable bytes {found!r}")
    return None


def _database_refusals() -> tuple[type[BaseException], ...]:
    refusals: list[type[BaseException]] = [sa_exc.DataError, sa_exc.IntegrityError, OverflowError]
    try:  # the COPY path runs on psycopg's own cursor, so its errors arrive unwrapped
        import psycopg

        refusals += [psycopg.DataError, psycopg.IntegrityError]
    except ImportError:  # pragma: no cover - SQLite-only installs
        pass
    return tuple(refusals)


DATABASE_REFUSALS = _database_refusals()


def refusal_message(error: BaseException) -> str:
    """The database's own words, first line only: no SQL, no parameters."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    first = lines[0] if lines else type(original).__name__
    return first if len(first) <= 300 else first[:300] + "..."


def write_isolating(session, write: Callable[[list[dict]], list[str]], good: list[tuple]) -> tuple[list, list, list]:
    """Write the `(number, record, values)` items in `good`; where the database refuses the data,
    split the items in halves (each try in its own savepoint) until the refused rows are alone.

    Returns (outcomes, the items written, [(item, database message)] refused)."""
    if not good:
        return write([]), [], []
    try:
        with session.begin_nested():
            return write([record for _, record, _ in good]), good, []
    except DATABASE_REFUSALS as error:
        if len(good) == 1:
            return [], [], [(good[0], refusal_message(error))]
    middle = len(good) // 2
    first = write_isolating(session, write, good[:middle])
    second = write_isolating(session, write, good[middle:])
    return first[0] + second[0], first[1] + second[1], first[2] + second[2]
