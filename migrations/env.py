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


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run against a database")
run_migrations()
