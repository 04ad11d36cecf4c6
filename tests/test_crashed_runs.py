"""Imports survive killed workers: real `python -m hub worker` processes on PostgreSQL and Redis, killed
with SIGKILL mid-import. One run per import at a time (a lease renewed with every batch), a dead run
found by its lapsed lease and resumed, and completion written exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import select

from hub.config import load_settings
from tests.helpers import observer
from hub.ingest.intake import create_import
from hub.jobs.imports import enqueue_import, execute_import
from hub.models import EtlImport, Event, MetricsDaily
from tests.conftest import make_tenant

ROWS = 40_000
LEASE_SECONDS = "2"


def _env(postgres_url: str, redis_url: str) -> dict:
    return dict(os.environ, HUB_DATABASE_URL=postgres_url, HUB_REDIS_URL=redis_url, HUB_IMPORT_BATCH_ROWS="200",
                HUB_IMPORT_LEASE_SECONDS=LEASE_SECONDS, HUB_JOB_RETRY_INTERVALS="0")


def _accepted_import(postgres_url: str) -> str:
    tenant = make_tenant(postgres_url, "acme")
    body = "day,episode_id,source,downloads\n" + "".join(
        f"2025-01-{n % 28 + 1:02d},ep-{n // 28},host,{n}\n" for n in range(ROWS))
    session = observer(postgres_url)
    try:
        imp, _ = create_import(session, tenant_id=tenant["id"], source="upload", table_name="metrics_daily",
                               input_format="csv", payload=body.encode())
        session.commit()
        return imp.id
    finally:
        session.close()


def _import(postgres_url: str, import_id: str) -> EtlImport:
    session = observer(postgres_url)
    try:
        return session.get(EtlImport, import_id)
    finally:
        session.close()


def _wait_until_midway(postgres_url: str, import_id: str, timeout: float = 60) -> EtlImport:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        imp = _import(postgres_url, import_id)
        if imp.status == "running" and 2_000 <= imp.rows_done:
            return imp
        assert imp.status in ("queued", "running"), imp.status
        time.sleep(0.05)
    raise AssertionError("the import never got going")


def _job_processes(worker_pid: int) -> list[int]:
    """The worker's job processes (RQ's work horses). RQ puts each in its own process group, so killing
    the worker's group leaves them running: they are found by their parent, while it is alive."""
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # it ended meanwhile
            continue
        if int(fields[1]) == worker_pid:
            children.append(int(entry))
    return children


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # dead, waiting to be reaped
    except FileNotFoundError:
        return True


