"""`python -m hub import|retry|reconcile`: files through the pipeline, and imports that need another go."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..ingest.tables import TABLES
from . import main, settings_or_exit


def run_file_import(settings, path: Path, tenant_slug: str, table: str, input_format: str | None,
                    podcast_id: str | None = None, locale: str | None = None) -> dict:
    """Import a local file through the pipeline, in this process; returns the summary."""
    from ..db import session_scope
    from ..ingest.intake import anchor_export_payload, create_import
    from ..ingest.readers import format_for_filename
    from ..ingest.summary import import_summary
    from ..jobs.imports import execute_import
    from ..ingest.spec import UnusableInput
    from ..models import EtlImport
    from ..quotas import admit_import
    from ..tenants import tenant_by_slug

    with session_scope(settings.database_url) as session:
        found = tenant_by_slug(session, tenant_slug)
        if found is None:
            raise click.ClickException(f"no tenant {tenant_slug!r}: create it with 'python -m hub tenant create'")
        if input_format == "anchor":
            with open(path, "rb") as export:
                payload = anchor_export_payload(export, podcast_id or "")
            imp, _ = create_import(session, tenant_id=found.id, source="anchor-export", table_name=table,
                                   input_format="records", payload=payload, filename=path.name)
        else:
            imp, _ = create_import(
                session, tenant_id=found.id, source="cli", table_name=table,
                input_format=input_format or format_for_filename(path.name),
                local_path=str(path.resolve()), filename=path.name,
                context={"locale": locale} if locale else None,
            )
            imp.size_bytes = path.stat().st_size
        if exceeded := admit_import(session, settings, imp):  # the tenant's rows per day count here too
            raise UnusableInput(exceeded.message)
        import_id, tenant_id = imp.id, found.id
    try:
        execute_import(settings, import_id)
    except Exception:
        pass  # recorded on the import (status failed, with the reason) and reported below
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        return import_summary(session, session.get(EtlImport, import_id))


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--table", required=True, type=click.Choice(list(TABLES)))
@click.option("--format", "input_format", type=click.Choice(["csv", "xlsx", "ods", "anchor"]),
              help="Default: from the file name. 'anchor': a Spotify for Podcasters CSV export (needs --podcast-id).")
@click.option("--podcast-id", help="With --format anchor: the podcast the export's episodes belong to.")
@click.option("--errors", "errors_shown", default=100, show_default=True, help="Row errors to print.")
@click.option("--locale", help="How the file's text writes numbers and dates, e.g. de-DE or fr_FR (default en-US).")
def import_file(file: Path, tenant_slug: str, table: str, input_format: str | None, podcast_id: str | None,
                errors_shown: int, locale: str | None) -> None:
    """Import FILE (CSV, XLSX or ODS). Exit 0: every row landed; 1: some rows refused; 2: input unusable."""
    from ..ingest.spec import UnusableInput
    from ..ingest.values import UnknownLocale, normalize_locale

    try:
        locale = normalize_locale(locale) if locale else None
    except UnknownLocale as error:
        click.echo(json.dumps({"status": "failed", "error": str(error)}, indent=2))
        sys.exit(2)
    try:
        summary = run_file_import(settings_or_exit(), file, tenant_slug, table, input_format, podcast_id, locale)
    except UnusableInput as error:
        click.echo(json.dumps({"status": "failed", "error": str(error)}, indent=2))
        sys.exit(2)
    summary["row_errors"] = summary["row_errors"][:errors_shown]
    click.echo(json.dumps(summary, indent=2))
    sys.exit({"completed": 0, "completed_with_errors": 1}.get(summary["status"], 2))


@main.command("retry")
@click.argument("import_id")
def retry(import_id: str) -> None:
    """Send a failed or stuck import round again (it resumes after its last committed batch)."""
    from ..jobs.imports import retry_import

    try:
        click.echo(f"import {import_id}: {retry_import(settings_or_exit(), import_id)}")
    except (LookupError, ValueError) as error:
        raise click.ClickException(str(error)) from None


@main.command("reconcile")
def reconcile() -> None:
    """Enqueue accepted imports, platform webhooks and due hook deliveries that have no live job."""
    from ..jobs.imports import reconcile_imports
    from ..jobs.reconcile import reconcile_accepted

    settings = settings_or_exit()
    click.echo(json.dumps({"requeued": reconcile_imports(settings), **reconcile_accepted(settings)}))
