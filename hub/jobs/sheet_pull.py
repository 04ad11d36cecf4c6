"""The hub's side of the Google Sheets pull connector (connectors/google_sheets.py): what it tells the
reader about each table, the service account it reads with, the spreadsheet bound to the tenant, and
the rows it sends on: only those whose digest changed since the last run, as a sheet push would carry
them, so they are imported, written back (hub_status per row, through TenantSheets) and mirrored
exactly like pushed rows.
"""
from __future__ import annotations

import json
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import ConnectorError
from connectors.google_sheets import GoogleSheetsConnector, SheetPage, TabLayout

from ..config import Settings
from ..headers import normalize_header
from ..ingest.spec import SHEETS, TableSpec
from ..ingest.tables import SHEET_TABLES, TABLES, switched_off
from ..ingest.values import TYPED_PARSERS, UnknownLocale, normalize_locale, parse_date
from ..models import SheetRowDigest, Tenant, utcnow
from ..sheets.ownership import SpreadsheetRefused, accept_pull_from, owns, touch
from ..sheets.targets import SHEETS_SCOPES

log = logging.getLogger(__name__)
NAME = GoogleSheetsConnector.name
_IN_CHUNK = 500  # keys per IN (...) list


def layout(spec: TableSpec) -> TabLayout:
    """A table as the reader needs it: the columns that make its header, the columns read as displayed
    (identifiers and text, and the key the write-back matches rows by) and the date columns."""
    typed = {c.name for c in spec.columns if c.parse in TYPED_PARSERS}
    typed |= {c.alias for c in spec.columns if c.alias and c.alias_parse in TYPED_PARSERS}
    every = {c.name for c in spec.columns} | {c.alias for c in spec.columns if c.alias}
    return TabLayout(
        required=tuple(frozenset(filter(None, (c.name, c.alias))) for c in spec.columns if c.required),
        key=spec.key,
        formatted=frozenset((every - typed) | set(spec.key)),
        dates=frozenset(c.name for c in spec.columns if c.parse is parse_date),
        normalize=normalize_header,
    )


LAYOUTS = {name: layout(TABLES[name]) for name in SHEET_TABLES}


def bind_spreadsheet(session: Session, tenant: Tenant, config: dict, settings: Settings | None = None) -> None:
    """Configuring the connector: its tabs must be tables the hub imports (and switched on), and its
    spreadsheet becomes the tenant's, refused in a push's words when another tenant holds it."""
    connector = GoogleSheetsConnector(config)
    for tab in connector.tabs:
        if tab not in SHEET_TABLES:
            raise ConnectorError(f"google_sheets: tab {tab!r} is not a table the hub imports: expected tabs named "
                                 f"{', '.join(SHEET_TABLES)}")
        if settings is not None and (refusal := switched_off(settings.flags, tab)):
            raise ConnectorError(f"google_sheets: tab {tab!r}: {refusal}")
    try:
        accept_pull_from(session, tenant.id, tenant.slug, connector.spreadsheet_id)
    except (SpreadsheetRefused, ValueError) as refusal:
        raise ConnectorError(str(refusal)) from None


def connector_for(session: Session, tenant_id: int, config: dict, settings: Settings) -> GoogleSheetsConnector:
    """The reader, with the service account's session, for a spreadsheet that is still the tenant's."""
    spreadsheet_id = config.get("spreadsheet_id") or ""
    if not owns(session, tenant_id, spreadsheet_id):
        slug = session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
        raise ConnectorError(f"spreadsheet {spreadsheet_id} is not registered to this tenant: an operator registers "
                             f"it with 'python -m hub tenant add-sheet {slug} {spreadsheet_id}'")
    if not settings.google_service_account_file:
        raise ConnectorError("google_sheets: HUB_GOOGLE_SERVICE_ACCOUNT_FILE is not set: expected the path of a "
                             "service-account key whose e-mail the sheet is shared with")
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2.service_account import Credentials

    try:
        with open(settings.google_service_account_file) as key_file:
            credentials = Credentials.from_service_account_info(json.load(key_file), scopes=SHEETS_SCOPES)
    except (OSError, ValueError) as error:
        raise ConnectorError(f"google_sheets: cannot read the service-account key "
                             f"{settings.google_service_account_file}: {error}") from None
    return GoogleSheetsConnector(config, AuthorizedSession(credentials), layouts=LAYOUTS)


