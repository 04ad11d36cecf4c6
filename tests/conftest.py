"""Fixtures: real SQLite and PostgreSQL databases, a real Redis, the app and its client.

PostgreSQL and Redis are the machine's own (HUB_TEST_POSTGRES_URL, HUB_TEST_REDIS_URL). Under
CI=true a missing one fails the run; on a laptop without them those tests are skipped.
Each test run creates its own PostgreSQL database and drops it at the end; Redis uses its own
database number, flushed before every test.
"""
from __future__ import annotations

import os
import tempfile
import uuid

# Before anything reads the configuration: tests never touch instance/ or a developer's settings.
os.environ["HUB_ENV"] = "test"
os.environ["HUB_SECRET_KEY"] = "test-secret-key-" + "x" * 32
os.environ["HUB_ADMIN_TOKEN"] = "test-admin-token-0123456789"
os.environ["HUB_WORKBOOK_DIR"] = tempfile.mkdtemp(prefix="hub-tests-")
for name in ("HUB_DATABASE_URL", "HUB_REDIS_URL", "HUB_GOOGLE_SERVICE_ACCOUNT_FILE", "HUB_WORKBOOK_PATH"):
    os.environ.pop(name, None)

import pytest
from sqlalchemy import create_engine, text

from hub import create_app
from hub.db import across_tenants, get_engine, make_session_factory, owner_engine
from hub.migrate import upgrade
from hub.models import Base
from hub.tenants import create_tenant

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
SECRET_KEY = os.environ["HUB_SECRET_KEY"]


def unavailable(what: str, error: Exception):
    message = f"{what} is not reachable ({error.__class__.__name__}: {str(error).splitlines()[0]})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server():
    """The server's admin URL, or a skip/fail when there is none."""
    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:  # psycopg raises several kinds for "no server"
        unavailable("PostgreSQL", error)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_database_factory(postgres_server):
    """Creates databases for this run (hub_test_<run>_<n>) and drops them all at the end."""
    created: list[str] = []
    run = uuid.uuid4().hex[:8]

    def make() -> str:
        name = f"hub_test_{run}_{len(created)}"
        with postgres_server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name

    yield make
    for name in created:
        url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        get_engine(url).dispose()
        owner_engine(url).dispose()
        with postgres_server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def migrated_postgres(postgres_database_factory):
    url = postgres_database_factory()
    upgrade(url)
    return url


def _empty_tables(url: str) -> None:
    engine = owner_engine(url)  # TRUNCATE is the owner's, not the application role's
    names = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A migrated, empty database on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
        upgrade(url)
        yield url
        get_engine(url).dispose()
    else:
        url = request.getfixturevalue("migrated_postgres")
        _empty_tables(url)
        yield url


@pytest.fixture
def postgres_url(migrated_postgres):
    _empty_tables(migrated_postgres)
    return migrated_postgres


@pytest.fixture
def redis_url():
    from redis import Redis

    try:
        connection = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        connection.flushdb()
    except Exception as error:
        unavailable("Redis", error)
    yield REDIS_URL
    connection.flushdb()


@pytest.fixture(autouse=True)
def fresh_quota_counters():
    """Quota counters kept in this process's memory (no Redis) start empty for every test, as its
    database does; Redis counters go with the Redis database the redis_url fixture flushes."""
    from hub.quotas import storage_for

    storage_for("memory://").reset()
    yield


@pytest.fixture
def session_factory(database_url):
    """Sessions that look across tenants, as a test checking what landed where does."""
    factory = make_session_factory(database_url)
    return lambda: across_tenants(factory())


@pytest.fixture
def hub_env(monkeypatch):
    """Point the environment (which RQ jobs read) at the test's database and Redis."""

    def point(database_url: str, redis_url: str | None = None, **extra: str) -> None:
        monkeypatch.setenv("HUB_DATABASE_URL", database_url)
        if redis_url:
            monkeypatch.setenv("HUB_REDIS_URL", redis_url)
        monkeypatch.setenv("HUB_JOB_RETRY_INTERVALS", "0")
        for name, value in extra.items():
            monkeypatch.setenv(name, value)

    return point


def make_tenant(url: str, slug: str = "acme") -> dict:
    session = make_session_factory(url)()
    try:
        tenant, secrets = create_tenant(session, slug, None, SECRET_KEY)
        session.commit()
        return {"id": tenant.id, "slug": slug, "secrets": secrets}
    finally:
        session.close()


@pytest.fixture
def tenant(database_url):
    return make_tenant(database_url)


@pytest.fixture
def app(database_url):
    return create_app({"database_url": database_url, "redis_url": None})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class BatchFault:
    """Makes the ingest pipeline's batch write fail, as when the database goes away mid-import.

    It replaces `hub.ingest.pipeline.apply_batch`, the name the pipeline looks up for every batch.
    `fail()` arms it (optionally only from the Nth batch write on), `calls` counts the batch writes
    since then, and `heal()` puts the real function back, so a rerun succeeds.
    """

    def __init__(self, patch: pytest.MonkeyPatch):
        from hub.ingest import pipeline

        self._patch, self._pipeline = patch, pipeline
        self.real = pipeline.apply_batch
        self.calls = 0

    def fail(self, error: BaseException | None = None, *, from_call: int = 1) -> "BatchFault":
        """Batch writes number `from_call` and later raise `error` (a fresh copy each time); earlier ones are real.

        The default error is the one a lost database connection gives: ConnectionError("database went away").
        """
        error = ConnectionError("database went away") if error is None else error
        self.calls = 0

        def apply_batch(*args, **kwargs):
            self.calls += 1
            if self.calls >= from_call:
                raise type(error)(*error.args)
            return self.real(*args, **kwargs)

        self._patch.setattr(self._pipeline, "apply_batch", apply_batch)
        return self

    def heal(self) -> None:
        self._patch.setattr(self._pipeline, "apply_batch", self.real)


@pytest.fixture
def batch_fault():
    """A `BatchFault`, unarmed; the real `apply_batch` is back after the test whatever it did."""
    with pytest.MonkeyPatch.context() as patch:
        yield BatchFault(patch)
