"""Benchmark: reading and importing a formatted XLSX (and the same rows as ODS) of N metrics_daily rows.

Times two things per file, each best of --repeat:
  read:   the reader alone (open_rows and every row pulled), what number formats and typed cells cost;
  import: the whole pipeline (run_import, as a job runs it) inserting into a fresh SQLite database.

The workbook has the cells a person formats: dates, `0000` episode ids, grouped downloads, a percent
rate and currency revenue. The ODS copy is written by LibreOffice (`soffice --convert-to ods`) when it
is installed; otherwise only the XLSX is measured. Correctness is asserted (counts and one row);
times are not.

Usage:
    .venv/bin/python benchmarks/workbook_import.py [--rows 50000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmn"


def write_xlsx(path: Path, rows: int) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("metrics_daily")
    sheet.append(["day", "episode_id", "source", "downloads", "completion_rate", "revenue"])
    formats = ["yyyy-mm-dd", "0000", "General", "#,##0", "0%", '"$"#,##0.00']
    start = date(2024, 1, 1)
    for index in range(rows):
        values = [start + timedelta(days=index // 250), index % 250 + 1, "manual", 1000 + index % 977,
                  (index % 100) / 100, round(100 + (index % 5000) / 4, 2)]
        cells = []
        for value, number_format in zip(values, formats):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = number_format
            cells.append(cell)
        sheet.append(cells)
    workbook.save(path)


def time_read(path: Path, input_format: str, repeat: int) -> float:
    from hub.ingest.readers import open_rows

    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        with open(path, "rb") as handle:
            stream = open_rows(handle, input_format, "metrics_daily")
            count = sum(1 for _ in stream.rows)
        best = min(best, time.perf_counter() - started)
    return best, count


def time_import(path: Path, input_format: str, rows: int, scratch: Path, attempt: int = 0) -> float:
    from hub.db import make_session_factory
    from hub.ingest.intake import create_import
    from hub.ingest.pipeline import run_import
    from hub.migrate import upgrade
    from hub.tenants import create_tenant

    url = f"sqlite:///{scratch / f'bench-{input_format}-{attempt}.sqlite3'}"
    upgrade(url)
    session = make_session_factory(url)()
    try:
        tenant, _ = create_tenant(session, "bench", None, SECRET_KEY)
        with open(path, "rb") as handle:
            imp, _ = create_import(session, tenant_id=tenant.id, source="bench", table_name="metrics_daily",
                                   input_format=input_format, payload=handle)
        session.commit()
        started = time.perf_counter()
        imp = run_import(session, imp.id)
        elapsed = time.perf_counter() - started
        assert imp.rows_inserted == rows, (imp.status, imp.rows_inserted, imp.rows_refused, imp.error)
        return elapsed
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="hub-bench-workbook-"))
    try:
        xlsx = scratch / "metrics.xlsx"
        write_xlsx(xlsx, args.rows)
        files = [("xlsx", xlsx)]
        soffice = shutil.which("soffice")
        from hub.ingest.readers import INPUT_FORMATS

        if soffice and "ods" in INPUT_FORMATS:
            subprocess.run([soffice, f"-env:UserInstallation=file://{scratch / 'lo-profile'}", "--headless",
                            "--convert-to", "ods", "--outdir", str(scratch), str(xlsx)],
                           check=True, capture_output=True, timeout=600)
            files.append(("ods", scratch / "metrics.ods"))
        for input_format, path in files:
            read, count = time_read(path, input_format, args.repeat)
            assert count == args.rows, count
            imported = min(time_import(path, input_format, args.rows, scratch, n) for n in range(args.repeat))
            print(f"{input_format}: {args.rows} rows, {path.stat().st_size / 1e6:.1f} MB; "
                  f"read {read:.2f}s ({args.rows / read:,.0f} rows/s); "
                  f"import into SQLite {imported:.2f}s ({args.rows / imported:,.0f} rows/s)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
