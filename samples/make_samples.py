"""Generate deterministic sample data (metrics CSV, IO bookings CSV, workbook) for exercising the hub's sheet/CSV ingestion.

Usage:
    python samples/make_samples.py

Rewrites, next to this script:
    metrics_daily.csv   daily podcast metrics per (day, episode_id, source)
    io_bookings.csv     insertion-order (IO) bookings
    hub_samples.xlsx    the same rows in two tabs: ``metrics_daily`` and ``io_bookings``

Every date is an offset from an *anchor* day: metrics cover the days before it, flights sit around
it. The committed files use the fixed anchor 2025-01-27 and 21 days; the demo calls
``write_workbook(path, anchor=today, days=60)`` so its dashboards and pacing show live figures.

Standard library + openpyxl only. All randomness comes from ``random.Random(42)``,
and the workbook is written with fixed timestamps, so re-running produces
byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import re
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.styles import Font

OUT_DIR = Path(__file__).resolve().parent

METRICS_COLUMNS = [
    "day", "podcast_id", "episode_id", "source", "downloads", "listeners",
    "completion_rate", "ctr", "conversions", "revenue_cents",
]
IO_COLUMNS = [
    "io_id", "campaign_id", "ad_unit_id", "episode_id", "podcast_id",
    "flight_start", "flight_end", "booked_impressions", "booked_cpm_cents",
    "promo_code", "vanity_url", "status", "currency",
]

FIXED_ANCHOR = dt.date(2025, 1, 27)  # the committed files' "today"
N_DAYS = 21


def metric_days(anchor: dt.date, n_days: int) -> list[dt.date]:
    """The n_days before the anchor (the anchor itself has no figures yet)."""
    return [anchor - dt.timedelta(days=n_days - i) for i in range(n_days)]


DAYS = metric_days(FIXED_ANCHOR, N_DAYS)  # 2025-01-06 .. 2025-01-26
START_DAY, END_DAY = DAYS[0], DAYS[-1]

HOSTING_SOURCES = ("buzzsprout", "simplecast", "transistor", "anchor")
ACTIVE_STATUSES = ("draft", "scheduled", "live")
ALL_STATUSES = ("draft", "scheduled", "live", "completed", "cancelled")

# podcast_id -> (hosting sources with their share of downloads, day-0 downloads, audience traits)
PODCASTS = {
    "pod-techtalk": {
        "sources": {"buzzsprout": 0.62, "simplecast": 0.38},
        "launch_downloads": 3600,
        "completion": (0.58, 0.78),
        "ctr": (0.008, 0.030),
    },
    "pod-morningrun": {
        "sources": {"transistor": 0.6, "anchor": 0.4},
        "launch_downloads": 3200,
        "completion": (0.70, 0.90),
        "ctr": (0.004, 0.018),
    },
    "pod-truecrime": {
        "sources": {"anchor": 0.7, "buzzsprout": 0.3},
        "launch_downloads": 4200,
        "completion": (0.66, 0.93),
        "ctr": (0.006, 0.022),
    },
}

# Episode ids are TEXT: leading zeros ("007", "0100") must survive ingestion.
EPISODE_OFFSETS = [
    # (podcast_id, episode_id, release day as days from the anchor)
    ("pod-techtalk", "007", -28),
    ("pod-techtalk", "008", -21),
    ("pod-techtalk", "009", -14),
    ("pod-techtalk", "010", -7),
    ("pod-morningrun", "ep-0041", -26),
    ("pod-morningrun", "ep-0042", -19),
    ("pod-morningrun", "ep-0043", -12),
    ("pod-morningrun", "ep-0044", -5),
    ("pod-truecrime", "0099", -25),
    ("pod-truecrime", "0100", -18),
    ("pod-truecrime", "0101", -11),
    # The back catalogue: only in longer windows (an episode is in the data when it was released
    # within the window or the week before it), so the 21-day files stay as they were.
    *(("pod-techtalk", f"{n:03d}", -28 - 7 * (7 - n)) for n in range(6, 1, -1)),
    *(("pod-morningrun", f"ep-{n:04d}", -26 - 7 * (41 - n)) for n in range(40, 35, -1)),
    *(("pod-truecrime", f"{n:04d}", -25 - 7 * (99 - n)) for n in range(98, 93, -1)),
]


def episodes(anchor: dt.date, n_days: int) -> list[tuple[str, str, dt.date]]:
    """(podcast_id, episode_id, release date) of the episodes a window of n_days before the anchor shows."""
    return [(pod, ep, anchor + dt.timedelta(days=offset)) for pod, ep, offset in EPISODE_OFFSETS
            if offset >= -(n_days + 7)]


EPISODES = episodes(FIXED_ANCHOR, N_DAYS)
EPISODE_PODCAST = {ep: pod for pod, ep, _ in EPISODE_OFFSETS}
EPISODE_RELEASE = {ep: rel for _, ep, rel in EPISODES}

# Insertion orders. Numbers (impressions, CPM) are drawn from the RNG; the rest is
# hand-picked so every status appears and flights sit in/around the metrics window.
# The completed IO-2025-001 and the live IO-2025-004 share TECHTALK20 on purpose:
# promo codes only need to be unique among draft/scheduled/live IOs.
IO_OFFSETS = [
    # io_id, campaign_id, ad_unit_id, episode_id, flight start and end as days from the anchor,
    # promo_code, vanity_url, status, currency
    ("IO-2025-001", "camp-acme-q1", "preroll-30", "007", -28, -15,
     "TECHTALK20", "https://acme.example/techtalk", "completed", "USD"),
    ("IO-2025-002", "camp-acme-q1", "midroll-60", "008", -21, -8,
     "ACMEDEV", "https://acme.example/dev", "completed", "USD"),
    ("IO-2025-003", "camp-stride-jan", "preroll-30", "ep-0042", -19, 4,
     "RUN15", "https://stride.example/run", "live", "USD"),
    ("IO-2025-004", "camp-acme-q1", "midroll-60", "009", -14, 13,
     "TECHTALK20", "https://acme.example/techtalk", "live", "USD"),
    ("IO-2025-005", "camp-sleuth-q1", "midroll-60", "0100", -18, 9,
     "SLEUTH10", "https://sleuthbox.example/truecrime", "live", "USD"),
    ("IO-2025-006", "camp-velo-eu", "postroll-15", "ep-0043", -12, 18,
     "VELO25", "https://velo.example/morningrun", "live", "EUR"),
    ("IO-2025-007", "camp-sleuth-q1", "preroll-30", "0101", 0, 27,
     "SLEUTH15", "https://sleuthbox.example/s2", "scheduled", "USD"),
    ("IO-2025-008", "camp-acme-q2", "postroll-15", "010", 7, 34,
     "ACME30", "https://www.example.com/acme-q2", "draft", "USD"),
    ("IO-2025-009", "camp-stride-jan", "postroll-15", "ep-0041", -26, -13,
     "STRIDE5", "https://stride.example/early", "cancelled", "USD"),
    ("IO-2025-010", "camp-nightowl-q1", "midroll-60", "0099", -25, -7,
     "NIGHTOWL", "https://nightowl.example/listen", "completed", "USD"),
]


def io_specs(anchor: dt.date) -> list[tuple]:
    """IO_OFFSETS with ISO flight dates around the anchor."""
    return [(*spec[:4], (anchor + dt.timedelta(days=spec[4])).isoformat(),
             (anchor + dt.timedelta(days=spec[5])).isoformat(), *spec[6:]) for spec in IO_OFFSETS]


IO_SPECS = io_specs(FIXED_ANCHOR)

# Average order values (cents) for Shopify promo-code orders.
ORDER_VALUES_CENTS = (1999, 2499, 3499, 4999, 7999)


def _decay(days_since_release: int) -> float:
    """Share of launch-day downloads an episode gets N days after release."""
    return 0.82 * math.exp(-days_since_release / 2.6) + 0.18 * math.exp(-days_since_release / 40.0)


def build_metrics(rng: random.Random, anchor: dt.date = FIXED_ANCHOR, n_days: int = N_DAYS) -> list[dict]:
    rows: list[dict] = []
    # Shopify rows: one per (day, episode) while a promo-code IO is in flight on that episode.
    promo_flights = [
        (spec[3], dt.date.fromisoformat(spec[4]), dt.date.fromisoformat(spec[5]))
        for spec in io_specs(anchor)
        if spec[6] and spec[8] in ("live", "completed")
    ]
    shown = episodes(anchor, n_days)
    for day in metric_days(anchor, n_days):
        weekday_factor = (1.08, 1.05, 1.0, 0.98, 0.94, 0.82, 0.86)[day.weekday()]
        for podcast_id, episode_id, release in shown:
            if day < release:
                continue
            cfg = PODCASTS[podcast_id]
            age = (day - release).days
            total = cfg["launch_downloads"] * _decay(age) * weekday_factor * rng.uniform(0.9, 1.1)
            for source, share in cfg["sources"].items():
                downloads = int(round(total * share * rng.uniform(0.93, 1.07)))
                listeners = int(downloads * rng.uniform(0.62, 0.86))
                completion = round(rng.uniform(*cfg["completion"]) - 0.004 * min(age, 20), 3)
                ctr = round(rng.uniform(*cfg["ctr"]), 4)
                conversions = min(9, int(downloads * ctr * rng.uniform(0.02, 0.12)))
                rows.append({
                    "day": day,
                    "podcast_id": podcast_id,
                    "episode_id": episode_id,
                    "source": source,
                    "downloads": downloads,
                    "listeners": listeners,
                    "completion_rate": completion,
                    "ctr": ctr,
                    "conversions": conversions,
                    "revenue_cents": 0,
                })
            if any(ep == episode_id and start <= day <= end for ep, start, end in promo_flights):
                # Shopify rows carry conversions/revenue only; audience columns stay blank.
                conversions = rng.choices(range(7), weights=(20, 25, 20, 14, 10, 7, 4))[0]
                revenue = sum(rng.choice(ORDER_VALUES_CENTS) for _ in range(conversions))
                rows.append({
                    "day": day,
                    "podcast_id": podcast_id,
                    "episode_id": episode_id,
                    "source": "shopify",
                    "downloads": None,
                    "listeners": None,
                    "completion_rate": None,
                    "ctr": None,
                    "conversions": conversions,
                    "revenue_cents": revenue,
                })
    return rows


def build_bookings(rng: random.Random, anchor: dt.date = FIXED_ANCHOR) -> list[dict]:
    rows = []
    for (io_id, campaign_id, ad_unit_id, episode_id, start, end,
         promo, vanity, status, currency) in io_specs(anchor):
        rows.append({
            "io_id": io_id,
            "campaign_id": campaign_id,
            "ad_unit_id": ad_unit_id,
            "episode_id": episode_id,
            "podcast_id": EPISODE_PODCAST[episode_id],
            "flight_start": dt.date.fromisoformat(start),
            "flight_end": dt.date.fromisoformat(end),
            "booked_impressions": rng.randrange(5_000, 50_001, 500),
            "booked_cpm_cents": rng.randrange(1_500, 4_501, 50),
            "promo_code": promo,
            "vanity_url": vanity,
            "status": status,
            "currency": currency,
        })
    return rows


def _csv_value(column: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if column == "completion_rate":
        return f"{value:.3f}"
    if column == "ctr":
        return f"{value:.4f}"
    return str(value)


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_value(c, row[c]) for c in columns])


# Column formats for the workbook. Ids are text cells ("@") so "007" stays "007".
TEXT_COLUMNS = {"podcast_id", "episode_id", "source", "io_id", "campaign_id", "ad_unit_id",
                "promo_code", "vanity_url", "status", "currency"}
NUMBER_FORMATS = {
    "day": "yyyy-mm-dd",
    "flight_start": "yyyy-mm-dd",
    "flight_end": "yyyy-mm-dd",
    "downloads": "#,##0",
    "listeners": "#,##0",
    "booked_impressions": "#,##0",
    "completion_rate": "0.0%",   # stored as a fraction, displayed as a percentage
    "ctr": "0.00%",
    "conversions": "0",
    "revenue_cents": "0",
    "booked_cpm_cents": "0",
}

FIXED_TIMESTAMP = dt.datetime.combine(FIXED_ANCHOR, dt.time())


def _fill_sheet(ws, columns: list[str], rows: list[dict]) -> None:
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([row[c] for c in columns])
    for idx, column in enumerate(columns, start=1):
        fmt = "@" if column in TEXT_COLUMNS else NUMBER_FORMATS[column]
        for (cell,) in ws.iter_rows(min_row=2, min_col=idx, max_col=idx):
            cell.number_format = fmt
        letter = ws.cell(row=1, column=idx).column_letter
        ws.column_dimensions[letter].width = max(12, len(column) + 2)
    ws.freeze_panes = "A2"


def write_xlsx(path: Path, metrics: list[dict], bookings: list[dict], stamped: dt.datetime = FIXED_TIMESTAMP) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "metrics_daily"
    _fill_sheet(ws, METRICS_COLUMNS, metrics)
    _fill_sheet(wb.create_sheet("io_bookings"), IO_COLUMNS, bookings)
    wb.properties.creator = "samples/make_samples.py"
    wb.properties.created = stamped

    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl stamps "modified" with now() and zip entries with the current time;
    # re-pack with fixed values so regenerating gives byte-identical output.
    stamp = stamped.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + stamp.encode() + rb"\g<2>", data)
            out = zipfile.ZipInfo(info.filename, date_time=stamped.timetuple()[:6])
            out.compress_type = zipfile.ZIP_DEFLATED
            out.external_attr = 0o644 << 16
            dst.writestr(out, data)


def check(out_dir: Path = OUT_DIR) -> tuple[int, int]:
    """Re-read the written files and assert the invariants the samples promise."""
    with (out_dir / "metrics_daily.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == METRICS_COLUMNS, reader.fieldnames
        metrics = list(reader)
    with (out_dir / "io_bookings.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == IO_COLUMNS, reader.fieldnames
        bookings = list(reader)

    keys = [(r["day"], r["episode_id"], r["source"]) for r in metrics]
    assert len(keys) == len(set(keys)), "duplicate (day, episode_id, source)"
    assert 400 <= len(metrics) <= 700, len(metrics)
    assert {r["day"] for r in metrics} == {d.isoformat() for d in DAYS}
    assert {r["source"] for r in metrics} == set(HOSTING_SOURCES) | {"shopify"}
    assert any(r["episode_id"].startswith("0") for r in metrics)
    for r in metrics:
        dt.date.fromisoformat(r["day"])
        assert EPISODE_PODCAST[r["episode_id"]] == r["podcast_id"]
        conversions, revenue = int(r["conversions"]), int(r["revenue_cents"])
        assert 0 <= conversions <= 10 and revenue >= 0
        if r["source"] == "shopify":
            assert r["downloads"] == r["listeners"] == r["completion_rate"] == r["ctr"] == ""
            assert (revenue > 0) == (conversions > 0)
        else:
            downloads, listeners = int(r["downloads"]), int(r["listeners"])
            assert 50 <= downloads <= 5000 and 0 < listeners < downloads, r
            assert 0 <= float(r["completion_rate"]) <= 1 and len(r["completion_rate"].split(".")[1]) == 3
            assert 0 <= float(r["ctr"]) <= 0.05 and len(r["ctr"].split(".")[1]) == 4
            assert revenue == 0
    for podcast_id, cfg in PODCASTS.items():
        assert {r["source"] for r in metrics if r["podcast_id"] == podcast_id} - {"shopify"} == set(cfg["sources"])

    episode_ids = {r["episode_id"] for r in metrics}
    assert {r["status"] for r in bookings} == set(ALL_STATUSES)
    assert len({r["io_id"] for r in bookings}) == len(bookings)
    active_codes = [r["promo_code"] for r in bookings if r["status"] in ACTIVE_STATUSES and r["promo_code"]]
    assert len(active_codes) == len(set(active_codes)), "promo code reused among active IOs"
    assert {r["currency"] for r in bookings} == {"USD", "EUR"}
    assert sum(r["currency"] == "EUR" for r in bookings) == 1
    for r in bookings:
        assert r["episode_id"] in episode_ids and EPISODE_PODCAST[r["episode_id"]] == r["podcast_id"]
        assert dt.date.fromisoformat(r["flight_start"]) <= dt.date.fromisoformat(r["flight_end"])
        assert 5_000 <= int(r["booked_impressions"]) <= 50_000
        assert 1_500 <= int(r["booked_cpm_cents"]) <= 4_500
        assert r["vanity_url"].startswith("https://")

    wb = openpyxl.load_workbook(out_dir / "hub_samples.xlsx")
    assert wb.sheetnames == ["metrics_daily", "io_bookings"], wb.sheetnames
    for name, csv_rows, columns in (("metrics_daily", metrics, METRICS_COLUMNS),
                                    ("io_bookings", bookings, IO_COLUMNS)):
        ws = wb[name]
        values = list(ws.iter_rows(values_only=True))
        assert list(values[0]) == columns
        assert len(values) - 1 == len(csv_rows), (name, len(values) - 1, len(csv_rows))
        for xrow, crow in zip(values[1:], csv_rows):
            for column, value in zip(columns, xrow):
                if column in TEXT_COLUMNS:
                    assert isinstance(value, str) and value == crow[column], (column, value)
                elif column in ("day", "flight_start", "flight_end"):
                    # openpyxl reads date-formatted cells back as datetimes
                    assert isinstance(value, dt.datetime) and value.date().isoformat() == crow[column]
                elif value is None:
                    assert crow[column] == ""
                else:
                    assert isinstance(value, (int, float)) and not isinstance(value, bool)
                    assert math.isclose(value, float(crow[column])), (column, value, crow[column])
    return len(metrics), len(bookings)


def write_workbook(path: Path, anchor: dt.date, n_days: int = 60) -> tuple[int, int]:
    """The sample workbook as of `anchor` (the demo's today): n_days of metrics before it, flights around it."""
    rng = random.Random(42)
    metrics = build_metrics(rng, anchor, n_days)
    bookings = build_bookings(rng, anchor)
    write_xlsx(Path(path), metrics, bookings, stamped=dt.datetime.combine(anchor, dt.time()))
    return len(metrics), len(bookings)


def main() -> None:
    rng = random.Random(42)
    metrics = build_metrics(rng)
    bookings = build_bookings(rng)
    write_csv(OUT_DIR / "metrics_daily.csv", METRICS_COLUMNS, metrics)
    write_csv(OUT_DIR / "io_bookings.csv", IO_COLUMNS, bookings)
    write_xlsx(OUT_DIR / "hub_samples.xlsx", metrics, bookings)
    n_metrics, n_bookings = check()
    print(f"wrote {OUT_DIR}: metrics_daily={n_metrics} rows, io_bookings={n_bookings} rows")


if __name__ == "__main__":
    main()
