"""Alembic's entry point: migrate the database named by the hub's own configuration."""
from alembic import context

from hub.config import load_settings
from hub.db import owner_engine
from hub.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.attributes.get("database_url") or load_settings().database_url
    engine = owner_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration on SQLite copies a table and drops the old one; with foreign keys on, dropping
            # `tenants` would cascade to every tenant's rows. Alembic's advice: keys off while migrating
            # (set on the DBAPI connection, outside any transaction, where SQLite honours it).
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        if connection.dialect.name == "postgresql":
            # Migrations work across tenants: a data migration run by a non-superuser owner is subject
            # to the FORCEd row-level security policies (hub/row_security.py) like anyone else.
            connection.exec_driver_sql("SELECT set_config('hub.all_tenants', 'on', false)")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            connection.rollback()
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run against a database")
run_migrations()
