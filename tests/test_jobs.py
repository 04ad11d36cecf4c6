"""Import jobs through a real RQ worker (burst mode) on a real Redis: queueing, retries, failures, recovery."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry

from hub import create_app
from hub.config import load_settings

from hub.ingest import pipeline
from hub.ingest.intake import create_import
from hub.jobs.imports import reconcile_imports
from hub.jobs.kinds import IMPORT
from hub.models import MetricsDaily
from tests.helpers import job_process_facts, load_import, observer, rows, upload_csv, work

CSV = "day,episode_id,source,downloads\n2025-01-06,007,buzzsprout,10\n2025-01-07,007,buzzsprout,20\n"


def upload(client, token, body=CSV):
    return upload_csv(client, token, body)




@pytest.mark.parametrize("flags, forks", [((), True), (("--in-process",), False)], ids=["forking", "in-process"])
def test_the_worker_forks_a_preloaded_process_per_job_unless_told_to_run_jobs_in_its_own(
        database_url, redis_url, hub_env, flags, forks):
    """`python -m hub worker` runs each job in a process forked for it (RQ's Worker), which starts with
    what jobs need already loaded (pyarrow among it); `--in-process` runs each in the worker itself."""
    hub_env(database_url, redis_url)
    job = Queue("hub", connection=Redis.from_url(redis_url)).enqueue(job_process_facts)
    worker = subprocess.Popen([sys.executable, "-m", "hub", "worker", "--burst", *flags], env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = worker.communicate(timeout=120)[0].decode()
    assert worker.returncode == 0, output
    facts = job.return_value(refresh=True)
    assert facts is not None, output
    assert (facts["pid"] != worker.pid) is forks
    if forks:
        assert facts["pyarrow_loaded"], "the forked job process had to load pyarrow itself"


def test_upload_is_queued_then_a_worker_imports_it(database_url, redis_url, tenant, hub_env):
    hub_env(database_url, redis_url)
    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    accepted = upload(client, tenant["secrets"]["api"])
    assert accepted["status"] == "queued"
    queue = Queue("hub", connection=Redis.from_url(redis_url))
    assert queue.job_ids == [IMPORT.job_id(accepted["import_id"])]  # deterministic job id

    work(redis_url)
    imp = load_import(database_url, accepted["import_id"])
    assert (imp.status, imp.rows_inserted) == ("completed", 2)
    assert [r.downloads for r in rows(database_url, MetricsDaily, MetricsDaily.day)] == [10, 20]


def test_failing_job_is_retried_then_marked_failed_and_can_be_retried(database_url, redis_url, tenant, hub_env, monkeypatch, batch_fault):
    hub_env(database_url, redis_url, HUB_JOB_RETRIES="2")
    client = create_app({"database_url": database_url, "redis_url": redis_url, "job_retries": 2,
                         "job_retry_intervals": (0,)}).test_client()
    accepted = upload(client, tenant["secrets"]["api"])
    batch_fault.fail()
    work(redis_url)
    imp = load_import(database_url, accepted["import_id"])
    assert imp.status == "failed"
    assert imp.attempts == 3, "one run and two retries"
    assert imp.error == "ConnectionError: database went away"
    failed = FailedJobRegistry("hub", connection=Redis.from_url(redis_url))
    assert failed.get_job_ids() == [IMPORT.job_id(accepted["import_id"])]

    batch_fault.heal()
    monkeypatch.undo()
    hub_env(database_url, redis_url)
    token = tenant["secrets"]["api"]
    retried = client.post(f"/api/v1/etl/imports/{accepted['import_id']}/retry", headers={"Authorization": f"Bearer {token}"})
    assert retried.status_code == 202
    work(redis_url)
    imp = load_import(database_url, accepted["import_id"])
    assert (imp.status, imp.rows_inserted, imp.error) == ("completed", 2, None)


def test_redis_down_at_upload_then_reconciler_enqueues(database_url, redis_url, tenant, hub_env):
    hub_env(database_url, redis_url)
    # Nothing listens on port 1: the upload must still be accepted and kept.
    client = create_app({"database_url": database_url, "redis_url": "redis://127.0.0.1:1/0"}).test_client()
    accepted = upload(client, tenant["secrets"]["api"])
    assert accepted["status"] == "queued"
    assert load_import(database_url, accepted["import_id"]).status == "queued"

    requeued = reconcile_imports(load_settings(), grace_seconds=0)
    assert requeued == [accepted["import_id"]]
    assert reconcile_imports(load_settings(), grace_seconds=0) == [], "a queued job is not enqueued twice"
    work(redis_url)
    assert load_import(database_url, accepted["import_id"]).status == "completed"


def test_import_left_running_by_a_dead_worker_is_resumed(database_url, redis_url, tenant, hub_env, batch_fault):
    hub_env(database_url, redis_url)
    body = "day,episode_id,source,downloads\n" + "".join(f"2025-01-{d:02d},ep,src,{d}\n" for d in range(1, 10))
    session = observer(database_url)
    imp, _ = create_import(session, tenant_id=tenant["id"], source="test", table_name="metrics_daily",
                           input_format="csv", payload=body.encode())
    session.commit()
    import_id = imp.id
    batch_fault.fail(SystemExit("killed"), from_call=2)  # what a worker's death looks like from inside
    with pytest.raises(SystemExit):
        pipeline.run_import(session, import_id, batch_rows=4)
    session.close()
    batch_fault.heal()
    assert load_import(database_url, import_id).status == "running"

    assert reconcile_imports(load_settings(), grace_seconds=0) == [import_id]
    work(redis_url)
    done = load_import(database_url, import_id)
    assert (done.status, done.rows_total, done.rows_inserted, done.rows_unchanged) == ("completed", 9, 9, 0)


def test_two_workers_import_overlapping_files_concurrently(postgres_url, redis_url, hub_env, tmp_path):
    """Four overlapping imports on two worker processes: every key once, counts add up, nothing failed."""
    from tests.conftest import make_tenant

    tenant = make_tenant(postgres_url)
    hub_env(postgres_url, redis_url, HUB_IMPORT_BATCH_ROWS="500")
    episodes = [f"ep-{n:03d}" for n in range(40)]
    days = [f"2025-01-{d:02d}" for d in range(1, 29)]
    keys = [(day, ep) for day in days for ep in episodes]  # 1,120 keys
    client = create_app({"database_url": postgres_url, "redis_url": redis_url}).test_client()
    imports = []
    for part in range(4):
        # Each file covers half the keys, shifted by a quarter: every key is in two files.
        start = part * len(keys) // 4
        chosen = (keys + keys)[start:start + len(keys) // 2]
        body = "day,episode_id,source,downloads\n" + "".join(f"{d},{e},buzzsprout,{part + 1}\n" for d, e in chosen)
        imports.append(upload(client, tenant["secrets"]["api"], body)["import_id"])

    env = dict(os.environ)
    workers = [subprocess.Popen([sys.executable, "-m", "hub", "worker", "--burst"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [w.communicate(timeout=180)[0].decode() for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs

    done = [load_import(postgres_url, i) for i in imports]
    assert [d.status for d in done] == ["completed"] * 4, [d.error for d in done]
    stored = rows(postgres_url, MetricsDaily)
    assert len(stored) == len(keys) and len({(r.day, r.episode_id) for r in stored}) == len(keys)
    assert sum(d.rows_inserted for d in done) == len(keys)
    assert sum(d.rows_inserted + d.rows_updated + d.rows_unchanged for d in done) == 2 * len(keys)
