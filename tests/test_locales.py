"""Text read in its locale: LibreOffice's "as shown" CSVs, sheet pushes with typed cells, and every way in
that takes a locale (push, upload, CLI, Zapier). The values stored must be what the person meant."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from hub import create_app
from hub.ingest import values as v
from hub.models import IoBooking, MetricsDaily
from tests.helpers import import_text, rows
from tests.test_workbooks import EXPECTED_IOS, EXPECTED_METRICS, _stored

CSV_FIXTURES = Path(__file__).parent / "fixtures" / "libreoffice" / "csv"


@pytest.mark.parametrize("text, tag, expected", [
    ("2.000 €", "de_DE", 200000), ("1.234,50 €", "de-DE", 123450), ("25,00 €", "de-DE", 2500),
    ("€ 1.234,50", "de-DE", 123450), ("1\u202f234,50 €", "fr-FR", 123450), ("1\u00a0234,50 €", "fr-FR", 123450),
    ("$1,234.50", "en-US", 123450), ("£1,234.50", "en-GB", 123450),
])
def test_money_in_its_locale(text, tag, expected):
    assert v.locale_parsers(tag).get(v.parse_money_cents, v.parse_money_cents)(text) == expected


@pytest.mark.parametrize("text, tag, expected", [
    ("3/12/2025", "en-US", date(2025, 3, 12)), ("12/03/2025", "en-GB", date(2025, 3, 12)),
    ("12/03/2025", "fr-FR", date(2025, 3, 12)), ("31/01/2025", "fr-FR", date(2025, 1, 31)),
    ("12.03.2025", "de-DE", date(2025, 3, 12)), ("31.01.25", "de-DE", date(2025, 1, 31)),
    ("2025-03-12", "de-DE", date(2025, 3, 12)), ("2025-03-12", "fr-FR", date(2025, 3, 12)),
    ("12. März 2025", "de-DE", date(2025, 3, 12)), ("12 mars 2025", "fr-FR", date(2025, 3, 12)),
])
def test_dates_in_their_locale(text, tag, expected):
    assert v.locale_parsers(tag).get(v.parse_date, v.parse_date)(text) == expected


def test_counts_and_rates_in_their_locale_and_what_is_refused():
    de, fr = v.locale_parsers("de-DE"), v.locale_parsers("fr-FR")
    assert de[v.parse_count]("1.204") == 1204 and fr[v.parse_count]("1\u202f204") == 1204
    assert de[v.parse_rate]("85 %") == 0.85 and de[v.parse_rate]("0,85") == 0.85 and fr[v.parse_rate]("12,5 %") == 0.125
    with pytest.raises(v.BadValue, match=r"expected a whole number >= 0 like 1\.204 \(de-DE\), found '1,5'"):
        de[v.parse_count]("1,5")
    with pytest.raises(v.BadValue, match="no such day"):
        fr[v.parse_date]("31/02/2025")
    with pytest.raises(v.BadValue, match=r"expected an amount like 1\.234,56 \(de-DE\)"):
        de[v.parse_money_cents]("1,234.50 €")
    with pytest.raises(v.BadValue):  # en-US: a dot is a decimal point, so 1.204 is no whole number
        v.parse_count("1.204")
    with pytest.raises(v.UnknownLocale, match="expected a locale like en-US or de_DE, found 'xx-QQ'"):
        v.normalize_locale("xx-QQ")
    assert v.normalize_locale("de_de") == "de-DE" and v.normalize_locale("fr-FR") == "fr-FR"


@pytest.mark.parametrize("name, locale", [
    ("hub_en-US-{table}.csv", "en-US"), ("hub_de-DE-{table}.csv", "de-DE"),
    ("hub_de-DE-{table}.cp1252.csv", "de_DE"), ("hub_fr-FR-{table}.csv", "fr_FR"),
])
def test_libreoffice_as_shown_csvs_store_what_the_person_meant(database_url, tenant, name, locale):
    for table in ("metrics_daily", "io_bookings"):
        body = (CSV_FIXTURES / name.format(table=table)).read_bytes()
        summary = import_text(database_url, tenant["id"], table, body,
                              context={"locale": v.normalize_locale(locale)})
        assert summary["status"] == "completed", summary["row_errors"]
        assert summary["locale"] == v.normalize_locale(locale)
    assert _stored(database_url) == (EXPECTED_METRICS, EXPECTED_IOS)


def test_the_same_german_csv_read_as_en_us_is_refused_not_stored_wrong(database_url, tenant):
    body = (CSV_FIXTURES / "hub_de-DE-metrics_daily.csv").read_bytes()
    summary = import_text(database_url, tenant["id"], "metrics_daily", body)
    assert summary["locale"] == "en-US" and summary["counts"]["inserted"] == 0
    assert rows(database_url, MetricsDaily) == []


def test_google_sheets_style_csv_bom_crlf_and_a_quoted_newline(database_url, tenant):
    # Google Sheets' File > Download > CSV: comma-separated, CRLF line ends; a cell with a line break is
    # quoted (RFC 4180). Some tools that pass it on add a UTF-8 BOM, so it is here too.
    body = ("\ufeffio_id,flight_start,flight_end,status,promo_code,campaign_id\r\n"
            "IO-9,2025-03-01,2025-03-31,draft,TECH20,\"spring\r\nlaunch\"\r\n").encode()
    summary = import_text(database_url, tenant["id"], "io_bookings", body)
    assert summary["status"] == "completed", summary
    (io_row,) = rows(database_url, IoBooking)
    assert (io_row.io_id, io_row.flight_start, io_row.campaign_id) == ("IO-9", date(2025, 3, 1), "spring\r\nlaunch")


def test_a_push_with_typed_cells_and_its_locale(database_url, tenant):
    # What the Apps Script sends: displayed values, the typed values beside them, the sheet's locale.
    push = {"header": ["day", "episode_id", "source", "downloads", "completion_rate", "revenue"],
            "locale": "de_DE", "rows": [
                {"row_number": 2, "values": ["31.01.2025", "0042", "manual", "1.204", "85 %", "2.000,00 €"],
                 "typed": ["2025-01-31", 42, None, 1204, 0.85, 2000]},
                # A row without typed cells is read from its text, in the push's locale.
                {"row_number": 3, "values": ["12.03.2025", "0007", "manual", "12.345", "50 %", "1.234,50 €"]}]}
    summary = import_text(database_url, tenant["id"], "metrics_daily", json.dumps(push), input_format="sheet_push",
                          context={"locale": "de-DE"})
    assert summary["status"] == "completed", summary["row_errors"]
    stored = [(r.day, r.episode_id, r.downloads, r.completion_rate, r.revenue_cents)
              for r in rows(database_url, MetricsDaily, MetricsDaily.day)]
    assert stored == [(date(2025, 1, 31), "0042", 1204, 0.85, 200000), (date(2025, 3, 12), "0007", 12345, 0.5, 123450)]


@pytest.mark.parametrize("typed, fragment", [
    ([1, 2], "as long as its values"), (["31.01.2025", None, None, None], "ISO dates"), ([True, None, None, None], "found True"),
])
def test_a_push_with_malformed_typed_cells_is_refused_whole(database_url, tenant, typed, fragment):
    push = {"header": ["day", "episode_id", "source", "downloads"],
            "rows": [{"row_number": 2, "values": ["2025-01-31", "1", "manual", "3"], "typed": typed}]}
    summary = import_text(database_url, tenant["id"], "metrics_daily", json.dumps(push), input_format="sheet_push")
    assert summary["status"] == "failed" and fragment in summary["error"]


def test_upload_cli_and_zapier_take_a_locale(database_url, tenant, tmp_path):
    client = create_app({"database_url": database_url, "redis_url": None}).test_client()
    auth = {"Authorization": f"Bearer {tenant['secrets']['api']}"}
    body = (CSV_FIXTURES / "hub_fr-FR-metrics_daily.csv").read_bytes()
    answer = client.post("/api/v1/etl/upload", headers=auth, content_type="multipart/form-data",
                         data={"table": "metrics_daily", "locale": "fr_FR", "file": (io.BytesIO(body), "fr.csv")})
    assert answer.status_code == 202, answer.get_json()
    status = client.get(f"/api/v1/etl/status/{answer.get_json()['import_id']}", headers=auth).get_json()
    assert status["locale"] == "fr-FR" and status["counts"]["inserted"] == 3
    bad = client.post("/api/v1/etl/upload", headers=auth, content_type="multipart/form-data",
                      data={"table": "metrics_daily", "locale": "klingon", "file": (io.BytesIO(body), "fr.csv")})
    assert bad.status_code == 400 and "found 'klingon'" in bad.get_json()["error"]

    zap = client.post("/webhooks/zapier/acme/metrics_daily?locale=de-DE",
                      headers={"Authorization": f"Bearer {tenant['secrets']['zapier']}"},
                      json={"day": "01.02.2025", "episode_id": "z1", "source": "zap", "downloads": "2.500"})
    assert zap.status_code == 202, zap.get_json()
    (zapped,) = [r for r in rows(database_url, MetricsDaily) if r.source == "zap"]
    assert (zapped.day, zapped.downloads) == (date(2025, 2, 1), 2500)

    csv_path = tmp_path / "de.csv"
    csv_path.write_bytes((CSV_FIXTURES / "hub_de-DE-io_bookings.csv").read_bytes())
    env = dict(os.environ, HUB_DATABASE_URL=database_url)
    done = subprocess.run([sys.executable, "-m", "hub", "import", str(csv_path), "--tenant", "acme",
                           "--table", "io_bookings", "--locale", "de_DE"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["locale"] == "de-DE"
    refused = subprocess.run([sys.executable, "-m", "hub", "import", str(csv_path), "--tenant", "acme",
                              "--table", "io_bookings", "--locale", "xx"], env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "found 'xx'" in refused.stdout


def test_the_signed_sheets_webhook_reads_a_push_in_the_sheets_locale(database_url, tenant):
    from tests.test_sheets_webhook import sign

    client = create_app({"database_url": database_url, "redis_url": None}).test_client()
    push = {"push_id": "p-de", "spreadsheet_id": "s-de", "sheet": "metrics_daily", "locale": "de_DE",
            "time_zone": "Europe/Berlin", "header": ["day", "episode_id", "source", "downloads"],
            "rows": [{"row_number": 2, "values": ["31.01.2025", "0042", "manual", "1.204"]}]}
    text = json.dumps(push)
    answer = client.post("/webhooks/sheets/acme", data=text, headers=sign(tenant["secrets"]["sheets"], text))
    assert answer.status_code == 202, answer.get_json()
    (row,) = rows(database_url, MetricsDaily)
    assert (row.day, row.downloads) == (date(2025, 1, 31), 1204)
    bad = json.dumps(dict(push, push_id="p-bad", locale="nowhere"))
    refused = client.post("/webhooks/sheets/acme", data=bad, headers=sign(tenant["secrets"]["sheets"], bad))
    assert refused.status_code == 422 and "found 'nowhere'" in refused.get_json()["error"]


def test_a_tenants_default_locale_reads_inputs_that_name_none(database_url, tenant):
    env = dict(os.environ, HUB_DATABASE_URL=database_url)
    command = [sys.executable, "-m", "hub", "tenant", "set-locale", "acme"]
    refused = subprocess.run(command + ["elvish"], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "found 'elvish'" in refused.stderr
    done = subprocess.run(command + ["de_DE"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    body = (CSV_FIXTURES / "hub_de-DE-metrics_daily.csv").read_bytes()
    summary = import_text(database_url, tenant["id"], "metrics_daily", body)
    assert summary["locale"] == "de-DE" and summary["counts"]["inserted"] == 3
    # An input that names its locale still wins over the tenant's.
    en = (CSV_FIXTURES / "hub_en-US-metrics_daily.csv").read_bytes()
    assert import_text(database_url, tenant["id"], "metrics_daily", en, context={"locale": "en-US"})["locale"] == "en-US"


def test_an_amount_in_another_currency_than_the_rows_is_refused_naming_both(database_url, tenant):
    body = ("io_id;flight_start;flight_end;booked_cpm;currency\n"
            "IO-1;01.03.2025;31.03.2025;25,00 €;EUR\n"
            "IO-2;01.03.2025;31.03.2025;$ 12,00;EUR\n"
            "IO-3;01.03.2025;31.03.2025;12,00 USD;usd\n"
            "IO-4;01.03.2025;31.03.2025;99999999999999999999,00 €;EUR\n")
    summary = import_text(database_url, tenant["id"], "io_bookings", body, context={"locale": "de-DE"})
    assert summary["counts"]["inserted"] == 2 and summary["counts"]["refused"] == 2
    messages = [e["message"] for e in summary["row_errors"]]
    assert messages[0].startswith("row 3, booked_cpm_cents: expected an amount in EUR (the row's currency), found one in ")
    assert "USD" in messages[0] and messages[1].startswith("row 5, booked_cpm: expected an amount up to")
    assert [(r.io_id, r.booked_cpm_cents, r.currency) for r in rows(database_url, IoBooking, IoBooking.io_id)] == [
        ("IO-1", 2500, "EUR"), ("IO-3", 1200, "USD")]
