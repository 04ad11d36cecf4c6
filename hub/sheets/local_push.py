"""Push a tab of the local workbook the way the Apps Script pushes a Google Sheet: same body, same signature.

This is how the demo (and anyone without Google) drives the whole sheets loop: push, import, write-back.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import date, datetime

from openpyxl import load_workbook

from ..headers import normalize_header
from .targets import display_text
from .writeback import STATUS_COLUMN, SYNCED_COLUMN

HUB_COLUMNS = {STATUS_COLUMN, SYNCED_COLUMN}


def local_spreadsheet_id(tenant_slug: str) -> str:
    """The spreadsheet id of a tenant's local workbook, `workbook-<slug>` (the file HUB_WORKBOOK_DIR/workbook-<slug>.xlsx)."""
    return f"workbook-{tenant_slug}"


def workbook_push(path: str, tab: str, spreadsheet_id: str) -> dict:
    sheet = load_workbook(path, read_only=True, data_only=True)[tab]
    rows = list(sheet.iter_rows(values_only=True))
    header = [display_text(cell) for cell in rows[0]] if rows else []
    keep = [i for i, name in enumerate(header) if name and normalize_header(name) not in HUB_COLUMNS]
    pushed = []
    for number, row in enumerate(rows[1:], start=2):
        cells = [row[i] if i < len(row) else None for i in keep]
        values = [display_text(cell) for cell in cells]
        if any(values):
            pushed.append({"row_number": number, "values": values, "typed": [_typed(cell) for cell in cells]})
    # The text above is drawn the en-US way (display_text), whatever the machine's locale: say so.
    return {"push_id": uuid.uuid4().hex, "spreadsheet_id": spreadsheet_id, "sheet": tab, "locale": "en_US",
            "header": [header[i] for i in keep], "rows": pushed}


def _typed(cell: object) -> object:
    """What the Apps Script sends as a cell's typed value: numbers, ISO days, else null (text)."""
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return cell
    return None


def signed_request(secret: str, push: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(push, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Timestamp": timestamp,
                  "X-Hub-Signature-256": f"sha256={digest}"}
