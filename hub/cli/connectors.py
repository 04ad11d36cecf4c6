"""`python -m hub sync|connector ...`: pull connectors, configured and run from the command line."""
from __future__ import annotations

import json

import click

from connectors.registry import CONNECTORS

from . import main, settings_or_exit, tenant_id_or_exit
from .secret_input import STDIN, read_secret, refuse_argv_secret

# Settings given as text on the command line that the connectors' schemas take as integers.
INTEGER_SUFFIXES = ("_days", "_size", "_bytes")


@main.command("sync")
@click.argument("connector", type=click.Choice(list(CONNECTORS)))
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Start from this day instead of the cursor.")
def sync(connector: str, tenant_slug: str, since) -> None:
    """Run a connector's sync now; it resumes from its stored cursor."""
    from ..jobs.connectors import SyncError, run_sync

    settings = settings_or_exit()
    day = since.date() if since else None
    try:
        result = run_sync(settings, tenant_id_or_exit(settings, tenant_slug), connector, day)
    except SyncError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(result, indent=2))



@main.group()
def connector() -> None:
    """Configure and inspect a tenant's pull connectors (podcast hosts, Shopify's order backfill)."""


@connector.command("add")
@click.argument("name", type=click.Choice(list(CONNECTORS)))
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A setting, e.g. --set show_id=123. Secret fields take '-' (--set api_key=-) and are read "
                   "from standard input, one line each, or a hidden prompt.")
@click.option("--every", "interval", type=int, help="Sync on a schedule, every this many minutes.")
def connector_add(name: str, tenant_slug: str, pairs: tuple[str, ...], interval: int | None) -> None:
    """Store (or change) a connector's settings; secrets are kept encrypted."""
    from connectors.base import ConnectorError

    from ..db import for_tenant, session_scope
    from ..jobs.connectors import configure
    from ..jobs.hooks import allow_loopback
    from ..tenants import tenant_by_slug

    from connectors.registry import get_connector

    secret_fields = set(get_connector(name).config_schema.get("secret", []))
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.ClickException(f"--set {key!r}: expected KEY=VALUE")
        if key.strip() in secret_fields:
            if value != STDIN:
                refuse_argv_secret(f"--set {key.strip()}=…", f"echo \"$TOKEN\" | python -m hub connector add {name} "
                                                           f"--tenant {tenant_slug} --set {key.strip()}=- ...")
            value = read_secret(f"{name} {key.strip()}")
        values[key.strip()] = int(value) if value.strip().isdigit() and key.strip().endswith(INTEGER_SUFFIXES) else value
    settings = settings_or_exit()
    try:
        with session_scope(settings.database_url) as session:
            found = tenant_by_slug(session, tenant_slug)
            if found is None:
                raise click.ClickException(f"no tenant {tenant_slug!r}")
            state = configure(for_tenant(session, found.id), found, name, values, interval, settings.secret_key,
                              allow_loopback(settings))
            shown = {"connector": name, "tenant": tenant_slug, "config": state.config, "every_minutes": interval}
    except ConnectorError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(shown, indent=2))


@connector.command("test")
@click.argument("name", type=click.Choice(list(CONNECTORS)))
@click.option("--tenant", "tenant_slug", required=True)
def connector_test(name: str, tenant_slug: str) -> None:
    """Call the platform with the stored settings and say whether they work."""
    from sqlalchemy import select

    from connectors.base import ConnectorError

    from ..db import session_scope
    from ..jobs.connectors import build_to_run
    from ..models import ConnectorState

    settings = settings_or_exit()
    tenant_id = tenant_id_or_exit(settings, tenant_slug)
    with session_scope(settings.database_url, tenant_id=tenant_id) as session:
        state = session.scalar(select(ConnectorState).where(
            ConnectorState.tenant_id == tenant_id, ConnectorState.connector == name))
        if state is None or state.config is None:
            raise click.ClickException(f"connector {name!r} is not configured for {tenant_slug}")
        try:
            client = build_to_run(session, state, settings)
        except ConnectorError as error:
            raise click.ClickException(str(error)) from None  # it names the platform already
    try:
        client.test_connection()
    except ConnectorError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{name}: connection ok")


@connector.command("list")
@click.option("--tenant", "tenant_slug", required=True)
def connector_list(tenant_slug: str) -> None:
    """Each connector's status, schedule, last sync, cursor and last error."""
    from ..jobs.connectors import connector_states_json

    settings = settings_or_exit()
    click.echo(json.dumps(connector_states_json(settings, tenant_id_or_exit(settings, tenant_slug)), indent=2))
