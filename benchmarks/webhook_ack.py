"""Benchmark: how fast the sheets webhook acknowledges a burst of pushes (persisted first, imported later), and what the import and write-back then cost.

The Apps Script waits for the hub's 202 before it marks rows "sent", and Apps Script runs are
time-limited, so the ack must be fast whatever the workers are doing. The hub promises that a push
is in PostgreSQL before the 202 goes out. This script measures both sides of that promise against
real processes: gunicorn serving `wsgi:app` with the deploy's settings (deploy/gunicorn.conf.py), PostgreSQL,
Redis and `python -m hub worker --burst`.

What it does:
  1. creates a fresh database hub_bench_ack_<random>, migrates it (`python -m hub db upgrade`),
     creates the tenant `bench` (`python -m hub tenant create bench`) and reads its sheets secret;
  2. the baseline: starts gunicorn with the same workers and threads serving benchmarks/noop_wsgi.py
     (a Flask view that reads the body and answers 202, nothing else) and fires the same two bursts at
     it as at the hub below: "cold" (the first requests after start) and "warm" (a second burst);
  3. starts gunicorn serving `wsgi:app` and, with NO RQ worker running, fires --pushes signed pushes of
     --rows rows each at once, twice (cold, then warm; one thread and one requests.Session per push;
     one sheet of 2 x pushes x rows rows split the way the Apps Script splits it, so every
     (day, episode_id, source) key is distinct). Each push is signed just before it is sent. It asserts
     every answer is 202, then checks the database: one etl_imports row per push, status 'queued', and
     the stored chunks byte-identical to the body sent. Since no worker ran, everything there was
     written before the ack;
  4. one push at a time in this process (Flask's test client): --in-process-repetitions pushes after
     --in-process-warm-up through `hub.create_app` on the same PostgreSQL and Redis (a tenant and a
     queue of their own), and as many through the do-nothing app;
  5. starts --rq-workers `python -m hub worker --burst` processes and times until every import is
     'completed' and metrics_daily holds 2 x pushes x rows rows (polling the database every 0.2 s), then
     waits for the workers to drain the write-back jobs (to the local workbook) and exit;
  6. counts, with the HTTP wire mocked by `responses` (the approach of tests/test_writeback.py), the
     Sheets API calls gspread makes to write back 10, 1,000 and 10,000 rows.

Only correctness is asserted; times are printed, never asserted. All traffic stays on 127.0.0.1
(the Google endpoints are mocked in-process and unmatched requests are refused by `responses`).

Usage:
    .venv/bin/python benchmarks/webhook_ack.py [--pushes 50] [--rows 500] [--gunicorn-workers 4]
        [--gunicorn-threads 1] [--rq-workers 2] [--postgres-url URL] [--redis-db 12]
        [--in-process-repetitions 300] [--in-process-warm-up 30] [--only-in-process]
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scratch_database import create_database, drop_database  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TENANT = "bench"
SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmn"  # only encrypts the tenant's generated secrets
ADMIN_TOKEN = "bench-admin-token-0123456789"

HEADER = ["day", "podcast_id", "episode_id", "source", "downloads", "listeners",
          "completion_rate", "ctr", "conversions", "revenue"]
SOURCES = ["apple", "buzzsprout", "spotify", "youtube"]
EPISODES = 250  # x 4 sources = 1,000 distinct keys a day
FIRST_DAY = date(2025, 1, 1)

# Bounds: nothing here waits or loops forever.
HEALTH_TIMEOUT_S = 30
REQUEST_TIMEOUT_S = 60
START_GATE_TIMEOUT_S = 30
STOP_GRACE_S = 15
POLL_INTERVAL_S = 0.2


# --- input ------------------------------------------------------------------------------------

def sheet_rows(total: int) -> list[dict]:
    """`total` rows of one metrics_daily tab as the Apps Script sends them: display strings, rows 2.. total+1.

    random.Random(1): the same rows every run. Keys (day, episode_id, source) are all distinct.
    """
    rng = random.Random(1)
    rows = []
    for i in range(total):
        day_index, rest = divmod(i, EPISODES * len(SOURCES))
        episode, source_index = divmod(rest, len(SOURCES))
        downloads = int(rng.lognormvariate(6.0, 1.0))
        listeners = rng.randint(0, downloads)
        conversions = rng.randint(0, max(1, downloads // 100))
        rows.append({"row_number": i + 2, "values": [
            (FIRST_DAY + timedelta(days=day_index)).isoformat(),
            f"pod-{episode // 25 + 1}",
            f"ep-{episode + 1:04d}",
            SOURCES[source_index],
            f"{downloads:,}",                        # "1,204", as a sheet shows a formatted number
            f"{listeners:,}",
            f"{rng.uniform(25, 98):.1f}%",           # "85.0%"
            f"{rng.uniform(0, 0.06):.3f}",           # "0.031"
            str(conversions),
            f"{conversions * rng.choice([0, 4.99, 9.99, 29.99]):.2f}",  # "119.96"
        ]})
    return rows


def push_bodies(pushes: int, rows_per_push: int) -> list[tuple[str, bytes]]:
    """(push_id, body) for each push: one sheet split into pushes of rows_per_push rows."""
    rows = sheet_rows(pushes * rows_per_push)
    bodies = []
    for p in range(pushes):
        push_id = str(uuid.uuid4())
        body = {"push_id": push_id, "spreadsheet_id": "bench", "sheet": "metrics_daily", "header": HEADER,
                "rows": rows[p * rows_per_push:(p + 1) * rows_per_push]}
        bodies.append((push_id, json.dumps(body, separators=(",", ":")).encode()))
    return bodies


def signed_headers(secret: str, body: bytes) -> dict:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Timestamp": timestamp,
            "X-Hub-Signature-256": f"sha256={digest}"}


# --- database and processes -------------------------------------------------------------------

def query(database_url: str, sql: str, **params) -> list:
    from sqlalchemy import text

    from hub.db import owner_engine

    with owner_engine(database_url).connect() as conn:  # the observer: every tenant's rows
        return conn.execute(text(sql), params).all()


def hub_cli(env: dict, *args: str) -> str:
    done = subprocess.run([PYTHON, "-m", "hub", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"python -m hub {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """The processes this script started, each in its own process group, stopped by their own ids."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log = self.log_dir / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.started.append((name, proc, log))
        return proc

    def stop(self, name: str) -> None:
        self._stop([proc for started_name, proc, _ in self.started if started_name == name])

    def stop_all(self) -> None:
        self._stop([proc for _, proc, _ in self.started])

    @staticmethod
    def _stop(procs: list[subprocess.Popen]) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # gunicorn and rq both shut down their children on TERM
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # anything left in that process's own group (gunicorn workers, rq work horses)
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def tail(self, name: str, lines: int = 40) -> str:
        for started_name, _, log in self.started:
            if started_name == name and log.exists():
                return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def wait_healthy(base_url: str, gunicorn: subprocess.Popen) -> float:
    import requests

    started = time.monotonic()
    while time.monotonic() - started < HEALTH_TIMEOUT_S:
        if gunicorn.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {gunicorn.returncode} before /healthz answered")
        try:
            if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"GET {base_url}/healthz did not answer 200 within {HEALTH_TIMEOUT_S} s")


