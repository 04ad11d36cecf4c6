"""Benchmark: the hub's CSV import pipeline beside PostgreSQL's own COPY, on the same rows in the same run.

Rows per second mean little on their own (they depend on the machine, the disk and the server's
settings), so every figure the pipeline gets is shown next to what the database itself does with
the same rows on the same table shape, measured a moment earlier in the same database: a plain
`COPY ... FROM STDIN` into a copy of `metrics_daily` with the same indexes, unique key and foreign
key. The ratio hub/COPY is the number to compare across machines.

For each --rows N the script:
  1. creates a fresh database hub_bench_<random>, migrates it and creates the tenant `bench`
     (the database is dropped at the end, whatever happens);
  2. writes N rows (random.Random(1): the same rows every run, unique (day, episode_id, source)
     keys) into temporary CSV files, streaming;
  3. times COPY of those rows into metrics_daily_copy (the baseline);
  4. times the hub pipeline importing the CSV into the empty metrics_daily (insert pass),
     then a second CSV with the same keys and changed values (upsert pass), and with
     --with-replay that second CSV once more (replay pass: nothing changes);
  5. runs each hub pass in a fresh child process (spawn) and reports that child's peak RSS, so
     the figure is the pipeline's own memory, not the generator's or the COPY pass's.

Correctness is asserted (counts, and the stored values against the COPY table); times are not.

Usage:
    .venv/bin/python benchmarks/ingest_vs_copy.py [--rows N ...] [--postgres-url URL]
                                                   [--batch-rows B] [--with-replay] [--repeat K]
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scratch_database import create_database, drop_database  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TENANT = "bench"
SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmn"  # 40 characters; only encrypts the tenant's generated secrets
ADMIN_TOKEN = "bench-admin-token-0123456789"

HUB_HEADER = ["day", "podcast_id", "episode_id", "source", "downloads", "listeners",
              "completion_rate", "ctr", "conversions", "revenue_cents"]
COPY_COLUMNS = ["tenant_id", "day", "episode_id", "podcast_id", "source", "downloads", "listeners",
                "completion_rate", "ctr", "conversions", "revenue_cents", "last_updated"]
VALUE_COLUMNS = ["podcast_id", "downloads", "listeners", "completion_rate", "ctr", "conversions", "revenue_cents"]

# A network of 250 episodes reported daily by 4 sources: 1,000 rows a day, in day order like an export.
SOURCES = ["apple", "buzzsprout", "spotify", "youtube"]
EPISODES = 250
EPISODES_PER_PODCAST = 25
FIRST_DAY = date(2022, 1, 1)
COPY_BLOCK_BYTES = 1024 * 1024


# --- input ------------------------------------------------------------------------------------

def generate_rows(n: int):
    """N rows as dicts of CSV text, the same every run; keys (day, episode_id, source) are unique."""
    rng = random.Random(1)
    per_day = EPISODES * len(SOURCES)
    for i in range(n):
        day_index, rest = divmod(i, per_day)
        episode, source_index = divmod(rest, len(SOURCES))
        downloads = int(rng.lognormvariate(5.0, 1.2))
        listeners = rng.randint(0, downloads)
        conversions = rng.randint(0, max(1, downloads // 50))
        yield {
            "day": (FIRST_DAY + timedelta(days=day_index)).isoformat(),
            "podcast_id": f"pod-{episode // EPISODES_PER_PODCAST + 1:03d}",
            "episode_id": f"ep-{episode + 1:05d}",
            "source": SOURCES[source_index],
            "downloads": downloads,
            "listeners": listeners,
            "completion_rate": f"{rng.uniform(0.25, 0.98):.4f}",
            "ctr": f"{rng.uniform(0.0, 0.06):.4f}",
            "conversions": conversions,
            "revenue_cents": conversions * rng.choice([0, 499, 999, 1999]),
        }


@dataclass
class Inputs:
    hub_insert: Path   # the rows, as a person would upload them
    hub_update: Path   # the same keys, downloads + 1
    copy: Path         # the rows of hub_insert in COPY's column order, with tenant_id and last_updated


def write_inputs(directory: Path, n: int, tenant_id: int) -> Inputs:
    inputs = Inputs(directory / "metrics_insert.csv", directory / "metrics_update.csv", directory / "metrics_copy.csv")
    stamp = datetime.now(timezone.utc).isoformat()
    with open(inputs.hub_insert, "w", newline="") as f_insert, \
            open(inputs.hub_update, "w", newline="") as f_update, \
            open(inputs.copy, "w", newline="") as f_copy:
        insert_writer = csv.DictWriter(f_insert, HUB_HEADER)
        update_writer = csv.DictWriter(f_update, HUB_HEADER)
        copy_writer = csv.writer(f_copy)  # no header: COPY's csv format takes none unless told
        insert_writer.writeheader()
        update_writer.writeheader()
        for row in generate_rows(n):
            insert_writer.writerow(row)
            update_writer.writerow({**row, "downloads": row["downloads"] + 1})
            copy_writer.writerow([tenant_id if name == "tenant_id" else stamp if name == "last_updated" else row[name]
                                  for name in COPY_COLUMNS])
    return inputs


# --- the database -----------------------------------------------------------------------------

def prepare_database(database_url: str) -> int:
    """Migrate, create the tenant and the COPY baseline's table; returns the tenant's id."""
    from sqlalchemy import text

    from hub.db import make_session_factory, owner_engine
    from hub.migrate import upgrade
    from hub.tenants import create_tenant

    upgrade(database_url)
    with make_session_factory(database_url)() as session:
        tenant, _ = create_tenant(session, TENANT, "Benchmark", SECRET_KEY)
        session.commit()
        tenant_id = tenant.id
    # Same columns, defaults, indexes and unique key as metrics_daily (LIKE ... INCLUDING ALL), plus the
    # foreign key LIKE leaves out, so COPY pays for the same checks the hub's rows do. Made by the owner (the
    # application role creates no tables); the hub's own pass runs as the application role, under the
    # row-level security policy of metrics_daily (migration 0018), as in production.
    with owner_engine(database_url).begin() as conn:
        conn.execute(text("CREATE TABLE metrics_daily_copy (LIKE metrics_daily INCLUDING ALL)"))
        conn.execute(text("ALTER TABLE metrics_daily_copy ADD FOREIGN KEY (tenant_id) "
                          "REFERENCES tenants (id) ON DELETE CASCADE"))
    return tenant_id


def scalar(database_url: str, sql: str):
    from sqlalchemy import text

    from hub.db import owner_engine

    with owner_engine(database_url).connect() as conn:  # the observer: every tenant's rows, and the copy
        return conn.execute(text(sql)).scalar()


def checkpoint(database_url: str) -> None:
    """Start each timed pass with the previous pass's dirty pages written out, so passes don't pay for each other."""
    from sqlalchemy import text

    from hub.db import owner_engine

    with owner_engine(database_url).connect() as conn:  # CHECKPOINT is a superuser's (or pg_checkpoint's)
        conn.execute(text("CHECKPOINT"))


def differing_rows(database_url: str, downloads_offset: int) -> int:
    """Rows of metrics_daily that do not hold the COPY table's values (downloads + offset); 0 when both agree."""
    m = ", ".join(f"m.{c}" for c in VALUE_COLUMNS)
    c = ", ".join(f"c.{col} + {downloads_offset}" if col == "downloads" else f"c.{col}" for col in VALUE_COLUMNS)
    return scalar(database_url, f"""
        SELECT count(*) FROM metrics_daily m
        FULL JOIN metrics_daily_copy c USING (tenant_id, day, episode_id, source)
        WHERE m.id IS NULL OR c.id IS NULL OR ({m}) IS DISTINCT FROM ({c})""")


