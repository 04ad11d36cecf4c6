"""An insertion order a sales person can send: one IO, as an .xlsx document."""
from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font


def _money(cents: int | None, currency: str) -> str:
    return "" if cents is None else f"{cents / 100:,.2f} {currency}"


def insertion_order_xlsx(summary: dict, network: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Insertion order"
    sheet["A1"] = f"Insertion order {summary['io_id']}"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = network
    currency = summary["currency"]
    lines = [
        ("Campaign", summary["campaign_id"]), ("Podcast", summary["podcast_id"]), ("Episode", summary["episode_id"]),
        ("Ad unit", summary["ad_unit_id"]), ("Flight", f"{summary['flight_start']} to {summary['flight_end']}"),
        ("Status", summary["status"]), ("Booked impressions", summary["booked_impressions"]),
        ("CPM", _money(summary["booked_cpm_cents"], currency)), ("Total", _money(summary["cost_cents"], currency)),
        ("Promo code", summary["promo_code"]), ("Vanity URL", summary["vanity_url"]),
        ("Delivered impressions", summary["delivered_impressions"]), ("Pacing", summary["pacing"]),
        ("Attributed conversions", summary["conversions"]),
        ("Attributed revenue", _money(summary["revenue_cents"], currency)),
        ("Cost per acquisition", _money(summary["cpa_cents"], currency)),
    ]
    for row, (label, value) in enumerate(lines, start=4):
        sheet.cell(row=row, column=1, value=label).font = Font(bold=True)
        cell = sheet.cell(row=row, column=2, value="" if value is None else value)
        cell.data_type = "s" if isinstance(value, str) else cell.data_type  # text stays text, never a formula
    sheet.column_dimensions["A"].width = 26
    sheet.column_dimensions["B"].width = 48
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
