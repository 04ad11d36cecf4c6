"""Engines and sessions: one engine per database URL, sessions handed to the code that needs them.

Every session works for one tenant or, said explicitly, across tenants. On PostgreSQL the scope is
the per-transaction setting `hub.tenant_id` (or `hub.all_tenants`) that the row-level security
policies read (migration 0018), and the application runs as the role `hub_app`, which cannot bypass
them: a query that forgets its tenant filter still sees only its tenant's rows, and a session that
was never scoped sees no tenant's rows at all. SQLite has no row-level security; there the
application's own `tenant_id` filters are the only wall.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import String, cast, create_engine, event, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

# The role the application runs as on PostgreSQL (created by migration 0018): no BYPASSRLS, not the
# tables' owner. Migrations and `hub db` run as the connecting user instead (`owner_engine`).
APP_ROLE = "hub_app"
TENANT_SETTING = "hub.tenant_id"
ALL_TENANTS_SETTING = "hub.all_tenants"
_SCOPE = "hub.scope"  # key in Session.info: ("tenant", id) or ("all", None)
_ENGINES: list[Engine] = []  # every engine this process made, for `dispose_inherited_pools`


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every SQLite test
        # pysqlite's own transaction handling defers BEGIN; we issue it ourselves so
        # a write transaction takes its lock up front and never deadlocks on upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _run_as_app_role(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # A superuser (or a BYPASSRLS role) is never subject to row-level security, even FORCEd, so a
        # connection made with such a user steps down to the application role for its whole life.
        # A deployment that connects as a plain member of hub_app is already subject to the policies.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                "SELECT (r.rolsuper OR r.rolbypassrls), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s) "
                "FROM pg_roles r WHERE r.rolname = current_user", (APP_ROLE,))
            can_bypass, app_role_exists = cursor.fetchone()
            if can_bypass and app_role_exists:
                cursor.execute(f"SET ROLE {APP_ROLE}")
        dbapi_connection.commit()


@lru_cache(maxsize=None)
def get_engine(url: str) -> Engine:
    """One engine (and pool) per URL for the life of the process: web workers and RQ jobs share it.
    On PostgreSQL its connections run as the application role, subject to row-level security."""
    if url.startswith("sqlite:"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        _prepare_sqlite(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    _run_as_app_role(engine)
    _ENGINES.append(engine)
    return engine


@lru_cache(maxsize=None)
def owner_engine(url: str) -> Engine:
    """An engine that connects as the configured user without stepping down: for migrations (which
    own the tables and create the policies) and database maintenance. SQLite has one engine."""
    if url.startswith("sqlite:"):
        return get_engine(url)
    engine = create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=2)
    _ENGINES.append(engine)
    return engine


def dispose_inherited_pools() -> None:
    """In a process just forked from one that may have connected (gunicorn's preload_app): forget the
    parent's pooled connections without closing them, so parent and child never share a socket."""
    for engine in _ENGINES:
        engine.dispose(close=False)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _apply_scope(connection: Connection, scope: tuple[str, int | None] | None) -> None:
    kind, tenant_id = scope or (None, None)
    # set_config(..., true) lasts until the transaction ends, like SET LOCAL, so a pooled connection
    # never carries one unit of work's tenant into the next.
    connection.execute(
        text("SELECT set_config(:tenant_setting, :tenant, true), set_config(:all_setting, :all, true)"),
        {"tenant_setting": TENANT_SETTING, "tenant": str(tenant_id) if kind == "tenant" else "",
         "all_setting": ALL_TENANTS_SETTING, "all": "on" if kind == "all" else "off"})


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    # Every transaction of a scoped session starts with its scope, so it survives commits.
    if session.info.get(_SCOPE) and connection.dialect.name == "postgresql":
        _apply_scope(connection, session.info[_SCOPE])


def _set_scope(session: Session, scope: tuple[str, int | None] | None) -> None:
    session.info[_SCOPE] = scope
    if session.in_transaction() and _is_postgresql(session):
        _apply_scope(session.connection(), scope)  # the transaction already began: change it now


def find_for_tenant(session: Session, entity, tenant_id_column, *where):
    """The first `entity` matching `where`, or None; when found, the session works for its tenant from
    here on, as `for_tenant` makes it (none found: the scope stays as it was). On PostgreSQL the scope
    is set by the lookup's own statement, in its select list, rather than by one more round trip."""
    if not _is_postgresql(session):
        found = session.scalar(select(entity).where(*where))
        if found is not None:
            for_tenant(session, getattr(found, tenant_id_column.key))
        return found
    row = session.execute(select(entity, func.set_config(TENANT_SETTING, cast(tenant_id_column, String), True),
                                 func.set_config(ALL_TENANTS_SETTING, "off", True)).where(*where)).first()
    if row is None:
        return None
    found = row[0]
    scoped_by_its_statement(session, getattr(found, tenant_id_column.key))
    return found


def scoped_by_its_statement(session: Session, tenant_id: int) -> None:
    """The statement just run set the transaction's tenant scope in the database itself (set_config in
    its select list, or a function such as hub_webhook_signer): the session keeps that scope for its
    next transactions, as `for_tenant` would have set it, without one more round trip now."""
    session.info[_SCOPE] = ("tenant", int(tenant_id))


def for_tenant(session: Session, tenant_id: int) -> Session:
    """From here on this session works for `tenant_id` only (the caller has identified the tenant)."""
    _set_scope(session, ("tenant", int(tenant_id)))
    return session


def across_tenants(session: Session) -> Session:
    """This session's work spans tenants: reconcilers, the cron fan-out, the admin page, metrics, and
    identifying which tenant a token or a job belongs to. Keep its uses few and plain to see."""
    _set_scope(session, ("all", None))
    return session


def unscoped(session: Session) -> Session:
    """Back to no tenant: on PostgreSQL the session sees no tenant's rows."""
    _set_scope(session, None)
    return session


def for_owner_of(session: Session, model, key):
    """The row of `model` with primary key `key`, and the session working for the tenant it belongs to
    from here on: how a job handed only an id (an import, a receipt, a delivery) learns its tenant.
    None (and a session that works for no tenant) when there is no such row."""
    across_tenants(session)
    row = session.get(model, key)
    if row is None:
        unscoped(session)
        return None
    for_tenant(session, row.tenant_id)
    return row


def make_session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str, *, tenant_id: int | None = None, all_tenants: bool = False) -> Iterator[Session]:
    """The transaction boundary for jobs and commands: commit on success, roll back on error.
    Pass the tenant the work is for, or `all_tenants=True` for work that spans tenants; a session
    opened with neither must scope itself (`for_tenant`) before it touches a tenant's rows."""
    if tenant_id is not None and all_tenants:
        raise ValueError("a session works for one tenant or across tenants, not both")
    session = make_session_factory(url)()
    if tenant_id is not None:
        for_tenant(session, tenant_id)
    elif all_tenants:
        across_tenants(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