# --- the passes -------------------------------------------------------------------------------

@dataclass
class Pass:
    name: str
    rows: int
    seconds: float
    peak_rss_kib: int | None = None
    base_rss_kib: int | None = None
    pipeline_seconds: float | None = None  # the import's own started_at..finished_at

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def copy_pass(database_url: str, path: Path, n: int) -> Pass:
    """PostgreSQL's own bulk load: the CSV file streamed to COPY ... FROM STDIN in 1 MiB blocks, one commit."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url, poolclass=NullPool)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection  # psycopg.Connection
        statement = f"COPY metrics_daily_copy ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT csv)"
        started = time.perf_counter()
        with conn.cursor() as cursor, open(path, "rb") as source:
            with cursor.copy(statement) as copy:
                while block := source.read(COPY_BLOCK_BYTES):
                    copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()
    loaded = scalar(database_url, "SELECT count(*) FROM metrics_daily_copy")
    assert loaded == n, f"COPY: expected {n} rows in metrics_daily_copy, found {loaded}"
    return Pass("COPY (baseline)", n, seconds)


def hub_pass_in_child(database_url: str, csv_path: str, batch_rows: int | None) -> dict:
    """Runs in a fresh spawned process: one import through the pipeline, timed, with this process's peak RSS."""
    os.environ.update({
        "HUB_ENV": "test",
        "HUB_DATABASE_URL": database_url,
        "HUB_SECRET_KEY": SECRET_KEY,
        "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
    })
    os.environ.pop("HUB_REDIS_URL", None)
    if batch_rows is not None:
        os.environ["HUB_IMPORT_BATCH_ROWS"] = str(batch_rows)

    from hub.cli import run_file_import
    from hub.config import load_settings
    # run_file_import imports these on first use (a worker once, for its first import); import them first so
    # the clock sees only the import's work. hub.ingest.columnar brings pyarrow and numpy (about 0.1 s).
    import hub.ingest.columnar, hub.ingest.intake, hub.ingest.pipeline, hub.ingest.summary  # noqa: E401,F401
    import hub.jobs.imports, hub.quotas, hub.tenants  # noqa: E401,F401

    settings = load_settings()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    summary = run_file_import(settings, Path(csv_path), TENANT, "metrics_daily", "csv")
    seconds = time.perf_counter() - started
    return {
        "summary": summary,
        "seconds": seconds,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,  # KiB on Linux
        "base_rss_kib": base,
        "batch_rows": settings.import_batch_rows,
    }


