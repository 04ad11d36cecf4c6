"""`python -m hub tenant ...`: tenants and their platform secrets."""
from __future__ import annotations

import json

import click

from ..models.events import ATTRIBUTION_MODELS
from . import main, settings_or_exit, tenant_session
from .secret_input import STDIN, read_secret, refuse_argv_secret


@main.group()
def tenant() -> None:
    """Create tenants and store their platform secrets."""


@tenant.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
def tenant_create(slug: str, name: str | None) -> None:
    """Create tenant SLUG and print it with its new secrets (shown this once)."""
    from ..db import session_scope
    from ..tenants import TenantError, create_tenant

    settings = settings_or_exit()
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
@click.argument("value", required=False, default=STDIN)
def tenant_set_secret(slug: str, source: str, value: str) -> None:
    """Store a secret a platform gave us (shopify, wix, ...), read from standard input or a hidden prompt.

    echo "$SHOPIFY_SECRET" | python -m hub tenant set-secret acme shopify -
    """
    from ..db import session_scope
    from ..tenants import TenantError, set_secret, tenant_by_slug

    if value != STDIN:
        refuse_argv_secret("the secret", f"echo \"$SECRET\" | python -m hub tenant set-secret {slug} {source} -"
                                         f"  (or leave it out to be asked for it)")
    settings = settings_or_exit()
    value = read_secret(f"{source} secret for {slug}", whole_input=True)
    try:
        with session_scope(settings.database_url) as session:
            found = tenant_by_slug(session, slug)
            if found is None:
                raise TenantError(f"no tenant {slug!r}")
            set_secret(session, found, source, value, settings.secret_key)
    except TenantError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"stored {source} secret for {slug}")


@tenant.command("set-shop")
@click.argument("slug")
@click.argument("shop_domain")
def tenant_set_shop(slug: str, shop_domain: str) -> None:
    """Accept Shopify webhooks for SLUG only from SHOP_DOMAIN (e.g. acme.myshopify.com); '-' clears it."""
    from ..db import session_scope
    from ..tenants import tenant_by_slug

    domain = shop_domain.strip().lower().removeprefix("https://").strip("/")
    if domain != "-" and ("." not in domain or "/" in domain):
        raise click.ClickException(f"shop domain: expected a host such as acme.myshopify.com, found {shop_domain!r}")
    with session_scope(settings_or_exit().database_url) as session:
        found = tenant_by_slug(session, slug)
        if found is None:
            raise click.ClickException(f"no tenant {slug!r}")
        found.shopify_shop_domain = None if domain == "-" else domain
    click.echo(f"shopify webhooks for {slug}: " + ("from any shop signed with its secret" if domain == "-" else f"only from {domain}"))


@tenant.command("set-locale")
@click.argument("slug")
@click.argument("locale")
def tenant_set_locale(slug: str, locale: str) -> None:
    """Read SLUG's inputs that name no locale in LOCALE (e.g. de-DE or fr_FR); '-' goes back to en-US."""
    from ..db import session_scope
    from ..ingest.values import DEFAULT_LOCALE, UnknownLocale, normalize_locale
    from ..tenants import tenant_by_slug

    try:
        tag = None if locale == "-" else normalize_locale(locale)
    except UnknownLocale as error:
        raise click.ClickException(str(error)) from None
    with session_scope(settings_or_exit().database_url) as session:
        found = tenant_by_slug(session, slug)
        if found is None:
            raise click.ClickException(f"no tenant {slug!r}")
        found.locale = tag
    click.echo(f"inputs of {slug} that name no locale are read in {tag or DEFAULT_LOCALE}")


