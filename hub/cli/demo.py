"""`python -m hub push-workbook|demo`: the local workbook loop, and the demo on embedded defaults."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import ROOT
from . import main, settings_or_exit


def push_local_tab(settings, tenant_slug: str, tab: str) -> dict:
    """Push a tab of the local workbook through the signed sheets webhook, in this process."""
    from .. import create_app
    from ..db import session_scope
    from ..sheets.local_push import signed_request, workbook_push
    from ..tenants import read_secret, tenant_by_slug

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
    click.echo(json.dumps(push_local_tab(settings_or_exit(), tenant_slug, tab), indent=2))


@main.command("demo")
@click.option("--port", default=8000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Set up and load the samples, then exit.")
def demo(port: int, no_serve: bool) -> None:
    """Migrate, create the 'demo' tenant, push the sample workbook through the sheets webhook, then serve."""
    import shutil

    from ..db import session_scope
    from ..ingest.summary import import_summary
    from ..migrate import upgrade
    from ..models import EtlImport
    from ..tenants import create_tenant, tenant_by_slug

    settings = settings_or_exit()
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
        from .. import create_app

        create_app().run(host="127.0.0.1", port=port)