def changed_rows_only(session: Session, tenant_id: int, page: SheetPage) -> SheetPage:
    """The page with only the rows whose digest differs from the one remembered for their key."""
    keys = [key for key, _ in page.marks]
    remembered: dict[str, str] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        remembered.update(session.execute(select(SheetRowDigest.row_key, SheetRowDigest.digest).where(
            SheetRowDigest.tenant_id == tenant_id, SheetRowDigest.spreadsheet_id == page.spreadsheet_id,
            SheetRowDigest.tab == page.tab, SheetRowDigest.row_key.in_(keys[start:start + _IN_CHUNK]))).all())
    changed = {row["row_number"] for row, mark in zip(page.rows, page.marks) if remembered.get(mark[0]) != mark[1]}
    # A changed row whose key an earlier row of this window holds goes with that row, so the pipeline
    # refuses it as a duplicate instead of letting it overwrite the earlier row's record.
    changed |= {page.duplicates[number] for number in changed if number in page.duplicates}
    kept = [(row, mark) for row, mark in zip(page.rows, page.marks) if row["row_number"] in changed]
    page.rows = [row for row, _ in kept]
    page.marks = [mark for _, mark in kept]
    return page


def import_fields(page: SheetPage) -> dict:
    """create_import's arguments for a page: the rows as a sheet push carries them, from source `sheets`,
    so what follows a push (write-back, remembered and mirrored values) follows these rows too."""
    try:
        locale = normalize_locale(page.locale.replace("_", "-")) if page.locale else None
    except UnknownLocale:
        log.warning("spreadsheet %s has locale %r, which the hub does not know; its tenant's is used",
                    page.spreadsheet_id, page.locale)
        locale = None
    body = {"spreadsheet_id": page.spreadsheet_id, "sheet": page.tab, "header": page.header,
            "header_row": page.header_row, "rows": page.rows}
    first, last = page.rows[0]["row_number"], page.rows[-1]["row_number"]
    return {
        "source": SHEETS.name, "input_format": "sheet_push", "payload": json.dumps(body).encode(),
        "filename": f"{page.spreadsheet_id}/{page.tab} rows {first}-{last}"[:300],
        "context": {"spreadsheet_id": page.spreadsheet_id, "sheet": page.tab, "pulled_by": NAME,
                    "header_row": page.header_row, **({"locale": locale} if locale else {}),
                    **({"time_zone": page.time_zone[:64]} if page.time_zone else {})},
    }


def remember(session: Session, tenant_id: int, page: SheetPage) -> None:
    """The digests of the rows just imported (the caller commits them with the connector's cursor)."""
    if not page.marks:
        return
    touch(session, tenant_id, page.spreadsheet_id)  # it sent rows last: hub_results go there
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = utcnow()
    # Key order, so two runs that overlap lock rows in the same order.
    rows = [{"tenant_id": tenant_id, "spreadsheet_id": page.spreadsheet_id, "tab": page.tab, "row_key": key,
             "digest": digest, "updated_at": now} for key, digest in sorted(dict(page.marks).items())]
    for start in range(0, len(rows), _IN_CHUNK):
        statement = insert(SheetRowDigest).values(rows[start:start + _IN_CHUNK])
        session.execute(statement.on_conflict_do_update(
            index_elements=["tenant_id", "spreadsheet_id", "tab", "row_key"],
            set_={"digest": statement.excluded.digest, "updated_at": statement.excluded.updated_at}))
