"""Anchor / Spotify for Podcasters (now Spotify for Creators): no public analytics API, so its CSV
export is mapped to metrics_daily rows (source "anchor").

What the export is assumed to look like (Spotify documents that analytics can be downloaded as CSV,
not the columns; this is not confirmed against a real file): one row per episode and day (or hour),
a header row, comma-separated (";" and tab are sniffed too), UTF-8 with or without a BOM, e.g.

    Date,Episode,Plays                        Time (UTC),Episode Title,Streams
    2024-05-01,Ep 12: Launch,153              2024-05-01 00:00:00,Ep 12: Launch,17

Liberal in headers (case, spaces, "_" or "-" do not matter; ANCHOR_COLUMN_MAP lists the names taken,
first match wins), strict in values: dates must be ISO (YYYY-MM-DD, YYYY/MM/DD, or an ISO timestamp,
whose UTC date is used; slashed day/month orders are refused as ambiguous), counts whole numbers
(thousands commas allowed). A bad value raises AnchorCsvError naming the row (line in the file, the
header being row 1) and the column as written in the file.

Rows for the same episode and day (an hourly export) are added up; the same episode at the same
timestamp twice is refused as a duplicate.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timezone
from typing import Iterator

SOURCE = "anchor"

# metrics_daily field -> accepted export headers (normalised: lower case, single spaces), best first.
ANCHOR_COLUMN_MAP: dict[str, tuple[str, ...]] = {
    "day": ("date", "day", "time (utc)", "date (utc)", "time", "datetime", "timestamp"),
    # The episode is the id column when the export has one, else the title.
    "episode_id": ("episode id", "episodeid", "episode uri", "spotify episode id", "id"),
    "episode_title": ("episode title", "episode", "episode name", "title", "name"),
    # Downloads first; Spotify's "Plays" (downloads + streams of 60 s or more) next; then the
    # Spotify-only "Streams" (60 s or more) and "Starts".
    "downloads": ("downloads", "plays", "total plays", "streams", "starts", "listens"),
}
MAX_EPISODE_ID_LENGTH = 128  # metrics_daily.episode_id

_COUNT = re.compile(r"\d+|\d{1,3}(?:,\d{3})+")
_SLASHED_ISO = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")


class AnchorCsvError(ValueError):
    """A CSV export that cannot be mapped; `row` is the line in the file (header = 1), `column` the header."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None):
        where = ", ".join(filter(None, (f"row {row}" if row else None, f"column {column!r}" if column else None)))
        super().__init__(f"{where}: {message}" if where else message)
        self.row, self.column = row, column


def _normalise(header: str) -> str:
    text = header.replace("\ufeff", "").strip().strip('"').lower().replace("_", " ").replace("-", " ")
    return " ".join(text.split())


def _text(stream) -> str:
    data = stream.read() if hasattr(stream, "read") else "".join(
        line.decode("utf-8-sig") if isinstance(line, bytes) else line for line in stream)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AnchorCsvError(f"the export is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return data.lstrip("\ufeff")


def _columns(header: list[str]) -> dict[str, int]:
    found = {_normalise(name): index for index, name in reversed(list(enumerate(header)))}
    chosen: dict[str, int] = {}
    for field, aliases in ANCHOR_COLUMN_MAP.items():
        for alias in aliases:
            if alias in found and found[alias] not in chosen.values():
                chosen[field] = found[alias]
                break
    shown = ", ".join(repr(name) for name in header)
    if "day" not in chosen:
        raise AnchorCsvError(f"no date column (one of {', '.join(ANCHOR_COLUMN_MAP['day'])}) among {shown}", row=1)
    if "downloads" not in chosen:
        raise AnchorCsvError(f"no plays column (one of {', '.join(ANCHOR_COLUMN_MAP['downloads'])}) among {shown}", row=1)
    if "episode_id" not in chosen and "episode_title" not in chosen:
        raise AnchorCsvError(f"no episode column (an episode id or title) among {shown}; export the per-episode "
                             f"analytics, not the show totals", row=1)
    return chosen


def _day(text: str) -> date:
    value = text.strip()
    slashed = _SLASHED_ISO.fullmatch(value)
    if slashed:
        value = f"{slashed[1]}-{int(slashed[2]):02d}-{int(slashed[3]):02d}"
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        if len(value) > 10 and value[4] == "-" and value[10] in " T":
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (moment.astimezone(timezone.utc) if moment.tzinfo else moment).date()
    except (ValueError, IndexError):
        pass
    raise ValueError(f"expected a date like 2024-05-01 (or an ISO timestamp), found {text!r}")


def _count(text: str) -> int:
    value = text.strip()
    if not _COUNT.fullmatch(value):
        raise ValueError(f"expected a whole number of plays, found {text!r}")
    return int(value.replace(",", ""))


def rows_from_anchor_csv(stream, podcast_id: str) -> Iterator[dict]:
    """metrics_daily rows {"day", "episode_id", "podcast_id", "source": "anchor", "downloads"} from a
    Spotify for Podcasters / Anchor CSV export (a text or binary file object, or an iterable of lines)."""
    text = _text(stream)
    if not text.strip():
        raise AnchorCsvError("the export is empty")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader)
    columns = _columns(header)

    totals: dict[tuple[str, str], int] = {}
    seen: dict[tuple[str, str], int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue

        def cell(field: str) -> str:
            index = columns.get(field)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        def fail(field: str, message: str) -> AnchorCsvError:
            return AnchorCsvError(message, row=line, column=header[columns[field]])

        try:
            day = _day(cell("day"))
        except ValueError as exc:
            raise fail("day", str(exc)) from None
        episode_field = "episode_id" if cell("episode_id") else "episode_title"
        episode = cell(episode_field)
        if not episode:
            field = "episode_title" if "episode_title" in columns else "episode_id"
            raise fail(field, "no episode id or title")
        if len(episode) > MAX_EPISODE_ID_LENGTH:
            raise fail(episode_field, f"episode is {len(episode)} characters; at most {MAX_EPISODE_ID_LENGTH} fit")
        try:
            downloads = _count(cell("downloads"))
        except ValueError as exc:
            raise fail("downloads", str(exc)) from None

        stamp = (cell("day"), episode)
        if stamp in seen:
            raise fail("day", f"duplicate of row {seen[stamp]} (same episode {episode!r} at {cell('day')!r})")
        seen[stamp] = line
        key = (day.isoformat(), episode)
        totals[key] = totals.get(key, 0) + downloads

    for (day_text, episode), downloads in totals.items():
        yield {"day": day_text, "episode_id": episode, "podcast_id": str(podcast_id), "source": SOURCE,
               "downloads": downloads}
