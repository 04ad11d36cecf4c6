"""The command line (`python -m hub ...`): one module per group of commands."""
from __future__ import annotations

from contextlib import contextmanager

import click

from ..config import ConfigError, load_settings


def settings_or_exit():
    try:
        return load_settings()
    except ConfigError as error:
        raise click.ClickException(f"configuration: {error}") from None


def tenant_id_or_exit(settings, slug: str) -> int:
    from ..db import session_scope
    from ..tenants import tenant_by_slug

    with session_scope(settings.database_url) as session:
        found = tenant_by_slug(session, slug)
        if found is None:
            raise click.ClickException(f"no tenant {slug!r}")
        return found.id


@contextmanager
def tenant_session(settings, slug: str):
    """One unit of work for tenant SLUG, as (session, tenant id): the session works for that tenant alone.
    Exits naming an unknown tenant."""
    from ..db import session_scope
    from ..tenants import tenant_by_slug

    with session_scope(settings.database_url) as session:
        found = tenant_by_slug(session, slug)
        if found is None:
            raise click.ClickException(f"no tenant {slug!r}")
        yield session, found.id


@click.group()
def main() -> None:
    """The podcast ad hub. Configuration comes from HUB_* environment variables (see .env.example)."""


# Each module adds its commands to `main` when imported.
from . import connectors, database, demo, hooks, imports, processes, tenants  # noqa: E402,F401
from .imports import run_file_import  # noqa: E402,F401
