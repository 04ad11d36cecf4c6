"""A throwaway PostgreSQL database for one benchmark run: created fresh, always dropped."""
from __future__ import annotations

import secrets

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def _admin(admin_url: str, sql: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(sql))
    finally:
        admin.dispose()


def create_database(admin_url: str, prefix: str = "hub_bench") -> str:
    """CREATE DATABASE <prefix>_<random> on the server of `admin_url`; returns its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, database_url: str) -> None:
    from hub.db import get_engine, owner_engine

    get_engine(database_url).dispose()
    owner_engine(database_url).dispose()
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)')