# --- the ack phase ----------------------------------------------------------------------------

@dataclass
class Ack:
    push_id: str
    status: int
    seconds: float
    answer: dict | str


def fire_pushes(base_url: str, secret: str, bodies: list[tuple[str, bytes]], threads: int) -> tuple[list[Ack], float]:
    """All pushes at once: each thread has its own requests.Session; returns the acks and the phase's wall time."""
    import requests

    url = f"{base_url}/webhooks/sheets/{TENANT}"
    local = threading.local()
    sessions: list = []
    sessions_lock = threading.Lock()
    gate = threading.Event()

    def send(push_id: str, body: bytes) -> Ack:
        if not gate.wait(START_GATE_TIMEOUT_S):
            raise RuntimeError("start gate never opened")
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            with sessions_lock:
                sessions.append(session)
        headers = signed_headers(secret, body)  # signed right before sending
        started = time.perf_counter()
        response = session.post(url, data=body, headers=headers, timeout=REQUEST_TIMEOUT_S)
        seconds = time.perf_counter() - started
        try:
            answer = response.json()
        except ValueError:
            answer = response.text[:500]
        return Ack(push_id, response.status_code, seconds, answer)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(send, push_id, body) for push_id, body in bodies]
        phase_started = time.perf_counter()
        gate.set()
        acks = [f.result(timeout=REQUEST_TIMEOUT_S + START_GATE_TIMEOUT_S) for f in futures]
        phase_seconds = time.perf_counter() - phase_started
    for session in sessions:
        session.close()
    return acks, phase_seconds


