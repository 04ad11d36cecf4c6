"""Columnar validation of CSV batches: for every row, the same record (same types, same values) or the
same errors as validate_row, which stays the one source of row messages."""
import itertools
import random
from datetime import date

import pyarrow as pa
import pytest

from hub.ingest import columnar
from hub.ingest import values as v
from hub.ingest.bounds import UnreadableRow
from hub.ingest.tables import TABLES
from hub.ingest.validate import read_header, validate_row

# Cells of every shape a column may meet: the fast cases, their edges, and what only the parsers read.
DAYS = ["2025-01-31", "2024-02-29", "2023-02-29", "2025-04-30", "2025-04-31", "2025-12-31", "0001-01-01",
        "0000-01-01", "9999-12-31", "2025-13-01", "2025-00-10", "2025-01-00", "2025-1-31", " 2025-01-31",
        "2025-01-31 ", "31.01.2025", "1/31/2025", "Jan 31, 2025", "2025/01/31", "2025-01-31T10:00:00Z", "45688",
        "", " ", "yesterday", "２０２５-01-31", "2025-01-31\x00"]
COUNTS = ["0", "7", "007", "1204", "1,204", "1 204", "12.0", "-3", "+3", "12.5", " 12", "12 ", "",  "\t",
          "999999999999999999", "9223372036854775807", "9223372036854775808", "1" * 41, "٣", "1e3", "lots"]
RATES = ["0.85", "0.5", "0.000001", "0.1234567", "0.999999", "0.", "0", "1", "1.0", ".5", "85%", "85 %", "0,85",
         "100%", "101%", "1.5", "-0.1", " 0.5", "0.5 ", "", "NaN", "inf", "0.3333333333333333333333"]
IDENTIFIERS = ["ep-00001", "007", "x", "a b", " lead", "trail ", "\u00a0nbsp", "é-accent", "naïve", "a" * 128,
               "a" * 129, "", " ", "tab\there", "line\nbreak", "nul\x00here", "\x1cfs"]
SOURCES = ["apple", "buzzsprout", "spotify", "you.tube-2_x", "Apple", " apple", "apple ", "-apple", "", "a" * 64,
           "a" * 65, "app le", "äpple"]
TEXTS = ["A title", "x", " padded ", "", "é", "a" * 300, "nul\x00", "line\nbreak"]
CELLS = {v.parse_date: DAYS, v.parse_count: COUNTS, v.parse_rate: RATES, v.parse_identifier: IDENTIFIERS,
         v.parse_source: SOURCES, v.parse_text: TEXTS}


def _columns_with_fast_checks(spec):
    return [c.name for c in spec.columns if c.parse in CELLS]


def _random_rows(header_cells, spec, rng, count):
    parsers = {c.name: c.parse for c in spec.columns}
    rows = []
    for _ in range(count):
        # Mostly clean rows (the first two cells of each list), some with odd cells, a few short or long rows.
        row = [rng.choice(CELLS[parsers[name]][:2]) for name in header_cells]
        for _ in range(rng.choice([0, 0, 1, 2])):
            index = rng.randrange(len(row))
            row[index] = rng.choice(CELLS[parsers[header_cells[index]]])
        shape = rng.random()
        if shape < 0.03:
            row = row[: rng.randrange(len(row))]
        elif shape < 0.05:
            row = row + ["extra"]
        rows.append(row)
    return rows


def _assert_same_as_validate_row(header, batch):
    expected = [validate_row(header, number, cells) for number, cells in batch]
    found = columnar.validator_for(header)(batch)
    assert len(found) == len(expected)
    for (number, cells), (record, errors), (want_record, want_errors) in zip(batch, found, expected):
        assert errors == want_errors, (number, cells)
        assert record == want_record, (number, cells)
        if record is not None:
            assert [type(value) for value in record.values()] == [type(value) for value in want_record.values()], cells
            assert list(record) == list(want_record), cells


@pytest.mark.parametrize("table", ["metrics_daily", "io_bookings"])
def test_every_row_comes_out_as_validate_row_makes_it(table, monkeypatch):
    spec = TABLES[table]
    header_cells = _columns_with_fast_checks(spec)
    header = read_header(spec, header_cells)
    rng = random.Random(table)
    batch = list(enumerate(_random_rows(header_cells, spec, rng, 3000), start=2))
    batch.append((len(batch) + 2, UnreadableRow(["x"] * len(header_cells), header_cells[0], "expected UTF-8 text")))

    _assert_same_as_validate_row(header, batch)

    # And most clean rows really took the columnar path: validate_row saw only the others.
    calls = []
    monkeypatch.setattr(columnar, "validate_row", lambda *args: calls.append(args) or validate_row(*args))
    columnar.validator_for(header)(batch)
    assert 0 < len(calls) < len(batch) * 0.7


def test_a_table_rule_refusal_is_worded_by_validate_row():
    spec = TABLES["metrics_daily"]
    header = read_header(spec, ["day", "episode_id", "source", "downloads", "listeners"])
    batch = [(2, ["2025-01-31", "ep-1", "apple", "10", "11"]), (3, ["2025-01-31", "ep-2", "apple", "10", "10"])]
    results = columnar.validator_for(header)(batch)
    assert results[0][0] is None and "listeners" in str(results[0][1][0])
    assert results[1] == ({"day": date(2025, 1, 31), "episode_id": "ep-2", "source": "apple", "downloads": 10,
                           "listeners": 10}, [])
    _assert_same_as_validate_row(header, batch)


def test_columns_without_a_columnar_check_leave_the_batch_to_validate_row():
    assert columnar.validator_for(read_header(TABLES["metrics_daily"], ["day", "episode_id", "source", "revenue"])) is None
    assert columnar.validator_for(read_header(TABLES["conversions"], ["order_id", "occurred_at"])) is None
    # Another locale reads counts, rates and days with its own parsers.
    assert columnar.validator_for(read_header(TABLES["metrics_daily"], ["day", "episode_id", "source"], "de-DE")) is None


def test_every_rate_the_columnar_check_can_accept_is_read_as_parse_rate_reads_it():
    # The accepted rates are finite (0. and 1 to 6 digits): all of them are checked.
    rates = ["0." + "".join(digits) for places in range(1, 7) for digits in itertools.product("0123456789", repeat=places)]
    accepted, numbers = columnar._rates(pa.array(rates), rates)
    # Listing only the differences keeps a failure's report short (pytest would diff a million items).
    assert [rate for rate, ok in zip(rates, accepted) if not ok] == []
    assert [rate for rate, number in zip(rates, numbers) if number != v.parse_rate(rate)] == []


def test_days_at_every_month_end_and_impossible_day_are_read_as_parse_date_reads_them():
    spec = TABLES["metrics_daily"]
    header = read_header(spec, ["day", "episode_id", "source"])
    years = [0, 1, 4, 100, 400, 1582, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9996, 9999]
    cells = [f"{year:04d}-{month:02d}-{day:02d}" for year in years for month in range(0, 14) for day in range(0, 33)]
    _assert_same_as_validate_row(header, [(n, [cell, "ep", "apple"]) for n, cell in enumerate(cells, start=2)])
    # Every day that exists takes the columnar path, not only some.
    accepted, _ = columnar._days(pa.array(cells), cells)
    assert [cell for cell, ok in zip(cells, accepted) if ok != _exists(cell)] == []


def _exists(cell):
    try:
        return date.fromisoformat(cell) is not None
    except ValueError:
        return False