@tenant.command("set-count-test-orders")
@click.argument("slug")
@click.argument("switch", type=click.Choice(["on", "off"]))
def tenant_set_count_test_orders(slug: str, switch: str) -> None:
    """Count SLUG's test orders (Shopify test orders, Stripe test mode) as conversions: on for a trial, off (the default) to keep them as "test"."""
    from ..db import session_scope
    from ..tenants import tenant_by_slug

    with session_scope(settings_or_exit().database_url) as session:
        found = tenant_by_slug(session, slug)
        if found is None:
            raise click.ClickException(f"no tenant {slug!r}")
        found.count_test_orders = switch == "on"
    click.echo(f"test orders of {slug} " + ("count as conversions from now on" if switch == "on"
                                            else "are kept with status test and not counted"))


@tenant.command("list")
def tenant_list() -> None:
    from sqlalchemy import select

    from ..db import session_scope
    from ..models import Tenant

    with session_scope(settings_or_exit().database_url) as session:
        for found in session.scalars(select(Tenant).order_by(Tenant.slug)):
            click.echo(f"{found.slug}\t{found.name}")


@tenant.command("set-quota")
@click.argument("slug")
@click.argument("quota")
@click.argument("limit", type=int)
def tenant_set_quota(slug: str, quota: str, limit: int) -> None:
    """Give SLUG its own LIMIT for QUOTA (rows_per_day, webhooks_per_minute, uploads_per_minute,
    api_per_minute) instead of the HUB_QUOTA_* default. A new limit starts a fresh window."""
    from ..quotas import QuotaError, set_quota

    settings = settings_or_exit()
    try:
        with tenant_session(settings, slug) as (session, tenant_id):
            set_quota(session, tenant_id, quota, limit)
    except QuotaError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{slug}: {quota} is {limit}")


@tenant.command("reset-quota")
@click.argument("slug")
@click.argument("quota")
def tenant_reset_quota(slug: str, quota: str) -> None:
    """Drop SLUG's own limit for QUOTA: the HUB_QUOTA_* default holds again."""
    from ..quotas import QuotaError, quota_named, reset_quota

    settings = settings_or_exit()
    try:
        with tenant_session(settings, slug) as (session, tenant_id):
            had = reset_quota(session, tenant_id, quota)
    except QuotaError as error:
        raise click.ClickException(str(error)) from None
    default = quota_named(quota).default(settings)
    click.echo(f"{slug}: {quota} is the default, {default}" + ("" if had else " (it had no limit of its own)"))


@tenant.command("quotas")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per quota.")
def tenant_quotas(slug: str, as_json: bool) -> None:
    """SLUG's quotas: each limit (its own or the default), what is used of the current window, when it resets.
    Usage is shared only through Redis (HUB_REDIS_URL); without it each process counts for itself."""
    from ..quotas import usage

    settings = settings_or_exit()
    with tenant_session(settings, slug) as (session, tenant_id):
        rows = usage(session, settings, tenant_id)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row.as_json()))
        else:
            resets = row.resets_at.isoformat(timespec="seconds") if row.resets_at else "-"
            click.echo(f"{row.quota}\t{row.used}/{row.limit}\t{'own' if row.overridden else 'default'}\tresets {resets}")


@tenant.command("add-sheet")
@click.argument("slug")
@click.argument("spreadsheet_id")
def tenant_add_sheet(slug: str, spreadsheet_id: str) -> None:
    """Register SPREADSHEET_ID (the /d/<id>/ part of the sheet's URL) to tenant SLUG: its pushes are
    accepted, and the hub writes back into it. A spreadsheet belongs to one tenant."""
    from ..sheets.ownership import SpreadsheetRefused, register

    settings = settings_or_exit()
    try:
        with tenant_session(settings, slug) as (session, tenant_id):
            added = register(session, tenant_id, spreadsheet_id)
    except (SpreadsheetRefused, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"spreadsheet {spreadsheet_id} {'registered to' if added else 'was already registered to'} {slug}")


