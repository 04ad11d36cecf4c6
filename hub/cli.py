"""The command line: migrations, tenants, imports, workers and the demo."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .config import ROOT, ConfigError, load_settings


def _settings():
    try:
        return load_settings()
    except ConfigError as error:
        raise click.ClickException(f"configuration: {error}") from None


@click.group()
def main() -> None:
    """The podcast ad hub. Configuration comes from HUB_* environment variables (see .env.example)."""


# --- database -------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Migrate and verify the database named by HUB_DATABASE_URL."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head). Safe to run again."""
    from .migrate import upgrade

    upgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


# ignore_unknown_options lets a relative revision like -2 through as the argument, not as an option.
@db.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Roll back to REVISION (default: one step back; 'base' empties the database)."""
    from .migrate import downgrade

    downgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


@db.command("verify")
def db_verify() -> None:
    """Check every table, unique key and index the models declare; print row counts. Exit 1 if anything is missing."""
    from .db import get_engine
    from .migrate import head_revision
    from .schema_check import check_schema

    settings = _settings()
    report = check_schema(get_engine(settings.database_url), head_revision(settings.database_url))
    click.echo(f"revision: {report.revision or 'none'} (head {report.head})")
    for table, count in sorted(report.row_counts.items()):
        click.echo(f"  {table:<22} {count:>10} rows")
    if report.revision != report.head:
        click.echo(f"NOT AT HEAD: run 'python -m hub db upgrade'", err=True)
    for item in report.missing:
        click.echo(f"MISSING: {item}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo("schema ok")


# --- tenants --------------------------------------------------------------------------------

@main.group()
def tenant() -> None:
    """Create tenants and store their platform secrets."""


@tenant.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
def tenant_create(slug: str, name: str | None) -> None:
    """Create tenant SLUG and print it with its new secrets (shown this once)."""
    from .db import session_scope
    from .tenants import TenantError, create_tenant

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            created, issued = create_tenant(session, slug, name, settings.secret_key)
            out = {"tenant": {"id": created.id, "slug": created.slug, "name": created.name}, "secrets": issued}
    except TenantError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(out, indent=2))


@tenant.command("set-secret")
@click.argument("slug")
@click.argument("source")
@click.argument("value")
def tenant_set_secret(slug: str, source: str, value: str) -> None:
    """Store a secret a platform gave us (shopify, wix, ...). VALUE '-' reads it from standard input."""
    from .db import session_scope
    from .tenants import TenantError, set_secret, tenant_by_slug

    settings = _settings()
    if value == "-":
        value = sys.stdin.read().strip()
    try:
        with session_scope(settings.database_url) as session:
            found = tenant_by_slug(session, slug)
            if found is None:
                raise TenantError(f"no tenant {slug!r}")
            set_secret(session, found, source, value, settings.secret_key)
    except TenantError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"stored {source} secret for {slug}")


@tenant.command("list")
def tenant_list() -> None:
    from sqlalchemy import select

    from .db import session_scope
    from .models import Tenant

    with session_scope(_settings().database_url) as session:
        for found in session.scalars(select(Tenant).order_by(Tenant.slug)):
            click.echo(f"{found.slug}\t{found.name}")


# --- imports --------------------------------------------------------------------------------

def run_file_import(settings, path: Path, tenant_slug: str, table: str, input_format: str | None,
                    podcast_id: str | None = None) -> dict:
    """Import a local file through the pipeline, in this process; returns the summary."""
    from .db import session_scope
    from .ingest.intake import anchor_export_payload, create_import
    from .ingest.readers import format_for_filename
    from .ingest.summary import import_summary
    from .jobs.imports import execute_import
    from .models import EtlImport
    from .tenants import tenant_by_slug

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
            )
            imp.size_bytes = path.stat().st_size
        import_id = imp.id
    try:
        execute_import(settings, import_id)
    except Exception:
        pass  # recorded on the import (status failed, with the reason) and reported below
    with session_scope(settings.database_url) as session:
        return import_summary(session, session.get(EtlImport, import_id))


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--table", required=True, type=click.Choice(["metrics_daily", "io_bookings", "conversions"]))
@click.option("--format", "input_format", type=click.Choice(["csv", "xlsx", "anchor"]),
              help="Default: from the file name. 'anchor': a Spotify for Podcasters CSV export (needs --podcast-id).")
@click.option("--podcast-id", help="With --format anchor: the podcast the export's episodes belong to.")
@click.option("--errors", "errors_shown", default=100, show_default=True, help="Row errors to print.")
def import_file(file: Path, tenant_slug: str, table: str, input_format: str | None, podcast_id: str | None,
                errors_shown: int) -> None:
    """Import FILE (CSV or XLSX). Exit 0: every row landed; 1: some rows refused; 2: input unusable."""
    from .ingest.validate import UnusableInput

    try:
        summary = run_file_import(_settings(), file, tenant_slug, table, input_format, podcast_id)
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
    from .jobs.imports import retry_import

    try:
        click.echo(f"import {import_id}: {retry_import(_settings(), import_id)}")
    except (LookupError, ValueError) as error:
        raise click.ClickException(str(error)) from None


@main.command("reconcile")
def reconcile() -> None:
    """Enqueue accepted imports that have no live job (Redis was down, a worker died)."""
    from .jobs.imports import reconcile_imports

    click.echo(json.dumps({"requeued": reconcile_imports(_settings())}))


@main.command("sync")
@click.argument("connector", type=click.Choice(["shopify", "buzzsprout", "simplecast", "transistor"]))
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--shop", help="Shopify only: the shop's domain, e.g. acme.myshopify.com (remembered after the first sync).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Start from this day instead of the cursor.")
def sync(connector: str, tenant_slug: str, shop: str | None, since) -> None:
    """Run a connector's sync now; it resumes from its stored cursor."""
    from .jobs.connectors import run_sync
    from .jobs.sync import SyncError, sync_shopify

    settings = _settings()
    day = since.date() if since else None
    try:
        if connector == "shopify":
            result = sync_shopify(settings, tenant_slug, shop, day)
        else:
            result = run_sync(settings, _tenant_id(settings, tenant_slug), connector, day)
    except SyncError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(result, indent=2))


