"""Workbook archives are checked before openpyxl reads them: a shared-strings bomb is refused by a real
worker whose peak memory is measured (issue 15)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import pytest
from openpyxl import load_workbook

from hub import create_app
from hub.ingest import archive_guard
from hub.ingest.archive_guard import ArchiveRefused, check_ods_archive, check_workbook_archive
from hub.models import MetricsDaily
from tests.conftest import make_tenant
from tests.helpers import load_import, rows

JOB_RSS_BOUND_MIB = 300


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PARTS = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        "</Types>"),
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
        '<sheet name="metrics_daily" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'),
    # Every text cell points into the shared-strings table (t="s"), as Excel writes them.
    "xl/worksheets/sheet1.xml": (
        f'<worksheet xmlns="{MAIN}"><sheetData>'
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>'
        '<c r="D1" t="s"><v>3</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>4</v></c><c r="B2" t="s"><v>5</v></c><c r="C2" t="s"><v>6</v></c>'
        '<c r="D2"><v>10</v></c></row></sheetData></worksheet>'),
}


def workbook_bytes(head: bytes | None = None, filler: bytes = b"", copies: int = 0) -> bytes:
    """A workbook as Excel lays it out, its xl/sharedStrings.xml being `head` (the sst tag and the real
    strings), then `filler` `copies` times, streamed into the archive so the test never holds it whole."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for name, text in PARTS.items():
            target.writestr(name, text)
        with target.open("xl/sharedStrings.xml", "w", force_zip64=True) as strings:
            strings.write(head if head is not None else SST.replace(b"{n}", b"7"))
            block = filler * 4096
            for _ in range(copies // 4096):
                strings.write(block)
            strings.write(b"</sst>")
    return out.getvalue()


SST = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
       b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{n}" uniqueCount="{n}">'
       b"<si><t>day</t></si><si><t>episode_id</t></si><si><t>source</t></si><si><t>downloads</t></si>"
       b"<si><t>2025-01-01</t></si><si><t>ep-1</t></si><si><t>upload</t></si>")


def shared_strings_bomb() -> bytes:
    # ~100 MB of shared strings (six million of them, each a Python object once parsed) in about
    # 100 KB, declaring an innocent count: the count can lie.
    filler = b"<si><t>A</t></si>"
    return workbook_bytes(SST.replace(b"{n}", b"7"), filler, copies=6_000_000)


def test_a_normal_workbook_passes_and_the_stream_is_left_at_its_start():
    stream = io.BytesIO(workbook_bytes())
    check_workbook_archive(stream)
    assert stream.tell() == 0
    sheet = load_workbook(stream, read_only=True)["metrics_daily"]  # the fixture is a real workbook
    assert list(sheet.iter_rows(values_only=True)) == [("day", "episode_id", "source", "downloads"),
                                                       ("2025-01-01", "ep-1", "upload", 10)]


def test_expansion_ratio_is_refused_naming_the_part():
    with pytest.raises(ArchiveRefused, match=r"xl/sharedStrings.xml expands \d+ times .*the limit is 100 times"):
        check_workbook_archive(io.BytesIO(shared_strings_bomb()))


def test_declared_shared_string_count_past_the_limit_is_refused():
    bomb = workbook_bytes(SST.replace(b"{n}", b"50000000"))
    with pytest.raises(ArchiveRefused, match="declare count=50000000; the limit is 1000000 strings"):
        check_workbook_archive(io.BytesIO(bomb))


def test_shared_strings_size_and_entry_count_limits(monkeypatch):
    monkeypatch.setattr(archive_guard, "MAX_SHARED_STRINGS_BYTES", 64 * 1024)
    incompressible = workbook_bytes(SST.replace(b"{n}", b"7"),
                                         b"<si><t>" + os.urandom(30).hex().encode() + b"</t></si>", copies=8192)
    with pytest.raises(ArchiveRefused, match=r"shared strings \(xl/sharedStrings.xml\) expand to .* the limit is 0.1 MiB"):
        check_workbook_archive(io.BytesIO(incompressible))

    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for number in range(archive_guard.MAX_ENTRIES + 1):
            archive.writestr(f"x/{number}.xml", b"")
    with pytest.raises(ArchiveRefused, match=f"{archive_guard.MAX_ENTRIES + 1} entries; the limit is 2000"):
        check_workbook_archive(many)


def test_ods_content_xml_is_capped(monkeypatch):
    monkeypatch.setattr(archive_guard, "MAX_ODS_CONTENT_BYTES", 1024)
    ods = io.BytesIO()
    with zipfile.ZipFile(ods, "w") as archive:
        archive.writestr("mimetype", b"application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", b"<office:document-content>" + b" " * 2048 + b"</office:document-content>")
    with pytest.raises(ArchiveRefused, match="content.xml expands to 0.0 MiB; the limit is 0.0 MiB"):
        check_ods_archive(ods)


def test_shared_strings_bomb_is_refused_by_a_real_worker_under_300_mib(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    from hub.migrate import upgrade

    upgrade(url)
    tenant = make_tenant(url)
    bomb = shared_strings_bomb()
    app = create_app({"database_url": url, "redis_url": redis_url})
    answer = app.test_client().post(
        "/api/v1/etl/upload", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"},
        data={"table": "metrics_daily", "file": (io.BytesIO(bomb), "bomb.xlsx")}, content_type="multipart/form-data")
    assert answer.status_code == 202, answer.get_json()
    import_id = answer.get_json()["import_id"]

    env = dict(os.environ, HUB_DATABASE_URL=url, HUB_REDIS_URL=redis_url, HUB_JOB_RETRIES="0")
    # The worker is started by a small launcher that reports its children's peak RSS: Linux counts a child's
    # memory from before its exec too, so a worker spawned straight from this (large) test process would
    # be charged with the test process's own RSS.
    launcher = ("import resource, subprocess, sys\n"
                "code = subprocess.call([sys.executable, '-m', 'hub', 'worker', '--burst'], stdout=subprocess.DEVNULL)\n"
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
                "sys.exit(code)\n")
    worker = subprocess.run([sys.executable, "-c", launcher], env=env, capture_output=True, text=True, timeout=300)
    log = worker.stderr
    peak_mib = int(worker.stdout.split()[-1]) / 1024  # KiB on Linux
    print(f"\nshared-strings bomb: {len(bomb) / 1024:.0f} KiB upload expanding to "
          f"{zipfile.ZipFile(io.BytesIO(bomb)).getinfo('xl/sharedStrings.xml').file_size / 2**20:.0f} MiB; "
          f"worker peak RSS {peak_mib:.1f} MiB")
    assert worker.returncode == 0, log[-2000:]
    assert peak_mib < JOB_RSS_BOUND_MIB

    imp = load_import(url, import_id)
    assert imp.status == "failed"
    assert "xl/sharedStrings.xml expands" in imp.error and "the limit is 100 times" in imp.error
    assert rows(url, MetricsDaily) == []
