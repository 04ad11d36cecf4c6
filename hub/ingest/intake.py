"""Taking an input in: persist what was received as an import record before anyone is told "accepted"."""
from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import BinaryIO

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..models import EtlImport, EtlImportChunk, Tenant
from .readers import CHUNK_BYTES, INPUT_FORMATS
from .tables import TABLES
from .spec import UnusableInput


UNREAD = object()  # create_import's tenant_locale when the caller did not read the tenant


class PayloadTooLarge(ValueError):
    """The input is over the configured size limit; nothing of it was kept."""


def new_import_id() -> str:
    return uuid.uuid4().hex


def find_replay(session: Session, tenant_id: int, source: str, dedupe_key: str | None) -> EtlImport | None:
    if not dedupe_key:
        return None
    return session.scalar(
        select(EtlImport).where(
            EtlImport.tenant_id == tenant_id, EtlImport.source == source, EtlImport.dedupe_key == dedupe_key
        )
    )


def create_import(
    session: Session,
    *,
    tenant_id: int,
    source: str,
    table_name: str,
    input_format: str,
    payload: BinaryIO | bytes | None = None,
    local_path: str | None = None,
    filename: str | None = None,
    dedupe_key: str | None = None,
    context: dict | None = None,
    max_bytes: int | None = None,
    tenant_locale: str | None | object = UNREAD,
) -> tuple[EtlImport, bool]:
    """Record an import and its payload (chunked). Returns (import, created); a replayed key returns the first.
    `tenant_locale`: the tenant's locale (None: it has none) when the caller has read the tenant already."""
    if table_name not in TABLES:
        raise UnusableInput(f"table: expected one of {', '.join(TABLES)}, found {table_name!r}")
    if input_format not in INPUT_FORMATS:
        raise UnusableInput(f"format: expected one of {', '.join(INPUT_FORMATS)}, found {input_format!r}")
    context = dict(context or {})
    if not context.get("locale"):
        # An input that names no locale is read in its tenant's (set-locale), else the hub's default.
        # The caller has usually just read the tenant (to authenticate it): get() takes that row and
        # asks the database only when the session has none.
        if tenant_locale is UNREAD:
            tenant = session.get(Tenant, tenant_id)
            tenant_locale = tenant.locale if tenant is not None else None
        if tenant_locale:
            context["locale"] = tenant_locale
    values = dict(
        id=new_import_id(),
        tenant_id=tenant_id,
        source=source,
        table_name=table_name,
        input_format=input_format,
        filename=filename,
        dedupe_key=dedupe_key,
        status="queued",
        context=dict(context, **({"local_path": local_path} if local_path else {})),
    )
    if isinstance(payload, (bytes, bytearray)):
        values["size_bytes"] = len(payload)  # known now: no UPDATE of the record once the chunks are in
    # A keyed input seen before (a replay, or two copies racing) is not inserted again: the unique key
    # settles it in the INSERT itself (the copy that comes second waits for the first one's transaction),
    # and the caller gets the first one's record.
    imp = session.scalars(_insert_unless_seen(session.get_bind().dialect.name), values).one_or_none()
    if imp is None:
        existing = find_replay(session, tenant_id, source, dedupe_key)
        if existing is None:  # not this key's conflict after all: say so rather than lose the input
            raise RuntimeError(f"import for {source} key {dedupe_key!r} was neither inserted nor found")
        return existing, False
    if payload is not None:
        imp.size_bytes = _store_chunks(session, imp.id, payload, max_bytes)
    return imp, True


@lru_cache(maxsize=None)
def _insert_unless_seen(dialect: str):
    """The import's INSERT, built once: the values come as parameters. Building it per call (each value
    coerced into the statement, then its cache key worked out) cost a webhook's ack about 0.15 ms."""
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert_(EtlImport).on_conflict_do_nothing(index_elements=["tenant_id", "source", "dedupe_key"]).returning(EtlImport)


def _store_chunks(session: Session, import_id: str, payload: BinaryIO | bytes, max_bytes: int | None) -> int:
    if isinstance(payload, (bytes, bytearray)):
        if max_bytes is not None and len(payload) > max_bytes:
            raise PayloadTooLarge(f"body is {len(payload)} bytes; the limit is {max_bytes} bytes")
        pieces = [bytes(payload[i:i + CHUNK_BYTES]) for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
        # A plain INSERT, not ORM objects: nothing reads these rows back through the session, and a
        # webhook's ack waits for this (the unit of work cost about a millisecond more per push).
        session.execute(insert(EtlImportChunk.__table__),
                        [{"import_id": import_id, "seq": seq, "data": piece} for seq, piece in enumerate(pieces)])
        return len(payload)
    size, seq = 0, 0
    while True:
        piece = payload.read(CHUNK_BYTES)
        if not piece:
            break
        size += len(piece)
        if max_bytes is not None and size > max_bytes:
            raise PayloadTooLarge(f"file is over the limit of {max_bytes} bytes")
        chunk = EtlImportChunk(import_id=import_id, seq=seq, data=piece)
        session.add(chunk)
        session.flush()
        session.expunge(chunk)  # one chunk in memory at a time, however large the file
        seq += 1
    return size


def anchor_export_payload(binary: BinaryIO, podcast_id: str) -> bytes:
    """A Spotify for Podcasters (Anchor) CSV export as metrics_daily records (source "anchor").

    The export has no API behind it; its columns are mapped by connectors/anchor.py. A value that
    cannot be mapped refuses the file, naming its row and column.
    """
    from connectors.anchor import AnchorCsvError, rows_from_anchor_csv

    if not podcast_id or not podcast_id.strip():
        raise UnusableInput("podcast_id: expected the podcast these Anchor downloads belong to, found none")
    try:
        rows = [dict(row, day=row["day"].isoformat() if hasattr(row["day"], "isoformat") else row["day"])
                for row in rows_from_anchor_csv(binary, podcast_id.strip())]
    except AnchorCsvError as error:
        raise UnusableInput(f"Anchor export: {error}") from None
    return json.dumps(rows).encode()