def start_gunicorn(processes: Processes, name: str, app_spec: str, args, env: dict) -> str:
    """gunicorn serving `app_spec` with this run's workers and threads; returns its base URL once /healthz answers."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # The deploy's own settings (deploy/gunicorn.conf.py: the app preloaded in the master, each worker
    # connecting to the database and Redis as it starts), with this run's workers and port given here.
    argv = [GUNICORN, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "-w", str(args.gunicorn_workers),
            "-b", f"127.0.0.1:{port}"]
    if args.gunicorn_threads > 1:
        argv += ["-k", "gthread", "--threads", str(args.gunicorn_threads)]
    gunicorn = processes.start(name, argv + [app_spec], env)
    try:
        ready = wait_healthy(base_url, gunicorn)
    except RuntimeError:
        print(f"{name} log (tail):\n" + processes.tail(name, 15))
        raise
    print(f"{name} ({app_spec}) up on {base_url} in {ready:.1f} s", flush=True)
    return base_url


def fire_burst(base_url: str, secret: str, bodies: list[tuple[str, bytes]], threads: int, label: str,
               processes: Processes, log_name: str) -> tuple[list[Ack], float]:
    """One burst of pushes; every one must be answered 202."""
    acks, seconds = fire_pushes(base_url, secret, bodies, threads)
    refused = [a for a in acks if a.status != 202]
    if refused:
        for a in refused[:10]:
            print(f"  {label}: push {a.push_id}: HTTP {a.status} {a.answer}")
        print(f"{log_name} log (tail):\n" + processes.tail(log_name))
    assert not refused, f"{label}: {len(refused)} of {len(acks)} pushes were not answered 202"
    return acks, seconds


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of the values."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


def check_persisted(database_url: str, acks: list[Ack], bodies: list[tuple[str, bytes]]) -> None:
    """Every acked push is an etl_imports row, still 'queued' (no worker ran), with exactly the bytes sent."""
    sent = dict(bodies)
    rows = query(database_url, """
        SELECT i.id, i.dedupe_key, i.status, i.size_bytes, count(c.seq)
        FROM etl_imports i LEFT JOIN etl_import_chunks c ON c.import_id = i.id
        GROUP BY i.id""")
    assert len(rows) == len(acks), f"expected {len(acks)} rows in etl_imports, found {len(rows)}"
    by_push = {row[1]: row for row in rows}
    for ack in acks:
        import_id, _, status, size, chunks = by_push[ack.push_id]
        assert import_id == ack.answer["import_id"], f"push {ack.push_id}: ack names {ack.answer['import_id']}, db has {import_id}"
        assert status == "queued", f"import {import_id}: expected status queued, found {status!r}"
        assert size == len(sent[ack.push_id]) and chunks >= 1, f"import {import_id}: {size} bytes in {chunks} chunks"
    # Byte-for-byte: reassemble each stored payload and compare its hash with the body's.
    stored = query(database_url, """
        SELECT i.dedupe_key, encode(sha256(string_agg(c.data, ''::bytea ORDER BY c.seq)), 'hex')
        FROM etl_imports i JOIN etl_import_chunks c ON c.import_id = i.id GROUP BY i.dedupe_key""")
    mismatched = [push_id for push_id, digest in stored if digest != hashlib.sha256(sent[push_id]).hexdigest()]
    assert not mismatched, f"stored payload differs from the body sent for pushes {mismatched[:5]}"


# --- the import phase -------------------------------------------------------------------------

def wait_imported(database_url: str, pushes: int, expected_rows: int, timeout_s: float, workers: list) -> dict:
    """Poll until every import is finished and the rows are in; returns what was seen at the end."""
    started = time.perf_counter()
    while True:
        statuses = dict(query(database_url, "SELECT status, count(*) FROM etl_imports GROUP BY status"))
        rows = query(database_url, "SELECT count(*) FROM metrics_daily")[0][0]
        elapsed = time.perf_counter() - started
        finished = sum(statuses.get(s, 0) for s in ("completed", "completed_with_errors", "failed"))
        if statuses.get("completed", 0) == pushes and rows == expected_rows:
            return {"ok": True, "seconds": elapsed, "statuses": statuses, "rows": rows}
        if finished == pushes:
            return {"ok": False, "seconds": elapsed, "statuses": statuses, "rows": rows,
                    "why": "every import finished, but not all completed with all rows"}
        if elapsed > timeout_s:
            return {"ok": False, "seconds": elapsed, "statuses": statuses, "rows": rows,
                    "why": f"not done after {timeout_s:.0f} s"}
        if all(w.poll() is not None for w in workers):
            return {"ok": False, "seconds": elapsed, "statuses": statuses, "rows": rows,
                    "why": f"every worker exited (codes {[w.returncode for w in workers]}) before the imports finished"}
        time.sleep(POLL_INTERVAL_S)


def import_failures(database_url: str, limit: int = 5) -> list[str]:
    lines = [f"import {i}: {status}, error={error!r}" for i, status, error in query(database_url, """
        SELECT id, status, error FROM etl_imports WHERE status <> 'completed' ORDER BY id LIMIT :n""", n=limit)]
    lines += [f"row error: row {row} {column}: {message}" for row, column, message in query(database_url, """
        SELECT row_number, "column", message FROM etl_row_errors ORDER BY id LIMIT :n""", n=limit)]
    return lines


# --- one push in process ----------------------------------------------------------------------

IN_PROCESS_TENANT = "bench-in-process"
IN_PROCESS_QUEUE = "bench-in-process"  # no worker listens: the jobs stay queued until the Redis db is flushed


def in_process_pushes(database_url: str, redis_url: str, rows_per_push: int, warm_up: int, repetitions: int) -> dict:
    """One push at a time through Flask's test client: the hub's view (`hub.create_app` on this run's
    PostgreSQL and Redis) beside a do-nothing Flask view (benchmarks/noop_wsgi.py) fed the same bodies.

    The pushes go to a tenant of their own, on a queue no worker reads, with quotas far above what the
    run uses (still charged on every push, as always). Bodies and signatures are made before the clock
    starts; each sample is one `client.post`."""
    from hub import create_app
    from hub.db import make_session_factory
    from hub.tenants import create_tenant

    from benchmarks.noop_wsgi import app as noop_app

    with make_session_factory(database_url)() as session:
        _, secrets = create_tenant(session, IN_PROCESS_TENANT, None, SECRET_KEY)
        session.commit()
    hub_app = create_app({"database_url": database_url, "redis_url": redis_url, "secret_key": SECRET_KEY,
                          "queue_name": IN_PROCESS_QUEUE, "quota_rows_per_day": 10 ** 9,
                          "quota_webhooks_per_minute": 10 ** 6})
    rows = sheet_rows(rows_per_push)
    url = f"/webhooks/sheets/{IN_PROCESS_TENANT}"

    def requests_for(count: int) -> list[tuple[bytes, dict]]:
        out = []
        for _ in range(count):
            body = json.dumps({"push_id": str(uuid.uuid4()), "spreadsheet_id": "bench-in-process",
                               "sheet": "metrics_daily", "header": HEADER, "rows": rows}, separators=(",", ":")).encode()
            out.append((body, signed_headers(secrets["sheets"], body)))
        return out

    def timed(client, signed: list[tuple[bytes, dict]], check) -> list[float]:
        samples = []
        for body, headers in signed:
            started = time.perf_counter()
            response = client.post(url, data=body, headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            check(response)
        return samples

    def accepted_by_hub(response) -> None:
        assert response.status_code == 202 and response.get_json()["status"] == "queued", \
            f"in-process push: HTTP {response.status_code} {response.get_data(as_text=True)[:300]}"

    def accepted_by_noop(response) -> None:
        assert response.status_code == 202, f"do-nothing push: HTTP {response.status_code}"

    results = {}
    for name, app, check in (("flask", noop_app, accepted_by_noop), ("hub", hub_app, accepted_by_hub)):
        client = app.test_client()
        timed(client, requests_for(warm_up), check)
        results[name] = timed(client, requests_for(repetitions), check)

    stored = query(database_url, """
        SELECT count(*) FROM etl_imports i JOIN tenants t ON t.id = i.tenant_id
        WHERE t.slug = :slug AND i.status = 'queued' AND i.size_bytes > 0""", slug=IN_PROCESS_TENANT)[0][0]
    assert stored == warm_up + repetitions, f"in-process pushes: expected {warm_up + repetitions} imports, found {stored}"
    return results


def report_in_process(samples: dict, rows_per_push: int) -> None:
    hub_ms, flask_ms = samples["hub"], samples["flask"]
    print(f"one push in process ({len(hub_ms)} after warm-up, {rows_per_push} rows, Flask test client), ms:")
    for name, values in (("hub", hub_ms), ("do-nothing", flask_ms)):
        print(f"  {name:>10}:  median {statistics.median(values):6.2f}  p90 {percentile(values, 90):6.2f}  "
              f"p99 {percentile(values, 99):6.2f}  (min {min(values):.2f})")
    print(f"  hub - do-nothing: median {statistics.median(hub_ms) - statistics.median(flask_ms):.2f} ms "
          f"(aim: hub median <= 4 ms)")


# --- Sheets API calls of write-back, at the wire ----------------------------------------------

SHEETS = "https://sheets.googleapis.com/v4/spreadsheets"
TOKEN_URI = "https://oauth2.googleapis.com/token"


def service_account_file(directory: Path) -> str:
    """A key file shaped like Google's (a real RSA key; the token call it makes is mocked)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "hub-bench", "private_key_id": "k1", "private_key": pem,
            "client_email": "hub@hub-bench.iam.gserviceaccount.com", "client_id": "1", "token_uri": TOKEN_URI}
    path = directory / "service-account.json"
    path.write_text(json.dumps(info))
    return str(path)


