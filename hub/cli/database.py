"""`python -m hub db ...`: migrate and verify the database."""
from __future__ import annotations

import sys

import click

from . import main, settings_or_exit


@main.group()
def db() -> None:
    """Migrate and verify the database named by HUB_DATABASE_URL."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head). Safe to run again."""
    from ..migrate import upgrade

    upgrade(settings_or_exit().database_url, revision)
    click.echo(f"database at {revision}")


# ignore_unknown_options lets a relative revision like -2 through as the argument, not as an option.
@db.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Roll back to REVISION (default: one step back; 'base' empties the database)."""
    from ..migrate import downgrade

    downgrade(settings_or_exit().database_url, revision)
    click.echo(f"database at {revision}")


@db.command("verify")
def db_verify() -> None:
    """Check every table, unique key and index the models declare (and, on PostgreSQL, every tenant table's
    row-level security policy); print row counts. Exit 1 if anything is missing."""
    from ..db import owner_engine
    from ..migrate import head_revision
    from ..schema_check import check_schema

    settings = settings_or_exit()
    report = check_schema(owner_engine(settings.database_url), head_revision(settings.database_url))
    click.echo(f"revision: {report.revision or 'none'} (head {report.head})")
    for table, count in sorted(report.row_counts.items()):
        click.echo(f"  {table:<22} {count:>10} rows")
    if report.revision != report.head:
        click.echo("NOT AT HEAD: run 'python -m hub db upgrade'", err=True)
    for item in report.missing:
        click.echo(f"MISSING: {item}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo("schema ok")
