"""Header matching and row validation: every refusal names the row, the column, what was expected and found."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..headers import normalize_header
from . import bounds
from .spec import HUB_COLUMNS, RowError, TableSpec, UnusableInput
from .values import DEFAULT_LOCALE, TYPED_PARSERS, BadValue, Cents, is_blank, locale_parsers


@dataclass
class Header:
    """Where each known column sits in the input's rows."""

    spec: TableSpec
    positions: dict[str, int]
    # Columns given in other units (e.g. `revenue` for `revenue_cents`), by target column.
    alias_positions: dict[str, int]
    unknown: list[str] = field(default_factory=list)
    # The locale text cells are read in (dates, numbers, money); typed cells do not depend on it.
    locale: str = DEFAULT_LOCALE

    def __post_init__(self) -> None:
        # Worked out once per input, not once per row: (column, cell index, parser, header label, required,
        # whether a typed cell is read in preference to the displayed text).
        self.plan = []
        for column in self.spec.columns:
            if column.name in self.positions:
                self.plan.append((column.name, self.positions[column.name], column.parse, column.name, column.required,
                                  column.parse in TYPED_PARSERS))
            elif column.name in self.alias_positions:
                self.plan.append((column.name, self.alias_positions[column.name], column.alias_parse, column.alias,
                                  column.required, column.alias_parse in TYPED_PARSERS))
        in_locale = locale_parsers(self.locale)
        if in_locale:
            self.plan = [(name, index, in_locale.get(parse, parse), label, required, typed)
                         for name, index, parse, label, required, typed in self.plan]

    @property
    def present(self) -> tuple[str, ...]:
        """The table's columns this input carries, key first; only these are written on update."""
        names = set(self.positions) | set(self.alias_positions)
        return tuple(c.name for c in self.spec.columns if c.name in names)


def _fold(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name)


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment): `downlaods` is one edit from `downloads`."""
    previous2, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def near_miss(name: str, candidates: list[str]) -> str | None:
    """The column a header was most likely meant to be: equal once case, spaces, `_` and `-` are
    folded away, or at most 2 edits away (and fewer than half the column's letters, so a short
    column such as `ctr` does not claim every three-letter header)."""
    folded = _fold(name)
    best = None
    for candidate in candidates:
        target = _fold(candidate)
        distance = 0 if folded == target else edit_distance(folded, target)
        if distance <= 2 and distance * 2 < len(target) and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def read_header(spec: TableSpec, cells: list[object], locale: str = DEFAULT_LOCALE) -> Header:
    names = [normalize_header(c) for c in cells]
    while names and not names[-1]:
        names.pop()  # trailing empty columns are how sheets and CSV exports end
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if not name:
            problems.append(f"column {index} has no header (expected a column name)")
        elif name in seen:
            problems.append(f"columns {seen[name]} and {index} are both {name!r} (expected each column once)")
        else:
            seen[name] = index
    if problems:
        raise UnusableInput("header: " + "; ".join(problems))

    positions: dict[str, int] = {}
    alias_positions: dict[str, int] = {}
    known = {c.name for c in spec.columns}
    aliases = {c.alias: c.name for c in spec.columns if c.alias}
    unknown = []
    for name, index in seen.items():
        if name in known:
            positions[name] = index - 1
        elif name in aliases:
            alias_positions[aliases[name]] = index - 1
        elif name not in HUB_COLUMNS:
            unknown.append(name)
    # A header one typo away from a column this input lacks would leave that column empty without a
    # word (`downlaods` stored no downloads): refuse the input and name the column it meant.
    lacking = [name for c in spec.columns if c.name not in positions and c.name not in alias_positions
               for name in (c.name, c.alias) if name]
    typos = [(name, guess) for name in unknown if (guess := near_miss(name, lacking))]
    if typos:
        raise UnusableInput("header: " + "; ".join(
            f"column {name!r} is not a column of {spec.name}; did you mean {guess!r}?" for name, guess in typos))
    for target in list(alias_positions):
        if target in positions:
            column = spec.column(target)
            raise UnusableInput(
                f"header: both {target!r} and {column.alias!r} are given (expected one of them, not both)"
            )
    missing = [c.name for c in spec.columns if c.required and c.name not in positions and c.name not in alias_positions]
    if missing:
        raise UnusableInput(
            f"header: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"for table {spec.name} (found: {', '.join(n for n in names if n) or 'no columns'})"
        )
    return Header(spec=spec, positions=positions, alias_positions=alias_positions, unknown=unknown, locale=locale)


def raw_values(header_cells: list[object], values: list[object]) -> dict[str, object]:
    """The row as received, for keeping with its errors (JSON-safe): the input's own columns, in the
    input's order. A cell under no header is kept as `column N` only when it holds something, so a
    workbook's empty formatted columns do not bury the row."""
    out: dict[str, object] = {}
    for index, cell in enumerate(values):
        label = header_cells[index] if index < len(header_cells) else None
        if is_blank(label):
            if is_blank(cell):
                continue
            label = f"column {index + 1}"
        out[str(label)] = cell if cell is None or isinstance(cell, (str, int, float, bool)) else str(cell)
    for index in range(len(values), len(header_cells)):
        if not is_blank(header_cells[index]):
            out.setdefault(str(header_cells[index]), None)  # a short row: its missing cells were empty
    return out


class TypedRow(list):
    """A row's displayed cells, with the same cells as typed values beside them (`typed`, None where a
    cell has no typed value). Sheet pushes and workbooks carry both: dates, counts, rates and money are
    read from the typed value, identifiers and text from what the person sees."""

    __slots__ = ("typed",)

    def __init__(self, shown: list[object], typed: list[object]):
        super().__init__(shown)
        self.typed = typed


def validate_row(header: Header, row_number: int, values: list[object]) -> tuple[dict | None, list[RowError]]:
    """Parse one row into a record of typed values, or return why it is refused."""
    record: dict[str, object] = {}
    errors: list[RowError] = []
    spec = header.spec
    width = len(values)
    typed = values.typed if type(values) is TypedRow else None
    if type(values) is bounds.UnreadableRow:
        return None, [RowError(row_number, values.column, values.message)]
    for name, index, parse, label, required, prefers_typed in bounds.guarded_plan(header):
        raw = values[index] if index < width else None
        if typed is not None and prefers_typed and index < len(typed) and typed[index] is not None:
            raw = typed[index]
        if is_blank(raw):
            if required:
                errors.append(RowError(row_number, label, "expected a value, found an empty cell"))
            else:
                record[name] = None
            continue
        try:
            record[name] = parse(raw)
        except BadValue as error:
            errors.append(RowError(row_number, label, str(error)))
        except bounds.PARSER_FAULTS as error:  # a hostile value costs its row, never the import
            errors.append(RowError(row_number, label, bounds.unexpected(parse, raw, error)))
    if not errors:
        for name, value in record.items():
            if type(value) is Cents:
                # `$12` in a row whose currency is EUR: the amount is in another currency than the row says.
                if record.get("currency") and record["currency"] not in value.currencies:
                    errors.append(RowError(row_number, name, f"expected an amount in {record['currency']} (the row's "
                                                             f"currency), found one in {'/'.join(sorted(value.currencies))}"))
                record[name] = int(value)
    if not errors:
        for rule in spec.row_rules:
            errors.extend(RowError(row_number, column, message) for column, message in rule(record))
    return (None, errors) if errors else (record, [])