def _tenant_id(settings, slug: str) -> int:
    from .db import session_scope
    from .tenants import tenant_by_slug

    with session_scope(settings.database_url) as session:
        found = tenant_by_slug(session, slug)
        if found is None:
            raise click.ClickException(f"no tenant {slug!r}")
        return found.id


@main.group()
def connector() -> None:
    """Configure and inspect a tenant's podcast-host connectors (buzzsprout, simplecast, transistor)."""


@connector.command("add")
@click.argument("name", type=click.Choice(["buzzsprout", "simplecast", "transistor"]))
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="A setting, e.g. --set show_id=123 --set api_key=...")
@click.option("--every", "interval", type=int, help="Sync on a schedule, every this many minutes.")
def connector_add(name: str, tenant_slug: str, pairs: tuple[str, ...], interval: int | None) -> None:
    """Store (or change) a connector's settings; secrets are kept encrypted."""
    from connectors.base import ConnectorError

    from .db import session_scope
    from .jobs.connectors import configure
    from .tenants import tenant_by_slug

    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.ClickException(f"--set {pair!r}: expected KEY=VALUE")
        values[key.strip()] = int(value) if value.strip().isdigit() and key.strip().endswith("_days") else value
    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            found = tenant_by_slug(session, tenant_slug)
            if found is None:
                raise click.ClickException(f"no tenant {tenant_slug!r}")
            state = configure(session, found, name, values, interval, settings.secret_key)
            shown = {"connector": name, "tenant": tenant_slug, "config": state.config, "every_minutes": interval}
    except ConnectorError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(shown, indent=2))


@connector.command("test")
@click.argument("name", type=click.Choice(["buzzsprout", "simplecast", "transistor"]))
@click.option("--tenant", "tenant_slug", required=True)
def connector_test(name: str, tenant_slug: str) -> None:
    """Call the platform with the stored settings and say whether they work."""
    from sqlalchemy import select

    from connectors.base import ConnectorError

    from .db import session_scope
    from .jobs.connectors import build
    from .models import ConnectorState

    settings = _settings()
    tenant_id = _tenant_id(settings, tenant_slug)
    with session_scope(settings.database_url) as session:
        state = session.scalar(select(ConnectorState).where(
            ConnectorState.tenant_id == tenant_id, ConnectorState.connector == name))
        if state is None or state.config is None:
            raise click.ClickException(f"connector {name!r} is not configured for {tenant_slug}")
        client = build(session, state, settings.secret_key)
    try:
        client.test_connection()
    except ConnectorError as error:
        raise click.ClickException(f"{name}: {error}") from None
    click.echo(f"{name}: connection ok")


@connector.command("list")
@click.option("--tenant", "tenant_slug", required=True)
def connector_list(tenant_slug: str) -> None:
    """Each connector's status, schedule, last sync, cursor and last error."""
    from .jobs.connectors import connector_states_json

    settings = _settings()
    click.echo(json.dumps(connector_states_json(settings, _tenant_id(settings, tenant_slug)), indent=2))


# --- processes ------------------------------------------------------------------------------

