"""Excel number formats: how a workbook cell is displayed (`42` in a `0000` cell is `0042`).

A workbook stores a number and a format code; the person sees the number drawn through the code. The
hub reads identifiers as the person sees them, so it draws them the same way. Covered: sections
(positive;negative;zero;text), General, `@`, zero padding, `#`/`?` placeholders, decimals, grouping,
thousands scaling, percent, scientific, quoted and escaped literals, `[$€-407]` currency symbols,
colours and conditions (ignored), dates and times (English month and day names). Numbers are drawn
with `.` and `,` as Excel's format codes write them, whatever the workbook's locale. A code outside this
(fractions) falls back to General, which never loses a digit of an integer.

No kept library does this (checked: `ssf` 0.2.2, a port of SheetJS's formatter last released in 2020,
fails on current Babel and draws `DD.MM.YYYY` as `31.00.2025`).
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Callable

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SERIAL_EPOCH = datetime(1899, 12, 30)

_DATE_TOKEN = re.compile(r"(?i)(am/pm|a/p|yyyy|yy|y|mmmmm|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|\.0+|e|b)")


def general(value: object) -> str:
    """What a General (or unformatted) cell shows."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # 15 significant digits is what a sheet keeps; beyond them a float's repr shows binary noise.
        return ("%.15g" % value).replace("e", "E")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _split(code: str, separator: str) -> list[str]:
    """Split on `separator` outside quotes, brackets and backslash escapes."""
    parts, current, index, quoted, bracket = [], [], 0, False, False
    while index < len(code):
        char = code[index]
        if char == "\\" and not quoted and index + 1 < len(code):
            current.append(code[index:index + 2])
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "[" and not quoted:
            bracket = True
        elif char == "]" and not quoted:
            bracket = False
        elif char == separator and not quoted and not bracket:
            parts.append("".join(current))
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _tokens(section: str) -> list[tuple[str, str]]:
    """A section as (kind, text): kind `lit` (shown as is), `[` (a bracket's inside) or `code`."""
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(section):
        char = section[index]
        if char == '"':
            end = section.find('"', index + 1)
            end = len(section) if end < 0 else end
            tokens.append(("lit", section[index + 1:end]))
            index = end + 1
        elif char == "\\" and index + 1 < len(section):
            tokens.append(("lit", section[index + 1]))
            index += 2
        elif char == "_" and index + 1 < len(section):
            tokens.append(("lit", " "))  # room for a character's width, e.g. `_)`
            index += 2
        elif char == "*" and index + 1 < len(section):
            index += 2  # fill to the column's width: nothing at a value's own width
        elif char == "[":
            end = section.find("]", index)
            end = len(section) if end < 0 else end
            tokens.append(("[", section[index + 1:end]))
            index = end + 1
        else:
            tokens.append(("code", char))
            index += 1
    # `[$€-407]` shows `€`; `[$-407]` only names a locale; colours and conditions show nothing.
    out = []
    for kind, text in tokens:
        if kind == "[":
            if text.startswith("$"):
                out.append(("lit", text[1:].split("-", 1)[0]))
            elif re.fullmatch(r"(?i)h+|m+|s+", text):
                out.append(("elapsed", text.lower()))
        else:
            out.append((kind, text))
    return out