def _kill(pids: list[int]) -> None:
    """SIGKILL each process and wait until it is dead, so that nothing it held outlives the test."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"processes {pids} outlived SIGKILL"
        time.sleep(0.05)


def _completion_events(postgres_url: str, import_id: str) -> list[str]:
    session = observer(postgres_url)
    try:
        return session.scalars(select(Event.name).where(Event.subject == import_id)).all()
    finally:
        session.close()


def _assert_exact(postgres_url: str, import_id: str, events: list[str] | None = None) -> None:
    done = _import(postgres_url, import_id)
    assert (done.status, done.rows_total, done.rows_inserted, done.rows_updated, done.rows_unchanged,
            done.rows_refused) == ("completed", ROWS, ROWS, 0, 0, 0)
    session = observer(postgres_url)
    try:
        assert len(session.scalars(select(MetricsDaily.id)).all()) == ROWS
    finally:
        session.close()
    assert sorted(_completion_events(postgres_url, import_id)) == (events or ["etl.import_completed"])


def test_a_worker_killed_mid_import_is_replaced_and_the_import_completes_exactly(postgres_url, redis_url):
    env = _env(postgres_url, redis_url)
    import_id = _accepted_import(postgres_url)
    assert enqueue_import(load_settings(env), import_id) == "queued"
    worker = subprocess.Popen([sys.executable, "-m", "hub", "worker"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        midway = _wait_until_midway(postgres_url, import_id)
    finally:
        # The worker and its job process, with no chance to clean up.
        _kill([*_job_processes(worker.pid), worker.pid])
        worker.wait()
    killed_at = time.monotonic()
    stuck = _import(postgres_url, import_id)
    assert stuck.status == "running" and midway.rows_done <= stuck.rows_done < ROWS

    # A worker started again (it reconciles on start) takes the import once the dead run's lease lapsed.
    time.sleep(float(LEASE_SECONDS) + 0.5)
    subprocess.run([sys.executable, "-m", "hub", "worker", "--burst"], env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert time.monotonic() - killed_at < 60
    _assert_exact(postgres_url, import_id)


def test_an_orphaned_job_process_and_a_second_run_give_one_run(postgres_url, redis_url):
    env = _env(postgres_url, redis_url)
    import_id = _accepted_import(postgres_url)
    assert enqueue_import(load_settings(env), import_id) == "queued"
    worker = subprocess.Popen([sys.executable, "-m", "hub", "worker", "--burst"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_until_midway(postgres_url, import_id)
    orphans = _job_processes(worker.pid)
    assert orphans, "the worker runs the import in a job process"
    os.kill(worker.pid, signal.SIGKILL)  # only the worker's main process: its job process goes on, orphaned
    worker.wait()

    # Another run of the same import (a requeued or retried job) while the orphan still holds it: it leaves.
    assert execute_import(load_settings(env), import_id) == {"import_id": import_id, "status": "handed-over"}
    deadline = time.monotonic() + 60
    while _import(postgres_url, import_id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    _assert_exact(postgres_url, import_id)
    _kill(orphans)  # whatever the orphan does after the import, it does not reach into the next test


def test_a_due_retry_runs_with_plain_rq_workers_after_a_reconcile(postgres_url, redis_url):
    from datetime import datetime, timedelta, timezone

    from redis import Redis
    from rq import Queue

    from hub.jobs.imports import run_import_job
    from hub.jobs.kinds import IMPORT

    env = _env(postgres_url, redis_url)
    import_id = _accepted_import(postgres_url)
    # What RQ's Retry(interval=...) leaves after a failed attempt: the job in the scheduled registry, due now.
    queue = Queue("hub", connection=Redis.from_url(redis_url))
    queue.enqueue_at(datetime.now(timezone.utc) - timedelta(seconds=1), run_import_job, import_id,
                     job_id=IMPORT.job_id(import_id))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rq_worker = [os.path.join(os.path.dirname(sys.executable), "rq"), "worker", "--burst", "--url", redis_url, "hub"]
    subprocess.run(rq_worker, env=env, cwd=root, check=True, timeout=120, capture_output=True)
    assert _import(postgres_url, import_id).status == "queued", "plain `rq worker` runs no scheduler"

    reconciled = subprocess.run([sys.executable, "-m", "hub", "reconcile"], env=env, cwd=root, capture_output=True,
                                text=True, timeout=60)
    assert reconciled.returncode == 0, reconciled.stderr
    subprocess.run(rq_worker, env=env, cwd=root, check=True, timeout=120, capture_output=True)
    _assert_exact(postgres_url, import_id)


def _failed_by_a_fault(postgres_url: str, redis_url: str, monkeypatch, batch_fault) -> str:
    """An import whose RQ job failed on a fault (the database went away), retries used up."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    for name, value in _env(postgres_url, redis_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HUB_JOB_RETRIES", "0")
    import_id = _accepted_import(postgres_url)
    assert enqueue_import(load_settings(), import_id) == "queued"

    batch_fault.fail()
    connection = Redis.from_url(redis_url)
    SimpleWorker([Queue("hub", connection=connection)], connection=connection).work(burst=True)
    batch_fault.heal()
    assert _import(postgres_url, import_id).status == "failed"
    return import_id


def _failed_registry(redis_url: str) -> list[str]:
    from redis import Redis
    from rq.registry import FailedJobRegistry

    return FailedJobRegistry("hub", connection=Redis.from_url(redis_url)).get_job_ids()


def test_rq_requeue_of_a_failed_import_runs_and_completes_it(postgres_url, redis_url, monkeypatch, batch_fault):
    from hub.jobs.kinds import IMPORT

    import_id = _failed_by_a_fault(postgres_url, redis_url, monkeypatch, batch_fault)
    assert _failed_registry(redis_url) == [IMPORT.job_id(import_id)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rq = os.path.join(os.path.dirname(sys.executable), "rq")
    env = _env(postgres_url, redis_url)
    subprocess.run([rq, "requeue", "--url", redis_url, "--queue", "hub", IMPORT.job_id(import_id)], env=env, cwd=root,
                   check=True, timeout=60, capture_output=True)
    subprocess.run([rq, "worker", "--burst", "--url", redis_url, "hub"], env=env, cwd=root, check=True, timeout=120,
                   capture_output=True)
    _assert_exact(postgres_url, import_id, events=["etl.error", "etl.import_completed"])
    assert _failed_registry(redis_url) == []


def test_hub_retry_clears_rqs_failed_registry_and_completes_the_import(postgres_url, redis_url, monkeypatch, batch_fault):
    import_id = _failed_by_a_fault(postgres_url, redis_url, monkeypatch, batch_fault)
    env = _env(postgres_url, redis_url)
    done = subprocess.run([sys.executable, "-m", "hub", "retry", import_id], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert _failed_registry(redis_url) == []
    subprocess.run([sys.executable, "-m", "hub", "worker", "--burst"], env=env, check=True, timeout=120,
                   capture_output=True)
    _assert_exact(postgres_url, import_id, events=["etl.error", "etl.import_completed"])