@main.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker on the hub's queue (run several for more throughput)."""
    from rq import Worker

    from .db import get_engine
    from .jobs.imports import reconcile_imports
    from .jobs.queue import get_queue, redis_connection

    settings = _settings()
    if settings.jobs_inline:
        raise click.ClickException("HUB_REDIS_URL is not set: jobs run inline in the web process, no worker needed")
    from .logging_setup import configure_logging

    configure_logging()
    reconcile_imports(settings)
    # Forked job processes must not share the parent's pooled connections.
    get_engine(settings.database_url).dispose()
    get_engine.cache_clear()
    Worker([get_queue(settings)], connection=redis_connection(settings.redis_url)).work(
        burst=burst, with_scheduler=True
    )


@main.command("scheduler")
def scheduler() -> None:
    """Run RQ's cron scheduler with the hub's schedule (hub/jobs/cron.py)."""
    from rq.cron import CronScheduler

    from .jobs.queue import redis_connection

    from .logging_setup import configure_logging

    configure_logging()
    settings = _settings()
    if settings.jobs_inline:
        raise click.ClickException("HUB_REDIS_URL is not set: there is no queue to schedule onto")
    cron = CronScheduler(connection=redis_connection(settings.redis_url))
    cron.load_config_from_file("hub.jobs.cron")
    cron.start()


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the hub with Flask's server (for a laptop; use gunicorn wsgi:app in production)."""
    from . import create_app

    create_app().run(host=host, port=port)


def push_local_tab(settings, tenant_slug: str, tab: str) -> dict:
    """Push a tab of the local workbook through the signed sheets webhook, in this process."""
    from . import create_app
    from .db import session_scope
    from .sheets.local_push import signed_request, workbook_push
    from .tenants import read_secret, tenant_by_slug

    with session_scope(settings.database_url) as session:
        found = tenant_by_slug(session, tenant_slug)
        secret = read_secret(session, found.id, "sheets", settings.secret_key) if found else None
    if secret is None:
        raise click.ClickException(f"no tenant {tenant_slug!r} with a sheets secret")
    body, headers = signed_request(secret, workbook_push(settings.workbook_path, tab))
    response = create_app().test_client().post(f"/webhooks/sheets/{tenant_slug}", data=body, headers=headers)
    if response.status_code != 202:
        raise click.ClickException(f"push of tab {tab!r} refused: {response.status_code} {response.get_json()}")
    return response.get_json()


@main.command("push-workbook")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--tab", required=True, type=click.Choice(["metrics_daily", "io_bookings"]))
def push_workbook(tenant_slug: str, tab: str) -> None:
    """Push a tab of the local workbook (HUB_WORKBOOK_PATH) as the Apps Script would; statuses are written back into it."""
    click.echo(json.dumps(push_local_tab(_settings(), tenant_slug, tab), indent=2))


@main.command("demo")
@click.option("--port", default=8000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Set up and load the samples, then exit.")
def demo(port: int, no_serve: bool) -> None:
    """Migrate, create the 'demo' tenant, push the sample workbook through the sheets webhook, then serve."""
    import shutil

    from .db import session_scope
    from .ingest.summary import import_summary
    from .migrate import upgrade
    from .models import EtlImport
    from .tenants import create_tenant, tenant_by_slug

    settings = _settings()
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        issued = None
        if tenant_by_slug(session, "demo") is None:
            _, issued = create_tenant(session, "demo", "Demo Podcast Network", settings.secret_key)
    if issued:
        secrets_path = ROOT / "instance" / "demo_tenant.json"
        secrets_path.write_text(json.dumps(issued, indent=2))
        secrets_path.chmod(0o600)
        click.echo(f"created tenant 'demo'; its secrets are in {secrets_path}")
    workbook = Path(settings.workbook_path)
    if not workbook.exists():
        workbook.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "samples" / "hub_samples.xlsx", workbook)
        click.echo(f"local workbook (standing in for Google Sheets): {workbook}")
    for tab in ("io_bookings", "metrics_daily"):
        accepted = push_local_tab(settings, "demo", tab)
        with session_scope(settings.database_url) as session:
            summary = import_summary(session, session.get(EtlImport, accepted["import_id"]))
        counts = summary["counts"]
        click.echo(f"pushed tab {tab}: {summary['status']}, {counts['inserted']} inserted, {counts['updated']} updated, "
                   f"{counts['unchanged']} unchanged, {counts['refused']} refused; see its hub_status column")
    click.echo(f"\nstatus page: http://127.0.0.1:{port}/admin  (user: admin, password: the admin token)")
    click.echo(f"admin token: {settings.admin_token}")
    if not no_serve:
        from . import create_app

        create_app().run(host="127.0.0.1", port=port)
