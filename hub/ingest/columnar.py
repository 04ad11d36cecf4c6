"""Columnar validation of a batch of CSV rows: each column of the batch is checked at once with pyarrow, and
every row a column check does not accept goes through `validate_row` unchanged, so the per-row validator
stays the one source of row error messages.

A column is checked at once only where, for the cells the check accepts, the value is certain and is the
one its parser (wrapped in its bounds) returns: plain digits for counts, `0.` and up to 6 digits for
rates, `YYYY-MM-DD` days that exist, identifiers, sources and text with nothing to trim. Anything else
(a blank required cell, `1,204`, `85%`, `31.01.2025`, a cell starting with a space, a column whose parser
has no columnar check, a locale other than en-US, a row a table rule refuses) costs that row, or the
batch, a pass through `validate_row`: slower, never different.
"""
from __future__ import annotations

from datetime import date
from itertools import compress
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import bounds
from .spec import RowError
from .validate import Header, validate_row
from .values import parse_count, parse_date, parse_identifier, parse_rate, parse_source, parse_text

Results = list[tuple[dict | None, list[RowError]]]

# Up to 18 digits is below 2**63 - 1, so no count accepted here can fail the bounds' int64 check.
_PLAIN_COUNT = r"^[0-9]{1,18}$"
# parse_rate's own fast case, limited to 6 decimals: then round(float(text), 6) == float(text).
_PLAIN_RATE = r"^0\.[0-9]{1,6}$"
_ISO_DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_SOURCE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# Printable ASCII at both ends: nothing str.strip() would remove, nothing str.isspace() calls a space.
_NOTHING_TO_TRIM = r"(?s)^[!-~](.*[!-~])?$"
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _matching(strings: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(strings, pattern).to_numpy(zero_copy_only=False)


def _texts(strings: pa.Array, cells: list[str]) -> tuple[np.ndarray, list]:
    """parse_text: str(raw).strip(), which is the cell when nothing is there to trim."""
    accepted = _matching(strings, _NOTHING_TO_TRIM) & ~pc.match_substring(strings, "\x00").to_numpy(zero_copy_only=False)
    return accepted, cells


def _identifiers(strings: pa.Array, cells: list[str]) -> tuple[np.ndarray, list]:
    """parse_identifier's fast case: at most 128 characters, no space at either end; the cell itself."""
    accepted, _ = _texts(strings, cells)
    return accepted & (pc.utf8_length(strings).to_numpy(zero_copy_only=False) <= 128), cells


def _sources(strings: pa.Array, cells: list[str]) -> tuple[np.ndarray, list]:
    """parse_source: already lower case and trimmed, so str(raw).strip().lower() is the cell."""
    return _matching(strings, _SOURCE), cells


def _counts(strings: pa.Array, cells: list[str]) -> tuple[np.ndarray, list]:
    """parse_count's fast case: int(raw) of plain ASCII digits (leading zeros too)."""
    accepted = _matching(strings, _PLAIN_COUNT)
    numbers = pc.cast(pc.if_else(pa.array(accepted), strings, "0"), pa.int64())
    return accepted, numbers.to_pylist()


def _rates(strings: pa.Array, cells: list[str]) -> tuple[np.ndarray, list]:
    """parse_rate's fast case: round(float(raw), 6), which is float(raw) itself for at most 6 decimals."""
    accepted = _matching(strings, _PLAIN_RATE)
    numbers = pc.cast(pc.if_else(pa.array(accepted), strings, "0"), pa.float64())
    return accepted, numbers.to_pylist()


def _days(strings: pa.Array, cells: list[str]) -> tuple[np.ndarray, list]:
    """parse_date's fast case: date.fromisoformat of `YYYY-MM-DD`, for days that exist (year 1 to 9999)."""
    shaped = _matching(strings, _ISO_DAY)
    plain = pc.if_else(pa.array(shaped), strings, "2000-01-01")

    def part(start: int, stop: int) -> np.ndarray:
        return pc.cast(pc.utf8_slice_codeunits(plain, start, stop), pa.int64()).to_numpy()

    year, month, day = part(0, 4), part(5, 7), part(8, 10)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    accepted = shaped & (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    # parse_date's own call, once per distinct day (an export repeats each day over many rows); arrow's
    # dates come out of to_pylist many times slower.
    days = {cell: date.fromisoformat(cell) for cell in set(compress(cells, accepted))}
    return accepted, [days.get(cell) for cell in cells]


_COLUMN_CHECKS = {parse_text: _texts, parse_identifier: _identifiers, parse_source: _sources,
                  parse_count: _counts, parse_rate: _rates, parse_date: _days}


def validator_for(header: Header) -> Callable[[list[tuple[int, list]]], Results] | None:
    """A function validating a batch of `(row number, cells)` CSV rows as `validate_row` would, row by row;
    None when some column of the header has no columnar check (then every row is validated alone)."""
    plan = header.plan
    if not plan or any(parse not in _COLUMN_CHECKS for _, _, parse, _, _, _ in plan):
        return None
    spec = header.spec
    columns = [(name, index, _COLUMN_CHECKS[parse], required, bounds.longest_cell(spec, name))
               for name, index, parse, _, required, _ in plan]
    names = [name for name, *_ in columns]
    width = max(index for _, index, *_ in columns) + 1
    rules = spec.row_rules

    def validate(batch: list[tuple[int, list]]) -> Results:
        rows = [cells if len(cells) >= width else cells + [""] * (width - len(cells)) for _, cells in batch]
        accepted = np.array([type(cells) is list for _, cells in batch], dtype=bool)  # an UnreadableRow has its own error
        values = []
        for name, index, check, required, most in columns:
            cells = [row[index] for row in rows]
            try:
                strings = pa.array(cells, type=pa.string())
            except (pa.ArrowException, TypeError, UnicodeError):  # a cell arrow cannot hold: the batch row by row
                return [validate_row(header, number, row) for number, row in batch]
            blank = pc.equal(strings, "").to_numpy(zero_copy_only=False)
            filled, typed = check(strings, cells)
            filled &= pc.utf8_length(strings).to_numpy(zero_copy_only=False) <= most
            accepted &= (filled | blank) if not required else filled
            # A blank optional cell is None in the record, as validate_row makes it.
            values.append([None if empty else value for value, empty in zip(typed, blank.tolist())]
                          if blank.any() else typed)
        results: Results = []
        for (number, cells), good, row in zip(batch, accepted.tolist(), zip(*values)):
            if good:
                record = dict(zip(names, row))
                for rule in rules:
                    if rule(record):
                        break
                else:
                    results.append((record, []))
                    continue
            results.append(validate_row(header, number, cells))
        return results

    return validate
