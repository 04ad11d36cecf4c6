"""`python -m hub hooks deliveries|resend`: REST-hook deliveries, and sending the failed ones again."""
from __future__ import annotations

import json

import click

from . import main, settings_or_exit, tenant_id_or_exit


@main.group()
def hooks() -> None:
    """REST-hook deliveries to subscribers (Zapier and others)."""


@hooks.command("deliveries")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed", "gone"]), help="Only this status.")
@click.option("--tenant", "tenant_slug", help="Only this tenant's.")
@click.option("--limit", default=100, show_default=True)
def deliveries(status: str | None, tenant_slug: str | None, limit: int) -> None:
    """List the latest deliveries, newest first, with their last error."""
    from sqlalchemy import select

    from ..api.hooks import delivery_json
    from ..db import session_scope
    from ..models import HookDelivery

    settings = settings_or_exit()
    query = select(HookDelivery).order_by(HookDelivery.id.desc()).limit(limit)
    if status:
        query = query.where(HookDelivery.status == status)
    tenant_id = tenant_id_or_exit(settings, tenant_slug) if tenant_slug else None
    if tenant_id is not None:
        query = query.where(HookDelivery.tenant_id == tenant_id)
    with session_scope(settings.database_url, tenant_id=tenant_id, all_tenants=tenant_id is None) as session:
        found = [delivery_json(d) for d in session.scalars(query).all()]
    click.echo(json.dumps({"deliveries": found}, indent=2))


@hooks.command("resend")
@click.argument("delivery_ids", nargs=-1, type=int)
@click.option("--subscription", "subscription_id", type=int, help="Resend every failed delivery of this subscription.")
def resend(delivery_ids: tuple[int, ...], subscription_id: int | None) -> None:
    """Send failed deliveries again now: the DELIVERY_IDS given, or all of a --subscription's."""
    from ..jobs.hooks import ResendRefused, resend_deliveries

    if bool(delivery_ids) == (subscription_id is not None):
        raise click.UsageError("give either delivery ids or --subscription ID")
    try:
        queued = resend_deliveries(settings_or_exit(), list(delivery_ids) or None, subscription_id)
    except (LookupError, ResendRefused) as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps({"resent": [{"id": d, "job": outcome} for d, outcome in queued.items()]}))
