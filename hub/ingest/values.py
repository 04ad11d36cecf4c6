"""Cell parsers: turn what a person typed in a sheet (or a workbook stored) into typed values.

Each parser takes the raw cell and returns the value, or raises BadValue with a message that
says what was expected; the validator adds the row number and the column.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit


class BadValue(ValueError):
    """A cell that does not hold what its column expects."""


def is_blank(raw: object) -> bool:
    if raw is None or raw == "":
        return True
    return type(raw) is str and raw.isspace()


def shown(raw: object) -> str:
    """How a bad value is quoted back to the person who typed it."""
    return repr(raw) if isinstance(raw, str) else str(raw)


# Sheets and Excel count days from 1899-12-30 (Excel's 1900 leap-year bug folded in).
SERIAL_EPOCH = date(1899, 12, 30)
# Plausible serials: 1954-09-26 .. 2119-01-07. Outside that a number is not a date someone meant.
SERIAL_RANGE = (20000, 80000)
MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_EU = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_NAMED_DMY = re.compile(r"^(\d{1,2})[ -]([A-Za-z]{3,9})\.?[ -,]*(\d{4})$")
_NAMED_MDY = re.compile(r"^([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})$")
DATE_FORMS = "a date like 2025-01-31, 1/31/2025, 31.01.2025, 31 Jan 2025 or Jan 31, 2025"


def _make_date(year: int, month: int, day: int, raw: object) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise BadValue(f"expected {DATE_FORMS}, found {shown(raw)} (no such day)") from None


def _month(name: str, raw: object) -> int:
    month = MONTHS.get(name[:3].lower())
    if month is None:
        raise BadValue(f"expected {DATE_FORMS}, found {shown(raw)}")
    return month


def parse_date(raw: object) -> date:
    if type(raw) is str and len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
        try:
            return date.fromisoformat(raw)  # the common case, in C
        except ValueError:
            pass  # fall through to the full parser and its message
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if SERIAL_RANGE[0] <= raw <= SERIAL_RANGE[1] and float(raw).is_integer():
            return SERIAL_EPOCH + timedelta(days=int(raw))
        raise BadValue(f"expected {DATE_FORMS} (or a sheet date serial), found {raw}")
    text = str(raw).strip()
    if match := _ISO.match(text):
        return _make_date(int(match[1]), int(match[2]), int(match[3]), raw)
    if match := _US.match(text):
        # Slashes with the year last are read the way US-locale Sheets shows them: month first.
        return _make_date(int(match[3]), int(match[1]), int(match[2]), raw)
    if match := _EU.match(text):
        return _make_date(int(match[3]), int(match[2]), int(match[1]), raw)
    if match := _NAMED_DMY.match(text):
        return _make_date(int(match[3]), _month(match[2], raw), int(match[1]), raw)
    if match := _NAMED_MDY.match(text):
        return _make_date(int(match[3]), _month(match[1], raw), int(match[2]), raw)
    if text.isdigit() and SERIAL_RANGE[0] <= int(text) <= SERIAL_RANGE[1]:
        return SERIAL_EPOCH + timedelta(days=int(text))
    raise BadValue(f"expected {DATE_FORMS}, found {shown(raw)}")


def parse_datetime(raw: object) -> datetime:
    """An ISO date-time (with or without offset; none means UTC), or a date meaning its midnight UTC."""
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=timezone.utc)
    text = str(raw).strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        day = parse_date(raw)  # its message names the date forms
        value = datetime(day.year, day.month, day.day)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


_GROUPED = re.compile(r"^\d{1,3}(?:[, \u00a0\u202f_]\d{3})+$")


def parse_count(raw: object) -> int:
    """A non-negative whole number; `1,204` and `1 204` are read as 1204."""
    if type(raw) is str and raw.isdigit() and raw.isascii():
        return int(raw)  # the common case
    if isinstance(raw, bool):
        raise BadValue(f"expected a whole number >= 0, found {raw}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        if not raw.is_integer():
            raise BadValue(f"expected a whole number >= 0, found {raw}")
        value = int(raw)
    else:
        text = str(raw).strip()
        if _GROUPED.match(text):
            text = re.sub(r"[, \u00a0\u202f_]", "", text)
        elif text.endswith(".0") and text[:-2].isdigit():
            text = text[:-2]
        if not re.fullmatch(r"-?\d+", text):
            raise BadValue(f"expected a whole number >= 0, found {shown(raw)}")
        value = int(text)
    if value < 0:
        raise BadValue(f"expected a whole number >= 0, found {value}")
    return value


def parse_rate(raw: object) -> float:
    """A fraction in [0, 1], typed as 0.85 or 85%."""
    if type(raw) is str and raw[:2] == "0." and raw[2:].isdigit() and raw.isascii():
        return round(float(raw), 6)  # the common case: a plain fraction below 1
    text = str(raw).strip()
    percent = text.endswith("%")
    try:
        value = Decimal(text.rstrip("%").strip().replace(",", ".") if percent else text)
    except InvalidOperation:
        raise BadValue(f"expected a fraction between 0 and 1 (0.85) or a percentage (85%), found {shown(raw)}") from None
    if percent:
        value = value / 100
    if not value.is_finite() or value < 0 or value > 1:
        raise BadValue(f"expected a rate between 0 and 1 (or 0% to 100%), found {shown(raw)}")
    return round(float(value), 6)


_CURRENCY_MARKS = re.compile(r"^[A-Z]{3}\s*|\s*[A-Z]{3}$|[$€£¥]")


class Cents(int):
    """Cents from text that named its currency (`25,00 €`, `USD 12`): the validator checks it against the
    row's own `currency` and stores a plain int."""

    currencies: frozenset = frozenset()