def hub_pass(name: str, database_url: str, path: Path, n: int, batch_rows: int | None, expect: str) -> tuple[Pass, int]:
    """One hub import in a child process; asserts every row came out as `expect` (inserted/updated/unchanged)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(hub_pass_in_child, database_url, str(path), batch_rows).result()
    summary = result["summary"]
    counts = summary["counts"]
    assert summary["status"] == "completed", (
        f"{name}: expected status 'completed', found {summary['status']!r} (error: {summary['error']!r}; "
        f"counts {counts}; first row errors {summary['row_errors'][:5]})")
    expected = {"rows": n, "inserted": 0, "updated": 0, "unchanged": 0, "refused": 0, expect: n}
    assert counts == expected, f"{name}: expected counts {expected}, found {counts}"
    return Pass(name, n, result["seconds"], result["peak_rss_kib"], result["base_rss_kib"],
                summary["duration_seconds"]), result["batch_rows"]


def run_one(admin_url: str, n: int, batch_rows: int | None, with_replay: bool) -> tuple[list[Pass], int]:
    database_url = create_database(admin_url)
    try:
        tenant_id = prepare_database(database_url)
        with tempfile.TemporaryDirectory(prefix="hub_bench_") as tmp:
            print(f"  generating {n:,} rows ...", flush=True)
            inputs = write_inputs(Path(tmp), n, tenant_id)

            checkpoint(database_url)
            print("  COPY baseline ...", flush=True)
            passes = [copy_pass(database_url, inputs.copy, n)]

            checkpoint(database_url)
            print("  hub insert pass ...", flush=True)
            inserted, used_batch = hub_pass("hub insert", database_url, inputs.hub_insert, n, batch_rows, "inserted")
            passes.append(inserted)
            differ = differing_rows(database_url, downloads_offset=0)
            assert differ == 0, f"hub insert: {differ} rows differ from what COPY loaded"

            checkpoint(database_url)
            print("  hub upsert pass ...", flush=True)
            passes.append(hub_pass("hub upsert", database_url, inputs.hub_update, n, batch_rows, "updated")[0])
            differ = differing_rows(database_url, downloads_offset=1)
            assert differ == 0, f"hub upsert: {differ} rows do not hold the changed values"

            if with_replay:
                checkpoint(database_url)
                print("  hub replay pass ...", flush=True)
                passes.append(hub_pass("hub replay", database_url, inputs.hub_update, n, batch_rows, "unchanged")[0])
        return passes, used_batch
    finally:
        drop_database(admin_url, database_url)


# --- report -----------------------------------------------------------------------------------

def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f}"


def print_detail(n: int, passes: list[Pass]) -> None:
    copy = passes[0]
    print(f"\nrows: {n:,}")
    print(f"  {'pass':<16} {'seconds':>8} {'rows/s':>10} {'hub/COPY':>9} {'pipeline s':>11} {'peak RSS MiB':>13} {'(at start)':>11}")
    for p in passes:
        ratio = "-" if p is copy else f"{p.rows_per_second / copy.rows_per_second:.2f}"
        pipeline = "-" if p.pipeline_seconds is None else f"{p.pipeline_seconds:.2f}"
        print(f"  {p.name:<16} {p.seconds:>8.2f} {p.rows_per_second:>10,.0f} {ratio:>9} {pipeline:>11} "
              f"{mib(p.peak_rss_kib):>13} {mib(p.base_rss_kib):>11}")


def print_summary(results: list[tuple[int, list[Pass]]]) -> None:
    print("\nsummary (rows/s; hub/COPY = hub rows/s divided by COPY rows/s; RSS = peak of the pass's own process)")
    print(f"  {'rows':>10} {'COPY rows/s':>12} {'insert rows/s':>14} {'upsert rows/s':>14} "
          f"{'insert/COPY':>12} {'upsert/COPY':>12} {'insert MiB':>11} {'upsert MiB':>11}")
    for n, passes in results:
        copy, insert, upsert = passes[0], passes[1], passes[2]
        print(f"  {n:>10,} {copy.rows_per_second:>12,.0f} {insert.rows_per_second:>14,.0f} {upsert.rows_per_second:>14,.0f} "
              f"{insert.rows_per_second / copy.rows_per_second:>12.2f} {upsert.rows_per_second / copy.rows_per_second:>12.2f} "
              f"{mib(insert.peak_rss_kib):>11} {mib(upsert.peak_rss_kib):>11}")


def print_medians(results: list[tuple[int, list[Pass]]]) -> None:
    """Each pass's hub/COPY ratio over the runs of one row count: the median, then every run's."""
    print("\nhub/COPY over the runs (median: each run, in order)")
    for n in dict.fromkeys(n for n, _ in results):
        runs = [passes for rows, passes in results if rows == n]
        for index, name in enumerate(("insert", "upsert", "replay"), start=1):
            ratios = [passes[index].rows_per_second / passes[0].rows_per_second for passes in runs if len(passes) > index]
            if ratios:
                print(f"  {n:>10,} {name:<7} {statistics.median(ratios):.2f}: {' '.join(f'{r:.2f}' for r in ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows per run; repeat for several (default: 100000)")
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL,
                        help=f"an admin database on the server; a fresh database is created beside it (default: {DEFAULT_ADMIN_URL})")
    parser.add_argument("--batch-rows", type=int, help="HUB_IMPORT_BATCH_ROWS for the hub passes (default: the hub's own)")
    parser.add_argument("--with-replay", action="store_true", help="also import the changed file a second time (all unchanged)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per row count, each in a fresh database; the ratios move by about 0.05 from run to run, "
                             "so several runs end with each pass's median (default: 1)")
    args = parser.parse_args()
    row_counts = args.rows or [100_000]

    from sqlalchemy import create_engine, text

    admin = create_engine(args.postgres_url)
    with admin.connect() as conn:
        version = conn.execute(text("SELECT version()")).scalar()
    admin.dispose()
    print(f"PostgreSQL: {version}")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")

    results = []
    batch_used = None
    for n in row_counts:
        for run in range(1, args.repeat + 1):
            print(f"\n== {n:,} rows" + (f", run {run} of {args.repeat}" if args.repeat > 1 else ""), flush=True)
            passes, batch_used = run_one(args.postgres_url, n, args.batch_rows, args.with_replay)
            print_detail(n, passes)
            results.append((n, passes))
    print(f"\nhub batch size: {batch_used} rows per transaction (HUB_IMPORT_BATCH_ROWS)")
    print_summary(results)
    if args.repeat > 1:
        print_medians(results)


if __name__ == "__main__":
    main()
