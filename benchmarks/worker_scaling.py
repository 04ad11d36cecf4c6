"""Benchmark: how import throughput grows from one RQ worker to two, on many files at once.

An agency's morning is many files, not one big one: every show's export, every sheet tab. Imports
are independent jobs, so a second worker should nearly double the rows per second, until the
database or the cores run out. This script measures that against real processes:

  1. creates a fresh database hub_bench_scale_<random>, migrates it and creates the tenant `bench`;
  2. for 1 worker, then 2 (or the counts given with --workers): empties metrics_daily and the
     imports, accepts --files CSV imports of --rows rows each (distinct keys), queues them on Redis
     (database --redis-db, flushed first), then starts that many `python -m hub worker --burst` and
     times from their start until every one has exited; it asserts every import completed with all
     its rows inserted;
  3. in the same run, times PostgreSQL's own COPY of the same rows into a table like metrics_daily,
     from one connection and from two at once, as the database's own figure for the same work.

Only correctness is asserted; times are printed, never asserted.

Usage:
    .venv/bin/python benchmarks/worker_scaling.py [--files 24] [--rows 5000] [--workers 1 --workers 2]
        [--postgres-url URL] [--redis-db 11] [--in-process]
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.ingest_vs_copy import SECRET_KEY, prepare_database  # noqa: E402
from benchmarks.scratch_database import create_database, drop_database  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ADMIN_TOKEN = "bench-admin-token-0123456789"
HEADER = "day,episode_id,source,downloads,listeners,completion_rate\n"
SOURCES = ("apple", "buzzsprout", "spotify", "youtube")
WORKER_TIMEOUT_S = 900


def file_rows(file_number: int, rows: int) -> list[tuple[str, str, str, int, int, str]]:
    """One file's rows: its own days, so no two files share a key."""
    out = []
    first_day = date(2020, 1, 1) + timedelta(days=file_number * (rows // 1000 + 1))
    for i in range(rows):
        day, rest = divmod(i, 1000)
        episode, source = divmod(rest, len(SOURCES))
        downloads = (i * 7919) % 5000 + 10
        out.append(((first_day + timedelta(days=day)).isoformat(), f"ep-{episode:04d}", SOURCES[source],
                    downloads, downloads // 2, f"0.{(i * 31) % 9000 + 1000}"))
    return out


def as_csv(rows) -> str:
    return HEADER + "".join(",".join(map(str, row)) + "\n" for row in rows)


def owner_execute(database_url: str, sql: str):
    from sqlalchemy import text

    from hub.db import owner_engine

    with owner_engine(database_url).begin() as conn:
        result = conn.execute(text(sql))
        return result.scalar() if result.returns_rows else None


def settings_env(database_url: str, redis_url: str) -> dict:
    env = dict(os.environ, HUB_ENV="test", HUB_DATABASE_URL=database_url, HUB_REDIS_URL=redis_url,
               HUB_SECRET_KEY=SECRET_KEY, HUB_ADMIN_TOKEN=ADMIN_TOKEN)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def workers_round(database_url: str, redis_url: str, tenant_id: int, files: list[str], rows: int, workers: int,
                  worker_args: tuple[str, ...] = ()) -> float:
    """Queue every file as an import, run `workers` burst workers until they exit; returns the seconds."""
    from redis import Redis
    from sqlalchemy import select

    from hub.config import load_settings
    from hub.db import across_tenants, make_session_factory
    from hub.ingest.intake import create_import
    from hub.jobs.imports import enqueue_import
    from hub.models import EtlImport

    owner_execute(database_url, "TRUNCATE metrics_daily, etl_import_chunks, etl_row_errors, etl_imports, events, "
                                "row_history CASCADE")
    Redis.from_url(redis_url).flushdb()
    env = settings_env(database_url, redis_url)
    settings = load_settings(env)
    ids = []
    with make_session_factory(database_url)() as session:
        across_tenants(session)
        for body in files:
            imp, _ = create_import(session, tenant_id=tenant_id, source="upload", table_name="metrics_daily",
                                   input_format="csv", payload=body.encode())
            ids.append(imp.id)
        session.commit()
    for import_id in ids:
        assert enqueue_import(settings, import_id) == "queued"

    started = time.perf_counter()
    processes = [subprocess.Popen([PYTHON, "-m", "hub", "worker", "--burst", *worker_args], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
    for process in processes:
        _, stderr = process.communicate(timeout=WORKER_TIMEOUT_S)
        assert process.returncode == 0, f"a worker failed: {stderr.decode()[-2000:]}"
    seconds = time.perf_counter() - started

    with make_session_factory(database_url)() as session:
        across_tenants(session)
        done = session.execute(select(EtlImport.status, EtlImport.rows_inserted).where(EtlImport.id.in_(ids))).all()
    assert sorted(done) == [("completed", rows)] * len(ids), f"expected every import completed: {done[:5]}"
    stored = owner_execute(database_url, "SELECT count(*) FROM metrics_daily")
    assert stored == rows * len(files), f"expected {rows * len(files)} rows in metrics_daily, found {stored}"
    return seconds


def copy_round(database_url: str, tenant_id: int, files: list[list[tuple]], connections: int) -> float:
    """The same rows COPYed into metrics_daily_copy, the files shared out over `connections` at once."""
    import psycopg
    from sqlalchemy.engine import make_url

    owner_execute(database_url, "TRUNCATE metrics_daily_copy")
    url = make_url(database_url)
    dsn = f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}"
    columns = "tenant_id, day, episode_id, source, downloads, listeners, completion_rate, last_updated"
    errors: list[BaseException] = []

    def load(share: list[list[tuple]]) -> None:
        try:
            with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
                for rows in share:  # one transaction per file, as the hub commits per batch
                    buffer = io.StringIO("".join(f"{tenant_id},{','.join(map(str, row))},now()\n" for row in rows))
                    with cursor.copy(f"COPY metrics_daily_copy ({columns}) FROM STDIN (FORMAT csv)") as copy:
                        copy.write(buffer.getvalue())
                    conn.commit()
        except BaseException as error:  # reported after the threads end
            errors.append(error)

    shares = [files[i::connections] for i in range(connections)]
    started = time.perf_counter()
    threads = [threading.Thread(target=load, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    assert not errors, errors
    stored = owner_execute(database_url, "SELECT count(*) FROM metrics_daily_copy")
    assert stored == sum(map(len, files)), stored
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--rows", type=int, default=5000, help="rows per file")
    parser.add_argument("--workers", type=int, action="append", help="worker counts to time (default 1 and 2)")
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--in-process", action="store_true",
                        help="start the workers with --in-process (each job in the worker's own process, no fork)")
    args = parser.parse_args()
    counts = args.workers or [1, 2]
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"

    database_url = create_database(args.postgres_url, "hub_bench_scale")
    try:
        tenant_id = prepare_database(database_url)  # the tenant, and metrics_daily_copy for COPY
        rows = [file_rows(n, args.rows) for n in range(args.files)]
        bodies = [as_csv(r) for r in rows]
        total = args.files * args.rows
        print(f"{args.files} files x {args.rows:,} rows = {total:,} rows; {os.cpu_count()} CPUs; "
              f"workers {'--in-process' if args.in_process else 'forking a process per job'}")
        copy_seconds = {n: copy_round(database_url, tenant_id, rows, n) for n in sorted(set(counts) | {1})}
        worker_args = ("--in-process",) if args.in_process else ()
        hub_seconds = {n: workers_round(database_url, redis_url, tenant_id, bodies, args.rows, n, worker_args) for n in counts}
        print(f"{'':>10} {'hub s':>8} {'hub rows/s':>11} {'vs 1':>6} {'COPY s':>8} {'COPY rows/s':>12} {'vs 1':>6}")
        for n in counts:
            copy_line = (f"{copy_seconds[n]:>8.2f} {total / copy_seconds[n]:>12,.0f} {copy_seconds[1] / copy_seconds[n]:>6.2f}"
                         if n in copy_seconds else "")
            print(f"{n:>2} worker{'s' if n > 1 else ' '} {hub_seconds[n]:>8.2f} {total / hub_seconds[n]:>11,.0f} "
                  f"{hub_seconds[min(counts)] / hub_seconds[n]:>6.2f} {copy_line}")
    finally:
        drop_database(args.postgres_url, database_url)


if __name__ == "__main__":
    main()