# A sign names its currency; `$` is a dollar of any country the row may say.
SIGN_CURRENCIES = {"€": frozenset({"EUR"}), "£": frozenset({"GBP"}), "¥": frozenset({"JPY", "CNY"}),
                   "$": frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"})}


def _named_currency(text: str, cents: int) -> int:
    for mark in re.findall(r"[$€£¥]|\b[A-Z]{3}\b", text):
        named = SIGN_CURRENCIES.get(mark, frozenset({mark}))
        value = Cents(cents)
        value.currencies = named
        return value
    return cents


def parse_money_cents(raw: object) -> int:
    """A decimal amount (`119.96`, `$1,234.50`) as exact integer cents."""
    if isinstance(raw, bool):
        raise BadValue(f"expected an amount like 1234.56, found {raw}")
    if isinstance(raw, float):
        # A workbook stores 119.96 as a binary float; its shortest repr is what the person typed.
        raw = repr(raw)
    text = _CURRENCY_MARKS.sub("", str(raw).strip()).strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"expected an amount like 1234.56, found {shown(raw)}") from None
    if not value.is_finite() or value < 0:
        raise BadValue(f"expected an amount >= 0, found {shown(raw)}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise BadValue(f"expected at most 2 decimal places, found {shown(raw)}")
    return _named_currency(str(raw), int(cents))


def parse_identifier(raw: object) -> str:
    """Identifiers stay text: `007` stays `007`. A workbook number 7.0 becomes `7`."""
    if type(raw) is str and len(raw) <= 128 and not raw[0].isspace() and not raw[-1].isspace():
        return raw  # the common case: already clean text
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    if len(text) > 128:
        raise BadValue(f"expected an identifier of at most 128 characters, found {len(text)} characters")
    return text


_SOURCE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def parse_source(raw: object) -> str:
    text = str(raw).strip().lower()
    if not _SOURCE.fullmatch(text):
        raise BadValue(f"expected a source name like buzzsprout or manual (letters, digits, - _ .), found {shown(raw)}")
    return text


def parse_choice(choices: tuple[str, ...]):
    def parse(raw: object) -> str:
        text = str(raw).strip().lower()
        if text not in choices:
            raise BadValue(f"expected one of {'/'.join(choices)}, found {shown(raw)}")
        return text

    return parse


def parse_promo_code(raw: object) -> str:
    text = str(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", text):
        raise BadValue(f"expected a promo code of letters, digits, - or _ (no spaces), found {shown(raw)}")
    return text


def parse_url(raw: object) -> str:
    text = str(raw).strip()
    candidate = text if "://" in text else f"https://{text}"
    parts = urlsplit(candidate)
    if parts.scheme not in ("http", "https") or "." not in parts.netloc or " " in candidate:
        raise BadValue(f"expected a URL like https://brand.example/show, found {shown(raw)}")
    return candidate


def parse_url_or_path(raw: object) -> str:
    """A URL, or a bare path as shops record where an order landed (Shopify's `landing_site` is often
    `/products/mug?ref=podcast`): attribution matches a bare path on the path alone."""
    text = str(raw).strip()
    if text.startswith("/") and not text.startswith("//") and " " not in text:
        return text
    return parse_url(raw)


def parse_json_object(raw: object) -> dict:
    """A JSON object: as it came in a JSON record, or as text in a cell."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(str(raw))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BadValue(f"expected a JSON object like {{\"id\": 1}}, found {shown(raw)}")
    return value


def parse_code_list(raw: object) -> list[str]:
    """One or more discount codes, separated by commas or spaces."""
    return [code for code in re.split(r"[,\s]+", str(raw).strip()) if code]


def parse_currency(raw: object) -> str:
    text = str(raw).strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", text):
        raise BadValue(f"expected a 3-letter currency code like USD, found {shown(raw)}")
    return text


def parse_text(raw: object) -> str:
    """Free text (a title, an author): kept as written, outer spaces trimmed; its column's length is
    checked by the bounds."""
    return str(raw).strip()


def parse_duration(raw: object) -> int:
    """A length in whole seconds, from any form Apple's itunes:duration takes: seconds (`3723`,
    `3723.4`), `MM:SS` (`62:03`) or `HH:MM:SS` (`1:02:03`). Fractions of a second are rounded."""
    expected = "expected a duration like 3723 (seconds), 62:03 (MM:SS) or 1:02:03 (HH:MM:SS)"
    if isinstance(raw, bool):
        raise BadValue(f"{expected}, found {raw}")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw) or raw < 0:
            raise BadValue(f"{expected}, found {raw}")
        return round(raw)
    text = str(raw).strip()
    parts = text.split(":")
    # Only the last part (the seconds) may carry a fraction.
    if len(parts) > 3 or not all(part.isdigit() and part.isascii() for part in parts[:-1]) \
            or not re.fullmatch(r"\d+(\.\d+)?", parts[-1]):
        raise BadValue(f"{expected}, found {shown(raw)}")
    numbers = [Decimal(part) for part in parts]
    # The seconds, and the minutes of HH:MM:SS, stay under 60: 1:75:00 is a typo, not 2:15:00.
    if (len(numbers) > 1 and numbers[-1] >= 60) or (len(numbers) == 3 and numbers[1] >= 60):
        raise BadValue(f"{expected}, found {shown(raw)}")
    seconds = sum(number * 60 ** place for place, number in enumerate(reversed(numbers)))
    return int(seconds.to_integral_value())


# The parsers whose columns take a sheet's typed value over its displayed text (see Column.prefers_typed).
TYPED_PARSERS = frozenset({parse_date, parse_datetime, parse_count, parse_rate, parse_money_cents})


# --- Locales: text cells read the way a person in that locale typed them -----------------------------

DEFAULT_LOCALE = "en-US"
_SPACES = " \u00a0\u202f"  # a space, a no-break space and a narrow no-break space all group digits


class UnknownLocale(ValueError):
    """A locale the CLDR data (Babel) does not know."""


@dataclass(frozen=True)
class ReadingLocale:
    tag: str          # en-US, de-DE
    decimal: str      # the decimal separator
    group: str        # the group (thousands) separator
    day_first: bool   # 12/03/2025 is 12 March (en-GB, fr-FR), not 3 December (en-US)
    months: dict      # month names and abbreviations of the locale, lower case -> 1..12

    def amount_example(self) -> str:
        return f"1{self.group if self.group.strip() else ' '}234{self.decimal}56"

    def date_example(self) -> str:
        return "31.01.2025" if self.decimal == "," and self.group == "." else ("31/01/2025" if self.day_first else "1/31/2025")


def normalize_locale(tag: object) -> str:
    """`de_DE`, `de-de` and `de-DE` are the same locale; returns the BCP 47 form (`de-DE`)."""
    from babel import Locale, UnknownLocaleError

    text = str(tag or "").strip()
    parts = text.replace("-", "_").split("_")
    candidate = f"{parts[0].lower()}_{parts[1].upper()}" if len(parts) == 2 else text.replace("-", "_")
    try:
        parsed = Locale.parse(candidate)
    except (UnknownLocaleError, ValueError, TypeError):
        raise UnknownLocale(f"locale: expected a locale like en-US or de_DE, found {text!r}") from None
    return f"{parsed.language}-{parsed.territory}" if parsed.territory else parsed.language


@lru_cache(maxsize=64)
def reading_locale(tag: str) -> ReadingLocale:
    from babel import Locale
    from babel.dates import get_date_format
    from babel.numbers import get_decimal_symbol, get_group_symbol

    tag = normalize_locale(tag)
    code = tag.replace("-", "_")
    pattern = get_date_format("short", locale=code).pattern
    months: dict[str, int] = {}
    names = Locale.parse(code).months["format"]
    for width in ("wide", "abbreviated"):
        for number, name in names[width].items():
            months[name.lower().rstrip(".")] = number
    return ReadingLocale(tag=tag, decimal=get_decimal_symbol(code), group=get_group_symbol(code),
                         day_first=pattern.lower().index("d") < pattern.index("M"), months=months)


_CURRENCY_SIGNS = re.compile(r"[$€£¥]|\b[A-Z]{3}\b")


def _locale_decimal(text: str, loc: ReadingLocale, expected: str) -> Decimal:
    """A number as written in `loc`: its group separator between groups of three, its decimal separator."""
    groups = _SPACES if loc.group in _SPACES else loc.group
    compact = text.strip(_SPACES)
    sign = ""
    if compact[:1] in "-\u2212":
        sign, compact = "-", compact[1:].lstrip(_SPACES)
    whole, _, fraction = compact.partition(loc.decimal)
    parts = re.split("[" + re.escape(groups) + "]", whole) if whole else [""]
    ok = all(p.isdigit() and p.isascii() for p in parts) and (
        len(parts) == 1 or (1 <= len(parts[0]) <= 3 and all(len(p) == 3 for p in parts[1:])))
    if not ok or (fraction and not (fraction.isdigit() and fraction.isascii())) or (loc.decimal in fraction):
        raise BadValue(f"expected {expected} ({loc.tag}), found {shown(text)}")
    return Decimal(sign + "".join(parts) + ("." + fraction if fraction else ""))


def locale_parsers(tag: str) -> dict:
    """The date, count, rate and money parsers for text typed in `tag`; en-US keeps the plain ones.

    Typed cells (numbers, dates from a workbook or a push's `typed`) do not depend on a locale and go
    to the plain parsers unchanged."""
    loc = reading_locale(tag)
    if loc.tag == DEFAULT_LOCALE:
        return {}

    def count(raw: object) -> int:
        if type(raw) is not str:
            return parse_count(raw)
        value = _locale_decimal(raw, loc, f"a whole number >= 0 like 1{loc.group}204")
        if value != value.to_integral_value() or value < 0:
            raise BadValue(f"expected a whole number >= 0 like 1{loc.group}204 ({loc.tag}), found {shown(raw)}")
        return int(value)

    def rate(raw: object) -> float:
        if type(raw) is not str:
            return parse_rate(raw)
        text = raw.strip(_SPACES)
        percent = text.endswith("%")
        expected = f"a fraction like 0{loc.decimal}85 or a percentage like 85 %"
        value = _locale_decimal(text.rstrip("%").rstrip(_SPACES) if percent else text, loc, expected)
        if percent:
            value = value / 100
        if value < 0 or value > 1:
            raise BadValue(f"expected a rate between 0 and 1 (or 0% to 100%), found {shown(raw)}")
        return round(float(value), 6)

    def money(raw: object) -> int:
        if type(raw) is not str:
            return parse_money_cents(raw)
        expected = f"an amount like {loc.amount_example()}"
        value = _locale_decimal(_CURRENCY_SIGNS.sub("", raw), loc, expected)
        if value < 0:
            raise BadValue(f"expected an amount >= 0, found {shown(raw)}")
        cents = value * 100
        if cents != cents.to_integral_value():
            raise BadValue(f"expected at most 2 decimal places, found {shown(raw)}")
        return _named_currency(raw, int(cents))

    def day(raw: object) -> date:
        if type(raw) is not str:
            return parse_date(raw)
        text = raw.strip()
        expected = f"a date like {loc.date_example()} ({loc.tag}) or 2025-01-31"
        if _ISO.match(text):
            return parse_date(text)
        if match := re.fullmatch(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})", text):
            first, second, year = int(match[1]), int(match[3]), int(match[4])
            year += 2000 if len(match[4]) == 2 else 0  # a short date pattern's yy: this century
            if match[2] == "/" and not loc.day_first:
                first, second = second, first
            try:
                return date(year, second, first)
            except ValueError:
                raise BadValue(f"expected {expected}, found {shown(raw)} (no such day)") from None
        if match := re.fullmatch(r"(\d{1,2})\.? ?([^\d\s.,]+)\.?,? (\d{4})", text):
            month = loc.months.get(match[2].lower())
            if month:
                try:
                    return date(int(match[3]), month, int(match[1]))
                except ValueError:
                    raise BadValue(f"expected {expected}, found {shown(raw)} (no such day)") from None
        raise BadValue(f"expected {expected}, found {shown(raw)}")

    for parser, expected in ((count, "a whole number"), (rate, "a rate"), (money, "an amount"), (day, "a date")):
        parser.expected = expected
    return {parse_count: count, parse_rate: rate, parse_money_cents: money, parse_date: day}
