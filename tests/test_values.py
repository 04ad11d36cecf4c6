"""Cell parsers: the forms sheet users type, and the messages for what they should not."""
from datetime import date, datetime

import pytest

from hub.ingest import values as v


@pytest.mark.parametrize("raw, expected", [
    ("2025-01-31", date(2025, 1, 31)),
    ("2025/01/31", date(2025, 1, 31)),
    ("1/31/2025", date(2025, 1, 31)),
    ("31.01.2025", date(2025, 1, 31)),
    ("31 Jan 2025", date(2025, 1, 31)),
    ("Jan 31, 2025", date(2025, 1, 31)),
    ("2025-01-31T10:00:00Z", date(2025, 1, 31)),
    (45688, date(2025, 1, 31)),          # a Sheets/Excel serial from a workbook
    (45688.0, date(2025, 1, 31)),
    (datetime(2025, 1, 31, 0, 0), date(2025, 1, 31)),
])
def test_dates_in_sheet_forms(raw, expected):
    assert v.parse_date(raw) == expected


@pytest.mark.parametrize("raw, fragment", [
    ("2025-02-30", "no such day"),
    ("yesterday", "expected a date like 2025-01-31"),
    (12, "sheet date serial"),
])
def test_bad_dates_say_what_was_expected(raw, fragment):
    with pytest.raises(v.BadValue, match=fragment):
        v.parse_date(raw)


@pytest.mark.parametrize("raw, expected", [("1,204", 1204), ("1 204", 1204), ("980", 980), (12.0, 12), ("12.0", 12), (0, 0)])
def test_counts_accept_thousands_separators(raw, expected):
    assert v.parse_count(raw) == expected


@pytest.mark.parametrize("raw", ["-3", "12.5", "1,2,3", "lots", 4.5])
def test_counts_refuse_negative_and_fractional(raw):
    with pytest.raises(v.BadValue, match="whole number"):
        v.parse_count(raw)


@pytest.mark.parametrize("raw, expected", [("85%", 0.85), ("0.85", 0.85), (0.031, 0.031), ("100%", 1.0), ("0", 0.0)])
def test_rates_as_fraction_or_percent(raw, expected):
    assert v.parse_rate(raw) == expected


@pytest.mark.parametrize("raw", ["85", "1.2", "-1%", "n/a"])
def test_rates_outside_zero_one_refused(raw):
    with pytest.raises(v.BadValue, match="between 0 and 1"):
        v.parse_rate(raw)


@pytest.mark.parametrize("raw, cents", [("119.96", 11996), ("$1,234.50", 123450), (119.96, 11996), ("EUR 10", 1000), ("0.1", 10)])
def test_money_is_exact_cents(raw, cents):
    assert v.parse_money_cents(raw) == cents


def test_money_refuses_fractions_of_cents():
    with pytest.raises(v.BadValue, match="at most 2 decimal places"):
        v.parse_money_cents("1.005")


def test_identifiers_stay_text():
    assert v.parse_identifier("007") == "007"
    assert v.parse_identifier(" ep-1 ") == "ep-1"
    assert v.parse_identifier(7.0) == "7"


def test_urls_and_choices():
    assert v.parse_url("acme.example/show") == "https://acme.example/show"
    with pytest.raises(v.BadValue, match="expected a URL"):
        v.parse_url("not a url")
    with pytest.raises(v.BadValue, match="draft/scheduled/live/completed/cancelled"):
        v.parse_choice(("draft", "scheduled", "live", "completed", "cancelled"))("paused")