@tenant.command("remove-sheet")
@click.argument("slug")
@click.argument("spreadsheet_id")
def tenant_remove_sheet(slug: str, spreadsheet_id: str) -> None:
    """Unregister SPREADSHEET_ID from SLUG: its pushes are refused and nothing is written into it."""
    from ..sheets.ownership import unregister

    settings = settings_or_exit()
    with tenant_session(settings, slug) as (session, tenant_id):
        removed = unregister(session, tenant_id, spreadsheet_id)
    if not removed:
        raise click.ClickException(f"spreadsheet {spreadsheet_id} is not registered to {slug}")
    click.echo(f"spreadsheet {spreadsheet_id} no longer registered to {slug}")


@tenant.command("sheets")
@click.argument("slug")
def tenant_sheets(slug: str) -> None:
    """The spreadsheets registered to SLUG: id, how it was bound, when it last pushed."""
    from ..sheets.ownership import spreadsheets_of

    settings = settings_or_exit()
    with tenant_session(settings, slug) as (session, tenant_id):
        for found in spreadsheets_of(session, tenant_id):
            pushed = found.last_pushed_at.isoformat(timespec="seconds") if found.last_pushed_at else "never pushed"
            click.echo(f"{found.spreadsheet_id}\t{found.bound_by}\t{pushed}")


@tenant.command("set-attribution")
@click.argument("slug")
@click.option("--campaign", "campaign_id", help="Set this campaign's own settings instead of the tenant's defaults.")
@click.option("--model", type=click.Choice(ATTRIBUTION_MODELS),
              help="How an order of a campaign's code is shared among the campaign's IOs.")
@click.option("--window-days", type=int, help="Days after an IO aired in which an order still counts for it (1-60).")
@click.option("--half-life-days", type=float, help="time_decay: an IO this many days older weighs half (default 7).")
@click.option("--reset", is_flag=True, help="Clear these settings first (a campaign then takes the tenant's).")
def tenant_set_attribution(slug: str, campaign_id: str | None, model: str | None, window_days: int | None,
                           half_life_days: float | None, reset: bool) -> None:
    """Set SLUG's attribution model, half-life and window (or one campaign's), then attribute its orders again.

    \b
    python -m hub tenant set-attribution acme --model time_decay --half-life-days 3
    python -m hub tenant set-attribution acme --campaign camp-1 --model linear --window-days 14
    """
    from sqlalchemy import select

    from ..attribution import credit_models
    from ..jobs.attribution import enqueue_reattribute
    from ..models import Campaign, Tenant

    try:
        if window_days is not None:
            credit_models.check_window_days(window_days)
        if half_life_days is not None:
            credit_models.check_half_life_days(half_life_days)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if not reset and model is None and window_days is None and half_life_days is None:
        raise click.ClickException("nothing to set: give --model, --window-days, --half-life-days or --reset")
    settings = settings_or_exit()
    with tenant_session(settings, slug) as (session, tenant_id):
        if campaign_id is None:
            holder = session.get(Tenant, tenant_id)
        else:
            holder = session.scalar(select(Campaign).where(Campaign.tenant_id == tenant_id,
                                                           Campaign.campaign_id == campaign_id))
            if holder is None:
                raise click.ClickException(f"no campaign {campaign_id!r} for {slug}")
        if reset:
            holder.attribution_model = holder.attribution_window_days = holder.attribution_half_life_days = None
        for name, value in (("attribution_model", model), ("attribution_window_days", window_days),
                            ("attribution_half_life_days", half_life_days)):
            if value is not None:
                setattr(holder, name, value)
        tenant_row = holder if campaign_id is None else session.get(Tenant, tenant_id)
        shown = credit_models.AttributionSettings.resolve(holder if campaign_id else None, tenant_row,
                                                          credit_models.DEFAULT_WINDOW_DAYS)
    status = enqueue_reattribute(settings, tenant_id)
    whose = f"campaign {campaign_id} of {slug}" if campaign_id else slug
    click.echo(f"attribution for {whose}: {shown.model}, window {shown.window_days} days, "
               f"half-life {shown.half_life_days:g} days; orders attributed again ({status})")
