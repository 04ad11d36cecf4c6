"""The deploy that runs: the Procfile under honcho (web on gunicorn with preload, a worker, the cron
scheduler) against the real PostgreSQL and Redis, the way the README's deploy section starts it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import make_tenant
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def wait_for(check, what: str, process: subprocess.Popen, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"honcho stopped while waiting for {what}: {process.stdout.read()[-3000:]}")
        try:
            found = check()
        except requests.RequestException:
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout}s")


def test_honcho_runs_the_procfile_web_worker_and_scheduler_against_postgres_and_redis(postgres_url, redis_url):
    tenant = make_tenant(postgres_url, "acme")
    port = free_port()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", HUB_DATABASE_URL=postgres_url, HUB_REDIS_URL=redis_url,
               HUB_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2", HUB_ENV="production", PYTHONUNBUFFERED="1")
    honcho = subprocess.Popen([str(BIN / "honcho"), "start", "-f", "Procfile"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=2).status_code == 200, "healthy web", honcho)
        home = requests.get(base, allow_redirects=False, timeout=5)
        assert home.status_code == 302 and home.headers["Location"].endswith("/admin")

        body = "day,episode_id,podcast_id,source,downloads\n2025-01-06,007,pod-1,manual,1204\n"
        accepted = requests.post(f"{base}/api/v1/etl/upload", timeout=10,
                                 headers={"Authorization": f"Bearer {tenant['secrets']['api']}"},
                                 data={"table": "metrics_daily"}, files={"file": ("m.csv", body)})
        assert accepted.status_code == 202, accepted.text
        status_url = accepted.json()["status_url"]

        def completed():
            answer = requests.get(status_url, headers={"Authorization": f"Bearer {tenant['secrets']['api']}"}, timeout=5)
            return answer.json() if answer.json()["status"] == "completed" else None

        summary = wait_for(completed, "import completed by the Procfile's worker", honcho)
        assert summary["counts"]["inserted"] == 1

        from redis import Redis
        from rq import Worker
        workers = Worker.all(connection=Redis.from_url(redis_url))
        assert len(workers) == 1 and workers[0].queue_names() == ["hub"]
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)  # honcho stops every process it started
        try:
            out, _ = honcho.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            out, _ = honcho.communicate()
    # honcho prefixes each line with "HH:MM:SS process.N | "; its own lines are "system".
    logged = [line.split(" | ", 1) for line in out.splitlines() if " | " in line]
    by_process = {prefix.split()[-1]: [] for prefix, _ in logged}
    for prefix, text in logged:
        by_process[prefix.split()[-1]].append(text)
    assert {"web.1", "worker.1", "scheduler.1"} <= set(by_process), out[-3000:]
    # Every line the hub's processes wrote (gunicorn's own included) is one JSON object, no colour codes.
    for process in ("web.1", "worker.1", "scheduler.1"):
        for text in by_process[process]:
            assert "\x1b[" not in text and json.loads(text)["level"], (process, text)


def test_each_gunicorn_worker_connects_to_the_database_and_redis_as_it_starts(postgres_url, redis_url):
    """deploy/gunicorn.conf.py warms every worker up (hub.warm_up): its database and Redis connections
    open without any request having reached it."""
    from redis import Redis
    from sqlalchemy import text

    from hub.db import owner_engine

    redis = Redis.from_url(redis_url)
    database = str(redis.connection_pool.connection_kwargs.get("db", 0))

    def redis_clients() -> list[dict]:
        return [client for client in redis.client_list() if str(client["db"]) == database]

    before = redis_clients()
    name = f"hub-warm-up-{os.getpid()}"  # how this test finds the workers' backends among the others
    port = free_port()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", HUB_DATABASE_URL=f"{postgres_url}?application_name={name}",
               HUB_REDIS_URL=redis_url, HUB_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2", HUB_ENV="production")
    gunicorn = subprocess.Popen([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def backends() -> list[tuple]:
        with owner_engine(postgres_url).connect() as connection:
            return connection.execute(text(
                "SELECT pid, query FROM pg_stat_activity WHERE application_name = :name AND backend_type = 'client backend'"),
                {"name": name}).all()

    try:
        # No request is sent before both workers' connections are seen.
        connected = wait_for(lambda: (found := backends()) and len(found) == 2 and found, "two warmed-up workers", gunicorn)
        assert all(query == "ROLLBACK" for _pid, query in connected), connected  # the warm-up's session, closed
        # Each worker holds two Redis connections of its own: RQ's, and the quota counters'.
        assert wait_for(lambda: len(redis_clients()) >= len(before) + 4, "Redis connections from both workers", gunicorn)
    finally:
        if gunicorn.poll() is None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
        try:
            gunicorn.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(gunicorn.pid, signal.SIGKILL)
            gunicorn.communicate()


def test_a_database_that_never_answers_does_not_hold_up_the_workers_start(redis_url):
    """The warm-up runs beside the worker, not before it: with a database host that takes connections
    and never answers, /healthz (which checks nothing else) still answers as soon as gunicorn is up."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing is ever read or written
    port = free_port()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", HUB_REDIS_URL=redis_url, HUB_BIND=f"127.0.0.1:{port}",
               HUB_DATABASE_URL=f"postgresql+psycopg://hub@127.0.0.1:{silent.getsockname()[1]}/hub",
               WEB_CONCURRENCY="2", HUB_ENV="production")
    gunicorn = subprocess.Popen([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200,
                 "/healthz with the database silent", gunicorn, timeout=20)
    finally:
        if gunicorn.poll() is None:
            os.killpg(gunicorn.pid, signal.SIGKILL)  # its warm-up threads still wait on the silent socket
        gunicorn.communicate()
        silent.close()