def sheets_calls_for_write_back(database_url: str, row_counts: list[int], key_file: str) -> list[dict]:
    """For each row count: a stored, completed push (as tests/test_writeback.py's stored_push), written back
    through GoogleSheetsTarget with the Google endpoints mocked by `responses`; counts the calls on the wire."""
    import responses

    from hub.db import for_tenant, make_session_factory
    from hub.ingest.intake import create_import
    from hub.ingest.tables import TABLES
    from hub.models import EtlImport
    from hub.sheets.targets import GoogleSheetsTarget
    from hub.sheets.writeback import write_back
    from hub.tenants import create_tenant

    spreadsheet = "SHEETBENCH"
    factory = make_session_factory(database_url)
    with factory() as session:
        tenant, _ = create_tenant(session, "bench-writeback", None, SECRET_KEY)
        session.commit()
        tenant_id = tenant.id

    def sessions():
        return for_tenant(factory(), tenant_id)  # as the write-back job works: for the import's tenant

    results = []
    for n in row_counts:
        rows = sheet_rows(n)
        body = {"push_id": f"wb-{n}", "spreadsheet_id": spreadsheet, "sheet": "metrics_daily",
                "header": HEADER, "rows": rows}
        with sessions() as session:
            imp, _ = create_import(session, tenant_id=tenant_id, source="sheets", table_name="metrics_daily",
                                   input_format="sheet_push", payload=json.dumps(body).encode(), dedupe_key=f"wb-{n}",
                                   context={"spreadsheet_id": spreadsheet, "sheet": "metrics_daily", "track_rows": True})
            imp.status = "completed"
            imp.row_outcomes = {str(r["row_number"]): "inserted" for r in rows}
            session.commit()
            import_id = imp.id

        tab = [HEADER + ["hub_status"]] + [r["values"] + ["sent"] for r in rows]
        with responses.RequestsMock() as wire:
            wire.add(responses.POST, TOKEN_URI, json={"access_token": "ya29.bench", "expires_in": 3600, "token_type": "Bearer"})
            wire.add(responses.GET, re.compile(rf"{SHEETS}/{spreadsheet}/values/.*"),
                     json={"range": f"metrics_daily!A1:K{n + 1}", "majorDimension": "ROWS", "values": tab})
            wire.add(responses.POST, f"{SHEETS}/{spreadsheet}/values:batchUpdate",
                     json={"spreadsheetId": spreadsheet, "totalUpdatedRows": n, "totalUpdatedColumns": 2,
                           "totalUpdatedCells": 2 * n + 2, "totalUpdatedSheets": 1, "responses": []})
            with sessions() as session:
                started = time.perf_counter()
                result = write_back(session, GoogleSheetsTarget.from_service_account_file(key_file),
                                    session.get(EtlImport, import_id), TABLES["metrics_daily"].key)
                seconds = time.perf_counter() - started
            calls = list(wire.calls)
        sheets_calls = [c for c in calls if c.request.url.startswith(SHEETS)]
        batch = [c for c in sheets_calls if c.request.method == "POST"]
        assert result.written == n, f"write-back of {n} rows wrote {result.written}"
        results.append({
            "rows": n,
            "sheets_calls": len(sheets_calls),
            "methods": ", ".join("POST values:batchUpdate" if c.request.url.endswith(":batchUpdate")
                                 else f"{c.request.method} values" for c in sheets_calls),
            "token_calls": sum(1 for c in calls if c.request.url.startswith(TOKEN_URI)),
            "batch_bytes": len(batch[0].request.body) if batch else 0,
            "seconds": seconds,
        })
    return results


