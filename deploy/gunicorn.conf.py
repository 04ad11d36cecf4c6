"""Gunicorn settings for the hub: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Bodies are bounded by the app per endpoint (hub/request_limits.py); these bound what gunicorn itself
reads before the app sees a request (request line, header count and size) and how long a slow or
stuck client may hold a worker. Every value can be overridden on the command line.
"""
import os
import shutil
import tempfile

# prometheus_client's multiprocess mode (hub/status/metrics.py): each web worker keeps its counters in a
# file in this folder and /metrics, whichever worker answers, adds them up. It must be set before the app
# (and prometheus_client) is imported, which is why it is here. A folder given by the operator is
# emptied when the master starts; without one, a fresh folder is made and removed at exit.
_OWN_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hub-metrics-")
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]

bind = os.environ.get("HUB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "sync"
# The app is built once in the master and forked: workers start at once and share its memory.
preload_app = True

limit_request_line = 4094          # bytes in "POST /path?query HTTP/1.1"
limit_request_fields = 64          # headers per request (platforms send about 15)
limit_request_field_size = 8190    # bytes per header line
timeout = 120                      # a worker busy this long on one request is replaced (a 256 MB upload on a slow link fits)
graceful_timeout = 30
keepalive = 5
max_requests = 2000                # recycle workers now and then: any slow growth is returned
max_requests_jitter = 200

# gunicorn's own lines (start, worker exits, signals) as the same one-JSON-object-per-line as the hub's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "hub.logging_setup.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    # The hub's own logging (hub/logging_setup.py) puts its handler on the root logger.
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def on_starting(server):
    # Counts from an earlier run's processes would be added to this run's.
    os.makedirs(METRICS_DIR, exist_ok=True)
    for name in os.listdir(METRICS_DIR):
        if name.endswith(".db"):
            os.remove(os.path.join(METRICS_DIR, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


def post_fork(server, worker):
    # A worker must not use a database connection its master opened (preload_app).
    from hub.db import dispose_inherited_pools

    dispose_inherited_pools()


def post_worker_init(worker):
    # The worker connects to the database and Redis as it starts, not on its first request (hub.warm_up).
    from hub import warm_up

    warm_up(worker.wsgi)
