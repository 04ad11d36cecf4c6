"""`python -m hub push-workbook|demo`: the local workbook loop, and the demo on embedded defaults."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import click

from ..config import ROOT
from ..ingest.tables import SHEET_TABLES
from . import main, settings_or_exit

SERVED_AT = "http://127.0.0.1:{port}"
# `hub import`'s exit codes: every row landed, some rows refused, the input unusable.
EXIT_CODES = {"completed": 0, "completed_with_errors": 1}


class Unusable(click.ClickException):
    """One line on standard error and exit 2, like an unusable input to `hub import`."""

    exit_code = 2


def push_local_tab(settings, tenant_slug: str, tab: str) -> dict:
    """Push a tab of the local workbook through the signed sheets webhook, in this process."""
    from openpyxl.utils.exceptions import InvalidFileException

    from .. import create_app
    from ..db import session_scope
    from ..sheets.local_push import local_spreadsheet_id, signed_request, workbook_push
    from ..sheets.targets import local_workbook_path
    from ..tenants import read_secret, tenant_by_slug

    with session_scope(settings.database_url) as session:
        found = tenant_by_slug(session, tenant_slug)
        secret = read_secret(session, found.id, "sheets", settings.secret_key) if found else None
    if secret is None:
        raise Unusable(f"no tenant {tenant_slug!r} with a sheets secret: create it with 'python -m hub tenant create'")
    spreadsheet_id = local_spreadsheet_id(tenant_slug)
    path = local_workbook_path(settings.workbook_dir, spreadsheet_id)
    if not path.is_file():
        raise Unusable(f"no workbook at {path} (the tenant's in HUB_WORKBOOK_DIR): "
                       "run 'python -m hub demo --no-serve' to make the demo's")
    try:
        push = workbook_push(str(path), tab, spreadsheet_id)
    except KeyError:
        raise Unusable(f"workbook {path} has no tab {tab!r}") from None
    except (InvalidFileException, zipfile.BadZipFile, OSError) as error:
        raise Unusable(f"workbook {path} cannot be read as .xlsx: {error}") from None
    body, headers = signed_request(secret, push)
    response = create_app().test_client().post(f"/webhooks/sheets/{tenant_slug}", data=body, headers=headers)
    if response.status_code != 202:
        raise Unusable(f"push of tab {tab!r} refused: {response.status_code} {(response.get_json() or {}).get('error')}")
    return response.get_json()


def pushed_summary(settings, tenant_slug: str, tab: str, base_url: str) -> dict:
    """Push a tab and return its import's summary, with a status URL that the served app answers."""
    from ..db import for_owner_of, session_scope
    from ..ingest.summary import import_summary
    from ..models import EtlImport

    accepted = push_local_tab(settings, tenant_slug, tab)
    with session_scope(settings.database_url) as session:
        for_owner_of(session, EtlImport, accepted["import_id"])
        summary = import_summary(session, session.get(EtlImport, accepted["import_id"]))
    # The push's own status URL is for the Apps Script (signed); this one takes the tenant's API token.
    summary["status_url"] = f"{base_url.rstrip('/')}/api/v1/etl/status/{accepted['import_id']}"
    return summary


def counts_line(tab: str, summary: dict) -> str:
    counts = summary["counts"]
    return (f"pushed tab {tab}: {summary['status']}, {counts['inserted']} inserted, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['refused']} refused; see its hub_status column")


@main.command("push-workbook")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--tab", required=True, type=click.Choice(list(SHEET_TABLES)))
@click.option("--base-url", default=SERVED_AT.format(port=8000), show_default=True,
              help="Where the app is served, for the status URL.")
@click.option("--errors", "errors_shown", default=20, show_default=True, help="Row errors to print.")
def push_workbook(tenant_slug: str, tab: str, base_url: str, errors_shown: int) -> None:
    """Push a tab of the tenant's local workbook (HUB_WORKBOOK_DIR/workbook-<tenant>.xlsx) as the Apps Script
    would; statuses are written back into it.

    Exit 0: every row landed; 1: some rows refused; 2: the push was unusable (no workbook, a bad header...)."""
    summary = pushed_summary(settings_or_exit(), tenant_slug, tab, base_url)
    summary["row_errors"] = summary["row_errors"][:errors_shown]
    click.echo(json.dumps(summary, indent=2))
    click.echo(counts_line(tab, summary), err=True)
    click.echo(f"status: {summary['status_url']}  (Authorization: Bearer <the tenant's api token>)", err=True)
    sys.exit(EXIT_CODES.get(summary["status"], 2))


def write_sample_workbook(path: Path, today: dt.date) -> tuple[int, int]:
    """samples/make_samples.py's workbook dated around `today`: flights in progress, 60 days of metrics."""
    spec = importlib.util.spec_from_file_location("make_samples", ROOT / "samples" / "make_samples.py")
    make_samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_samples)
    return make_samples.write_workbook(path, anchor=today, n_days=60)


@main.command("demo")
@click.option("--port", default=8000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Set up and load the samples, then exit.")
def demo(port: int, no_serve: bool) -> None:
    """Migrate, create the 'demo' tenant, push the sample workbook through the sheets webhook, then serve.

    The demo's files (workbook-demo.xlsx, demo_tenant.json) live in HUB_WORKBOOK_DIR (instance/ by default)."""
    from ..db import session_scope
    from ..migrate import upgrade
    from ..models import utcnow
    from ..sheets.local_push import local_spreadsheet_id
    from ..sheets.targets import local_workbook_path
    from ..tenants import create_tenant, tenant_by_slug

    settings = settings_or_exit()
    upgrade(settings.database_url)
    workbook = local_workbook_path(settings.workbook_dir, local_spreadsheet_id("demo"))
    workbook.parent.mkdir(parents=True, exist_ok=True)
    with session_scope(settings.database_url) as session:
        issued = None
        if tenant_by_slug(session, "demo") is None:
            _, issued = create_tenant(session, "demo", "Demo Podcast Network", settings.secret_key)
    if issued:
        secrets_path = workbook.parent / "demo_tenant.json"
        secrets_path.write_text(json.dumps(issued, indent=2))
        secrets_path.chmod(0o600)
        click.echo(f"created tenant 'demo'; its secrets are in {secrets_path}")
    if not workbook.exists():
        # Dated from today (the hub's UTC day, as the lifecycle counts), so flights are in progress and
        # pacing, dashboards and matchmaking have recent figures. An existing workbook is the person's: kept.
        today = utcnow().date()
        n_metrics, n_ios = write_sample_workbook(workbook, today)
        click.echo(f"local workbook (standing in for Google Sheets): {workbook}, "
                   f"{n_ios} IOs around {today.isoformat()} and {n_metrics} metrics rows for the 60 days before")
    base_url = SERVED_AT.format(port=port)
    for tab in ("io_bookings", "metrics_daily"):
        summary = pushed_summary(settings, "demo", tab, base_url)
        click.echo(counts_line(tab, summary))
    click.echo(f"\nstatus page: {base_url}/admin  (user: admin, password: the admin token)")
    click.echo(f"admin token: {settings.admin_token}")
    if not no_serve:
        from .. import create_app

        create_app().run(host="127.0.0.1", port=port)