# --- main -------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=50, help="pushes fired at once (default: 50)")
    parser.add_argument("--rows", type=int, default=500, help="rows per push (default: 500, the Apps Script's maximum)")
    parser.add_argument("--gunicorn-workers", type=int, default=4, help="gunicorn worker processes (default: 4)")
    parser.add_argument("--gunicorn-threads", type=int, default=1,
                        help="threads per gunicorn worker; 1 = sync workers, more = -k gthread --threads N (default: 1; in 3 runs each "
                             "on 2 CPUs, gthread with 4 threads acked this burst more slowly)")
    parser.add_argument("--rq-workers", type=int, default=2, help="`python -m hub worker --burst` processes (default: 2)")
    parser.add_argument("--client-threads", type=int, default=50, help="client threads, one requests.Session each (default: 50)")
    parser.add_argument("--import-timeout", type=float, default=300, help="seconds to wait for all rows (default: 300)")
    parser.add_argument("--drain-timeout", type=float, default=600,
                        help="seconds to wait for the burst workers to finish the write-backs and exit (default: 600)")
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL, help=f"admin database URL (default: {DEFAULT_ADMIN_URL})")
    parser.add_argument("--in-process-repetitions", type=int, default=300,
                        help="pushes timed one at a time in process, hub and do-nothing each (default: 300)")
    parser.add_argument("--in-process-warm-up", type=int, default=30, help="untimed pushes before those (default: 30)")
    parser.add_argument("--only-in-process", action="store_true", help="skip gunicorn and the workers: only the in-process pushes")
    parser.add_argument("--redis-db", type=int, default=12, help="Redis database number on 127.0.0.1:6379, flushed (default: 12)")
    args = parser.parse_args()

    from redis import Redis
    from rq import Queue
    from rq.registry import FailedJobRegistry

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=10)
    expected_rows = 2 * args.pushes * args.rows  # a cold burst and a warm one
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    kind = "sync" if args.gunicorn_threads <= 1 else f"gthread, {args.gunicorn_threads} threads each"
    print(f"setup: 2 bursts of {args.pushes} pushes x {args.rows} rows = {expected_rows:,} rows; gunicorn {args.gunicorn_workers} "
          f"workers ({kind}); {args.rq_workers} rq burst workers; {args.client_threads} client threads", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="hub_bench_ack_"))
    processes = Processes(tmp)
    database_url = None
    failed = False
    try:
        redis.flushdb()
        database_url = create_database(args.postgres_url, "hub_bench_ack")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update({
            "HUB_ENV": "production",
            "HUB_DATABASE_URL": database_url,
            "HUB_REDIS_URL": redis_url,
            "HUB_SECRET_KEY": SECRET_KEY,
            "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
            "HUB_WORKBOOK_DIR": str(tmp / "workbooks"),
            "HUB_QUEUE": "hub",
        })
        print(f"database: {database_url.rsplit('/', 1)[-1]}; redis db {args.redis_db}", flush=True)
        hub_cli(env, "db", "upgrade")
        secret = json.loads(hub_cli(env, "tenant", "create", TENANT))["secrets"]["sheets"]

        if args.only_in_process:
            report_in_process(in_process_pushes(database_url, redis_url, args.rows, args.in_process_warm_up,
                                                args.in_process_repetitions), args.rows)
            return 0

        bodies = push_bodies(2 * args.pushes, args.rows)  # a cold burst, then a warm one: distinct keys throughout
        bursts = {"cold": bodies[:args.pushes], "warm": bodies[args.pushes:]}
        sizes = [len(b) for _, b in bodies]
        threads = min(args.client_threads, args.pushes)

        # 1. the baseline: a do-nothing Flask app, same gunicorn settings, same bursts
        latencies: dict[tuple[str, str], list[float]] = {}
        base_url = start_gunicorn(processes, "gunicorn-noop", "benchmarks.noop_wsgi:app", args, env)
        for burst, burst_bodies in bursts.items():
            acks, _ = fire_burst(base_url, "not-checked", burst_bodies, threads, f"do-nothing {burst}",
                                 processes, "gunicorn-noop")
            latencies[("flask", burst)] = [a.seconds * 1000 for a in acks]
        processes.stop("gunicorn-noop")

        # 2. the hub: the same two bursts, no worker running
        base_url = start_gunicorn(processes, "gunicorn", "wsgi:app", args, env)
        print(f"firing {args.pushes} pushes twice ({min(sizes):,}-{max(sizes):,} bytes each) ...", flush=True)
        acks, ack_seconds = [], {}
        for burst, burst_bodies in bursts.items():
            burst_acks, ack_seconds[burst] = fire_burst(base_url, secret, burst_bodies, threads, f"hub {burst}",
                                                        processes, "gunicorn")
            latencies[("hub", burst)] = [a.seconds * 1000 for a in burst_acks]
            acks += burst_acks
        assert all(a.answer["status"] == "queued" and a.answer["replayed"] is False for a in acks), \
            f"unexpected ack bodies: {[a.answer for a in acks if a.answer.get('status') != 'queued'][:3]}"
        check_persisted(database_url, acks, bodies)
        queued_jobs = Queue("hub", connection=redis).count
        assert queued_jobs == len(acks), f"expected {len(acks)} jobs on the queue, found {queued_jobs}"
        print(f"all {len(acks)} answered 202; {len(acks)} etl_imports rows 'queued' with the exact bytes sent; "
              f"{queued_jobs} jobs waiting on the queue", flush=True)
        processes.stop("gunicorn")

        # 3. one push at a time, in process, while none of this run's servers or workers compete for the CPUs
        in_process = in_process_pushes(database_url, redis_url, args.rows, args.in_process_warm_up,
                                       args.in_process_repetitions)

        # 4. the workers
        print(f"starting {args.rq_workers} burst workers ...", flush=True)
        workers_started = time.perf_counter()
        workers = [processes.start(f"worker-{n}", [PYTHON, "-m", "hub", "worker", "--burst"], env)
                   for n in range(args.rq_workers)]
        seen = wait_imported(database_url, len(acks), expected_rows, args.import_timeout, workers)
        if not seen["ok"]:
            print(f"IMPORT PHASE FAILED: {seen['why']}; statuses {seen['statuses']}, metrics_daily rows {seen['rows']:,}")
            for line in import_failures(database_url):
                print("  " + line)
            for n in range(args.rq_workers):
                print(f"worker-{n} log (tail):\n" + processes.tail(f"worker-{n}"))
            failed = True
            return 1
        # The pipeline's own span: first started_at to last finished_at (no worker start-up in it).
        first_start, last_finish = query(database_url, "SELECT min(started_at), max(finished_at) FROM etl_imports")[0]
        pipeline_span = (last_finish - first_start).total_seconds()

        drain_deadline = time.perf_counter() + args.drain_timeout
        exit_codes = []
        for w in workers:
            try:
                exit_codes.append(w.wait(timeout=max(0.1, drain_deadline - time.perf_counter())))
            except subprocess.TimeoutExpired:
                exit_codes.append(None)
        drained = time.perf_counter() - workers_started
        write_back_failed = FailedJobRegistry("hub", connection=redis).get_job_ids()
        left = Queue("hub", connection=redis).count

        # 5. Sheets API calls of write-back, mocked at the wire
        counts = sheets_calls_for_write_back(database_url, [10, 1_000, 10_000], service_account_file(tmp))

        # --- report ---
        print("\n== results")
        print(f"ack latency (ms), {args.pushes} concurrent pushes of {args.rows} rows, gunicorn {args.gunicorn_workers} "
              f"workers ({kind}); the do-nothing Flask app served the same way, fed the same bodies:")
        for burst in bursts:
            hub_ms, flask_ms = latencies[("hub", burst)], latencies[("flask", burst)]
            for name, values in (("hub", hub_ms), ("do-nothing", flask_ms)):
                print(f"  {burst} {name:>10}:  p50 {percentile(values, 50):4.0f}  p90 {percentile(values, 90):4.0f}  "
                      f"p99 {percentile(values, 99):4.0f}  max {max(values):4.0f}  (min {min(values):.0f}, "
                      f"mean {statistics.mean(values):.0f})")
            print(f"  {burst} hub / do-nothing:  p50 {percentile(hub_ms, 50) / percentile(flask_ms, 50):.2f}x  "
                  f"p99 {percentile(hub_ms, 99) / percentile(flask_ms, 99):.2f}x  (aim: p99 <= 2x)")
        for burst, seconds in ack_seconds.items():
            print(f"hub ack phase, {burst}: {args.pushes} requests in {seconds:.2f} s = {args.pushes / seconds:.1f} "
                  f"requests/s ({args.pushes * args.rows / seconds:,.0f} rows/s accepted)")
        print(f"persisted before the ack: {len(acks)}/{len(acks)} etl_imports rows 'queued', payloads byte-identical")
        print(f"time to all rows in db ({args.rq_workers} rq workers, from starting them): {seen['seconds']:.2f} s "
              f"= {expected_rows / seen['seconds']:,.0f} rows/s  ({seen['rows']:,} rows, {len(acks)} imports completed)")
        print(f"  import pipeline span (first started_at -> last finished_at): {pipeline_span:.2f} s "
              f"= {expected_rows / pipeline_span:,.0f} rows/s")
        print(f"workers drained and exited (imports + {len(acks)} write-backs to the local workbook): "
              f"{drained:.1f} s, exit codes {exit_codes}, jobs left {left}, failed jobs {len(write_back_failed)}")
        print("write-back Sheets API calls (gspread, wire mocked with `responses`):")
        for c in counts:
            print(f"  {c['rows']:>6,} rows: {c['sheets_calls']} calls to sheets.googleapis.com ({c['methods']}), "
                  f"{c['token_calls']} token call, batchUpdate body {c['batch_bytes'] / 1024:,.0f} KiB")
        report_in_process(in_process, args.rows)
        if write_back_failed or None in exit_codes or any(exit_codes) or left:
            print(f"WARNING: failed jobs {write_back_failed[:5]}")
            for n in range(args.rq_workers):
                print(f"worker-{n} log (tail):\n" + processes.tail(f"worker-{n}", 20))
            failed = True
            return 1
        return 0
    except Exception:
        failed = True
        raise
    finally:
        processes.stop_all()
        try:
            redis.flushdb()
        except Exception as error:  # report, but still drop the database
            print(f"could not flush redis db {args.redis_db}: {error}", file=sys.stderr)
        if database_url:
            drop_database(args.postgres_url, database_url)
        if failed:
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