def _merge_code(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: list[tuple[str, str]] = []
    for kind, text in tokens:
        if merged and merged[-1][0] == kind == "code":
            merged[-1] = ("code", merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


def _is_date(tokens: list[tuple[str, str]]) -> bool:
    code = "".join(text for kind, text in tokens if kind == "code").lower()
    if any(kind == "elapsed" for kind, _ in tokens):
        return True
    if "general" in code or re.search(r"[0#?]", code):
        return False
    return bool(re.search(r"[ymdhs]", code))


# --- numbers -------------------------------------------------------------------------------------

def _number_section(tokens: list[tuple[str, str]]) -> Callable[[float], str] | None:
    """Compile a number section; None when it uses what this module does not draw (fractions)."""
    items: list[tuple[str, str]] = []  # ("lit", s) or ("ph", c) / ("dot", ".") / ("comma", ",") / ("pct", "%") / ("exp", "E+")
    for kind, text in tokens:
        if kind == "lit":
            items.append(("lit", text))
            continue
        index = 0
        while index < len(text):
            char = text[index]
            if char in "0#?":
                items.append(("ph", char))
            elif char == ".":
                items.append(("dot", char))
            elif char == ",":
                items.append(("comma", char))
            elif char == "%":
                items.append(("pct", char))
            elif char in "Ee" and index + 1 < len(text) and text[index + 1] in "+-":
                items.append(("exp", "E" + text[index + 1]))
                index += 1
            elif char == "/":
                return None
            elif char == "@":
                items.append(("lit", ""))
            else:
                items.append(("lit", char))
            index += 1
    placeholders = [i for i, (kind, _) in enumerate(items) if kind == "ph"]
    if not placeholders:
        literal = "".join(text for kind, text in items if kind in ("lit", "pct"))
        return lambda value: literal
    dot = next((i for i, (kind, _) in enumerate(items) if kind == "dot"), None)
    exp = next((i for i, (kind, _) in enumerate(items) if kind == "exp"), None)
    int_end = dot if dot is not None else (exp if exp is not None else placeholders[-1] + 1)
    int_ph = [i for i in placeholders if i < int_end]
    frac_end = exp if exp is not None else len(items)
    frac_ph = [i for i in placeholders if dot is not None and dot < i < frac_end]
    exp_ph = [i for i in placeholders if exp is not None and i > exp]
    percent = sum(1 for kind, _ in items if kind == "pct")
    # A comma between integer placeholders groups thousands; commas right after the last one scale by 1000.
    grouping = bool(int_ph) and any(kind == "comma" and int_ph[0] < i < int_ph[-1] for i, (kind, _) in enumerate(items))
    scale = 0
    if int_ph:
        i = int_ph[-1] + 1
        while i < len(items) and items[i][0] == "comma":
            scale += 1
            i += 1
    decimals = len(frac_ph)
    fast = _plain_number(items, int_ph, frac_ph, exp, grouping, scale, percent)
    if fast is not None:
        return fast
    int_chars = [items[i][1] for i in int_ph]
    frac_chars = [items[i][1] for i in frac_ph]
    interleaved = bool(int_ph) and any(items[i][0] == "lit" for i in range(int_ph[0], int_ph[-1]))
    quantum = Decimal(1).scaleb(-decimals)

    def digits_of(magnitude: Decimal) -> tuple[str, str]:
        rounded = magnitude.quantize(quantum, rounding=ROUND_HALF_UP)
        text = f"{rounded:f}"
        whole, _, frac = text.partition(".")
        return whole.lstrip("0"), frac.ljust(decimals, "0")

    def fill_int(whole: str) -> list[str]:
        """One string per integer placeholder, digits filled from the right; overflow goes left."""
        out = [""] * len(int_chars)
        rest = whole
        for position in range(len(int_chars) - 1, -1, -1):
            if rest:
                out[position], rest = rest[-1], rest[:-1]
            else:
                out[position] = {"0": "0", "?": " ", "#": ""}[int_chars[position]]
        if out:
            out[0] = rest + out[0]
        return out

    def fill_frac(frac: str) -> list[str]:
        out = list(frac)
        for position in range(len(out) - 1, -1, -1):
            if out[position] != "0" or frac_chars[position] == "0":
                break
            out[position] = " " if frac_chars[position] == "?" else ""
        return out

    def draw(value: float) -> str:
        magnitude = abs(Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
        magnitude = magnitude * (100 ** percent) / (1000 ** scale)
        exponent = 0
        if exp is not None and magnitude:
            width = max(len(int_ph), 1)
            exponent = magnitude.adjusted() - (width - 1)
            magnitude = magnitude.scaleb(-exponent)
            if magnitude.quantize(quantum, rounding=ROUND_HALF_UP) >= Decimal(10) ** width:
                exponent += 1
                magnitude = magnitude.scaleb(-1)
        whole, frac = digits_of(magnitude)
        ints = fill_int(whole)
        if grouping and not interleaved:
            joined = "".join(ints)
            stripped = joined.lstrip(" ")
            pad = joined[: len(joined) - len(stripped)]
            grouped = f"{int(stripped):,}" if stripped else ""
            ints = [pad + grouped] + [""] * (len(ints) - 1)
        fracs = fill_frac(frac)
        exps: list[str] = []
        if exp is not None:
            text = str(abs(exponent)).rjust(sum(1 for i in exp_ph if items[i][1] == "0"), "0")
            exps = [text] + [""] * (len(exp_ph) - 1)
        out = []
        int_iter, frac_iter, exp_iter = iter(ints), iter(fracs), iter(exps)
        for i, (kind, text) in enumerate(items):
            if kind == "lit":
                out.append(text)
            elif kind == "pct":
                out.append("%")
            elif kind == "dot":
                out.append(".")
            elif kind == "exp":
                out.append("E" + ("-" if exponent < 0 else "+" if text == "E+" else ""))
            elif kind == "ph":
                source = int_iter if i < int_end else (frac_iter if exp is None or i < exp else exp_iter)
                out.append(next(source, ""))
            # commas were grouping or scaling: they show nothing themselves
        return "".join(out)

    return draw


def _plain_number(items, int_ph, frac_ph, exp, grouping, scale, percent) -> Callable[[float], str] | None:
    """The codes nearly every sheet uses (`0000`, `#,##0`, `0.00`, `0%`, `"$"#,##0.00`) drawn with
    str.format and one Decimal rounding: several times quicker than placeholder filling, same text."""
    int_chars = "".join(items[i][1] for i in int_ph)
    frac_chars = "".join(items[i][1] for i in frac_ph)
    if exp is not None or "?" in int_chars + frac_chars or not re.fullmatch(r"#*0*", int_chars) \
            or not re.fullmatch(r"0*#*", frac_chars):
        return None
    first, last = (int_ph or frac_ph)[0], (frac_ph or int_ph)[-1]
    if any(kind not in ("ph", "dot", "comma") for kind, _ in items[first:last + 1]):
        return None  # literals among the digits (`000-000`)
    min_int = int_chars.count("0")
    if grouping and min_int > 1:
        return None
    prefix = "".join("%" if kind == "pct" else text for kind, text in items[:first] if kind in ("lit", "pct"))
    suffix = "".join("%" if kind == "pct" else text for kind, text in items[last + 1:] if kind in ("lit", "pct"))
    has_dot = any(kind == "dot" for kind, _ in items)
    min_frac, max_frac = frac_chars.count("0"), len(frac_chars)
    quantum = Decimal(1).scaleb(-max_frac)
    spec = ",f" if grouping else "f"
    shift = 2 * percent - 3 * scale

    def draw(value: float) -> str:
        if type(value) is int and not shift and not max_frac:
            whole = f"{value:,}" if grouping else str(value).rjust(min_int, "0")
            return prefix + ("" if value == 0 and not min_int else whole) + ("." if has_dot else "") + suffix
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if shift:
            number = number.scaleb(shift)
        whole, _, frac = format(number.quantize(quantum, rounding=ROUND_HALF_UP), spec).partition(".")
        if whole == "0" and not min_int:
            whole = ""
        elif not grouping and len(whole) < min_int:
            whole = whole.rjust(min_int, "0")
        if len(frac) > min_frac:
            frac = frac[:min_frac] + frac[min_frac:].rstrip("0")
        return prefix + whole + ("." + frac if has_dot else "") + suffix

    return draw


# --- dates ---------------------------------------------------------------------------------------

def _as_datetime(value: object) -> datetime | timedelta | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, time):
        return datetime.combine(SERIAL_EPOCH.date(), value)
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return SERIAL_EPOCH + timedelta(days=value)
    return None


def _date_section(tokens: list[tuple[str, str]]) -> Callable[[object], str | None]:
    parts: list[tuple[str, str]] = []  # ("lit", text) or ("tok", lowercased token)
    for kind, text in tokens:
        if kind == "lit":
            parts.append(("lit", text))
        elif kind == "elapsed":
            parts.append(("elapsed", text))
        else:
            for piece in _DATE_TOKEN.split(text):
                if not piece:
                    continue
                parts.append(("tok", piece.lower()) if _DATE_TOKEN.fullmatch(piece) else ("lit", piece))
    # `m` is minutes right after an hour or right before seconds, else a month.
    toks = [i for i, (kind, _) in enumerate(parts) if kind in ("tok", "elapsed")]
    for n, i in enumerate(toks):
        if parts[i][1] in ("m", "mm"):
            before = parts[toks[n - 1]][1] if n else ""
            after = parts[toks[n + 1]][1] if n + 1 < len(toks) else ""
            if before[:1] in ("h", "[") or before in ("h", "hh") or after in ("s", "ss"):
                parts[i] = ("tok", "min" + parts[i][1])
    twelve = any(kind == "tok" and text in ("am/pm", "a/p") for kind, text in parts)

    def draw(value: object) -> str | None:
        moment = _as_datetime(value)
        if moment is None:
            return None
        if isinstance(moment, timedelta):
            total = moment.total_seconds()
            moment = SERIAL_EPOCH + moment
        else:
            total = (moment - SERIAL_EPOCH).total_seconds()
        out = []
        for kind, text in parts:
            if kind == "lit":
                out.append(text)
            elif kind == "elapsed":
                unit = {"h": 3600, "m": 60, "s": 1}[text[0]]
                out.append(str(int(total // unit)).rjust(len(text), "0"))
            elif text in ("yyyy", "y") or text == "e":
                out.append(str(moment.year))
            elif text == "yy":
                out.append(f"{moment.year % 100:02d}")
            elif text == "mmmmm":
                out.append(MONTHS[moment.month - 1][0])
            elif text == "mmmm":
                out.append(MONTHS[moment.month - 1])
            elif text == "mmm":
                out.append(MONTHS[moment.month - 1][:3])
            elif text in ("mm", "m"):
                out.append(f"{moment.month:0{len(text)}d}")
            elif text == "dddd":
                out.append(DAYS[moment.weekday()])
            elif text == "ddd":
                out.append(DAYS[moment.weekday()][:3])
            elif text in ("dd", "d"):
                out.append(f"{moment.day:0{len(text)}d}")
            elif text in ("hh", "h"):
                hour = moment.hour % 12 or 12 if twelve else moment.hour
                out.append(f"{hour:0{len(text)}d}")
            elif text in ("minmm", "minm"):
                out.append(f"{moment.minute:0{len(text) - 3}d}")
            elif text in ("ss", "s"):
                out.append(f"{moment.second:0{len(text)}d}")
            elif text.startswith("."):
                out.append(f"{moment.microsecond / 1e6:.{len(text) - 1}f}"[1:])
            elif text == "am/pm":
                out.append("AM" if moment.hour < 12 else "PM")
            elif text == "a/p":
                out.append("A" if moment.hour < 12 else "P")
            else:
                out.append(text)  # `b`: a Buddhist-era marker we do not draw
        return "".join(out)

    return draw


# --- a whole code ----------------------------------------------------------------------------------

def _section(section: str) -> tuple[str, Callable]:
    tokens = _merge_code(_tokens(section))
    code = "".join(text for kind, text in tokens if kind == "code")
    if code.strip().lower() in ("", "general") and not any(kind == "lit" and text for kind, text in tokens):
        return "general", general
    if "general" in code.lower():
        before, _, after = section.partition(re.search(r"(?i)general", section)[0])
        prefix = "".join(t for k, t in _tokens(before) if k == "lit")
        suffix = "".join(t for k, t in _tokens(after) if k == "lit")
        return "general", lambda value: prefix + general(value) + suffix
    if _is_date(tokens):
        return "date", _date_section(tokens)
    if "@" in code:
        pieces = [(kind, text) for kind, text in tokens]
        return "text", lambda value: "".join(
            text.replace("@", general(value)) if kind == "code" else text for kind, text in pieces)
    drawn = _number_section(tokens)
    return ("number", drawn) if drawn is not None else ("general", general)


@lru_cache(maxsize=512)
def compile_format(code: str | None) -> Callable[[object], str | None]:
    """A function drawing a cell's value as its format code shows it (None stays None)."""
    if not code or code.strip().lower() == "general":
        def draw_general(value: object) -> str | None:
            return None if value is None else general(value)

        draw_general.kinds = ["general"]  # type: ignore[attr-defined]
        return draw_general
    sections = [_section(part) for part in _split(code, ";")]
    kinds = [kind for kind, _ in sections]
    text_section = sections[3] if len(sections) > 3 else next(
        (s for s in sections if s[0] == "text"), None)
    numeric = [s for s in sections[:3] if s[0] != "text"] or [("general", general)]

    def draw(value: object) -> str | None:
        kind_of = type(value)
        if kind_of is not int and kind_of is not float:
            return draw_other(value)
        return draw_number(value)

    def draw_other(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            return text_section[1](value) if text_section is not None and text_section[0] == "text" else value
        if isinstance(value, bool):
            return general(value)
        if isinstance(value, (datetime, date, time, timedelta)):
            for kind, drawer in numeric:
                if kind == "date":
                    return drawer(value)
            return general(value)
        if not isinstance(value, (int, float)):
            return str(value)
        return draw_number(value)

    def draw_number(value: float) -> str:
        if value < 0 and len(numeric) > 1:
            kind, drawer = numeric[1]
            magnitude = -value  # the negative section writes its own sign, if any
            sign = ""
        elif value == 0 and len(numeric) > 2:
            kind, drawer = numeric[2]
            magnitude, sign = value, ""
        else:
            kind, drawer = numeric[0]
            magnitude, sign = abs(value), ("-" if value < 0 else "")
        if kind == "general":
            return sign + general(magnitude)
        drawn = drawer(magnitude)
        if drawn is None:
            return general(value)
        # Excel drops the minus when a negative rounds to nothing but zeros.
        return sign + drawn if sign and re.search(r"[1-9]", drawn) else drawn

    draw.kinds = kinds  # type: ignore[attr-defined]
    return draw


def is_date_format(code: str | None) -> bool:
    """Whether a number under this code is shown as a date or time."""
    return bool(code) and compile_format(code).kinds[0] == "date"  # type: ignore[attr-defined]


@lru_cache(maxsize=512)
def shows_time(code: str | None) -> bool:
    """Whether a date code shows a time of day (then the cell means a moment, not a day)."""
    if not is_date_format(code):
        return False
    stripped = re.sub(r'"[^"]*"|\\.|\[\$[^\]]*\]', "", code.split(";", 1)[0]).lower()
    return bool(re.search(r"[hs]|am/pm|a/p", stripped))


def render(value: object, code: str | None) -> str | None:
    """`render(42, "0000") == "0042"`; a value under no code (or General) is drawn as General."""
    return compile_format(code)(value)
