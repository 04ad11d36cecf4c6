"""Zip-based workbooks (XLSX, ODS) are checked entry by entry before any parser opens them.

A workbook is a zip archive of XML, and deflate expands up to ~1000:1, so a 1.5 MB upload can hold
gigabytes of XML; openpyxl keeps every shared string in memory (issue 15: a 1.5 MB file made an import
job hold 1.5 GB). The archive's central directory states each entry's uncompressed size, and Python's
zipfile never inflates an entry past its stated size (it stops there and fails the CRC), so checking
the stated sizes bounds what a parser can be fed. The limits keep an import job under 300 MiB of
resident memory for any upload within HUB_MAX_UPLOAD_BYTES; the test measures it.
"""
from __future__ import annotations

import re
import zipfile
from typing import BinaryIO

from .spec import UnusableInput

MiB = 1024 * 1024
MAX_ENTRIES = 2000                    # a real workbook has tens; each costs a directory record in memory
MAX_ENTRY_BYTES = 256 * MiB           # one sheet's XML, streamed by the parser (read_only): time, not memory
MAX_TOTAL_BYTES = 512 * MiB           # every entry together
MAX_RATIO = 100                       # uncompressed / compressed, for entries over RATIO_FLOOR_BYTES
RATIO_FLOOR_BYTES = 1 * MiB           # small entries (styles, empty sheets) legitimately compress better
# Shared strings are held in memory as one Python string each (~60 bytes apiece beyond the text).
MAX_SHARED_STRINGS_BYTES = 16 * MiB
MAX_SHARED_STRINGS = 1_000_000
# ODS keeps cells and strings inline in content.xml; the reader streams it (iterparse), so the cap is
# about time, like a sheet's XML in an XLSX.
MAX_ODS_CONTENT_BYTES = MAX_ENTRY_BYTES

_COUNT_ATTRIBUTE = re.compile(rb'\b(count|uniqueCount)\s*=\s*"(\d+)"')


class ArchiveRefused(UnusableInput):
    """The workbook's archive is past a stated limit; nothing was read from it."""


def _mb(size: int) -> str:
    return f"{size / MiB:.1f} MiB"


def check_archive(binary: BinaryIO, entry_limits: dict[str, int] | None = None) -> zipfile.ZipFile | None:
    """Raise ArchiveRefused when the archive is past a limit; None when it is not a zip at all (the
    parser then says so in its own words). `entry_limits` caps named entries (e.g. ODS content.xml)."""
    start = binary.tell()
    try:
        archive = zipfile.ZipFile(binary)
    except (zipfile.BadZipFile, OSError, ValueError):
        binary.seek(start)
        return None
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise ArchiveRefused(f"workbook: the archive has {len(entries)} entries; the limit is {MAX_ENTRIES}")
    total = 0
    for entry in entries:
        total += entry.file_size
        if entry.file_size > RATIO_FLOOR_BYTES and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise ArchiveRefused(
                f"workbook: {entry.filename} expands {entry.file_size // max(entry.compress_size, 1)} times "
                f"({entry.compress_size} bytes to {_mb(entry.file_size)}); the limit is {MAX_RATIO} times")
        if entry.file_size > MAX_ENTRY_BYTES:
            raise ArchiveRefused(f"workbook: {entry.filename} expands to {_mb(entry.file_size)}; "
                                 f"the limit is {_mb(MAX_ENTRY_BYTES)} per part")
        limit = (entry_limits or {}).get(entry.filename)
        if limit is not None and entry.file_size > limit:
            raise ArchiveRefused(f"workbook: {entry.filename} expands to {_mb(entry.file_size)}; "
                                 f"the limit is {_mb(limit)}")
    if total > MAX_TOTAL_BYTES:
        raise ArchiveRefused(f"workbook: its parts expand to {_mb(total)} in all; the limit is {_mb(MAX_TOTAL_BYTES)}")
    return archive


def check_workbook_archive(binary: BinaryIO) -> None:
    """XLSX: the archive limits, then the shared-strings table by its size and its declared counts."""
    start = binary.tell()
    archive = check_archive(binary)
    if archive is not None:
        for entry in archive.infolist():
            if entry.filename.lower().endswith("sharedstrings.xml"):
                _check_shared_strings(archive, entry)
    binary.seek(start)


def check_ods_archive(binary: BinaryIO) -> None:
    """ODS: the archive limits, with content.xml (where an ODS keeps its cells and strings) capped."""
    start = binary.tell()
    check_archive(binary, {"content.xml": MAX_ODS_CONTENT_BYTES})
    binary.seek(start)


def _check_shared_strings(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    if entry.file_size > MAX_SHARED_STRINGS_BYTES:
        raise ArchiveRefused(f"workbook: its shared strings ({entry.filename}) expand to {_mb(entry.file_size)}; "
                             f"the limit is {_mb(MAX_SHARED_STRINGS_BYTES)}")
    with archive.open(entry) as stream:
        head = stream.read(4096).split(b"<si", 1)[0]  # up to the first string: the <sst count=.. uniqueCount=..> tag
    for name, value in _COUNT_ATTRIBUTE.findall(head):
        if int(value) > MAX_SHARED_STRINGS:
            raise ArchiveRefused(f"workbook: its shared strings declare {name.decode()}={int(value)}; "
                                 f"the limit is {MAX_SHARED_STRINGS} strings")
