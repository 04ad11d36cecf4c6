"""Anchor / Spotify for Podcasters CSV export -> metrics_daily rows: liberal headers, strict values."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from connectors.anchor import ANCHOR_COLUMN_MAP, AnchorCsvError, rows_from_anchor_csv

FIXTURES = Path(__file__).parent / "fixtures" / "hosts"

# Source for all CSV fixtures: NOT documented. Spotify for Podcasters documents that analytics can be
# downloaded as a CSV (support.spotify.com "Understanding your podcast analytics"; Anchor's dashboard
# before it) but not the file's columns. These files are our assumption of its shape (a header row, one
# row per episode and day or hour, "Date"/"Time (UTC)", "Episode"/"Episode Title", "Plays"/"Streams"),
# written with the odd details real exports have: a UTF-8 BOM, ";" separators, CRLF, thousands commas,
# a blank trailing row, an extra "Listeners" column.


def rows(name: str, podcast_id: str = "pod-7") -> list[dict]:
    with open(FIXTURES / name, "rb") as stream:
        return list(rows_from_anchor_csv(stream, podcast_id))


def test_odd_headers_hourly_rows_and_bom_are_mapped():
    assert rows("anchor_hourly_odd_headers.csv") == [
        # 17 + 1,204 in two hourly rows of 2024-05-01
        {"day": "2024-05-01", "episode_id": "Ep 12: Launch", "podcast_id": "pod-7", "source": "anchor", "downloads": 1221},
        {"day": "2024-05-01", "episode_id": "Ep 11: Pre-launch", "podcast_id": "pod-7", "source": "anchor", "downloads": 3},
        {"day": "2024-05-02", "episode_id": "Ep 12: Launch", "podcast_id": "pod-7", "source": "anchor", "downloads": 9},
    ]


def test_an_id_column_wins_over_the_title_and_slashed_iso_dates_are_read():
    assert rows("anchor_daily_with_ids.csv", podcast_id="show-1") == [
        {"day": "2024-05-01", "episode_id": "4s7Yv1fQn2yJk0a9b8c7d6", "podcast_id": "show-1", "source": "anchor", "downloads": 153},
        {"day": "2024-05-02", "episode_id": "4s7Yv1fQn2yJk0a9b8c7d6", "podcast_id": "show-1", "source": "anchor", "downloads": 61},
        # no id on this row: the title stands in
        {"day": "2024-05-02", "episode_id": "Ep 11: Pre-launch", "podcast_id": "show-1", "source": "anchor", "downloads": 12},
    ]


def test_text_streams_and_line_iterables_are_accepted():
    text = "date,EPISODE-NAME,Downloads\n2024-05-03,Ep 13,5\n"
    expected = [{"day": "2024-05-03", "episode_id": "Ep 13", "podcast_id": "p", "source": "anchor", "downloads": 5}]
    assert list(rows_from_anchor_csv(io.StringIO(text), "p")) == expected
    assert list(rows_from_anchor_csv(text.splitlines(keepends=True), "p")) == expected


def test_a_bad_plays_value_names_row_and_column():
    with pytest.raises(AnchorCsvError) as caught:
        rows("anchor_bad_plays.csv")
    assert str(caught.value) == "row 3, column 'Plays': expected a whole number of plays, found '12.5'"
    assert (caught.value.row, caught.value.column) == (3, "Plays")


@pytest.mark.parametrize("csv_text, message", [
    ("Date,Episode,Plays\n05/01/2024,Ep 1,3\n",
     "row 2, column 'Date': expected a date like 2024-05-01 (or an ISO timestamp), found '05/01/2024'"),
    ("Date,Episode,Plays\nTotal,,3\n",
     "row 2, column 'Date': expected a date like 2024-05-01 (or an ISO timestamp), found 'Total'"),
    ("Date,Episode,Plays\n2024-05-01,,3\n", "row 2, column 'Episode': no episode id or title"),
    ("Date,Episode,Plays\n2024-05-01,Ep 1,\n", "row 2, column 'Plays': expected a whole number of plays, found ''"),
    ("Date,Episode,Plays\n2024-05-01,Ep 1,-3\n", "row 2, column 'Plays': expected a whole number of plays, found '-3'"),
    ("Date,Episode,Plays\n2024-05-01,Ep 1,3\n2024-05-01,Ep 1,4\n",
     "row 3, column 'Date': duplicate of row 2 (same episode 'Ep 1' at '2024-05-01')"),
    (f"Date,Episode,Plays\n2024-05-01,{'x' * 129},3\n",
     "row 2, column 'Episode': episode is 129 characters; at most 128 fit"),
    ("Date,Plays\n2024-05-01,3\n",
     "row 1: no episode column (an episode id or title) among 'Date', 'Plays'; export the per-episode analytics, not the show totals"),
    ("Day,Episode,Listeners\n2024-05-01,Ep 1,3\n",
     "row 1: no plays column (one of downloads, plays, total plays, streams, starts, listens) among 'Day', 'Episode', 'Listeners'"),
    ("", "the export is empty"),
])
def test_bad_files_raise_clear_errors(csv_text, message):
    with pytest.raises(AnchorCsvError) as caught:
        list(rows_from_anchor_csv(io.StringIO(csv_text), "p"))
    assert str(caught.value) == message


def test_column_map_documents_every_metrics_field():
    assert set(ANCHOR_COLUMN_MAP) == {"day", "episode_id", "episode_title", "downloads"}
    assert "time (utc)" in ANCHOR_COLUMN_MAP["day"] and "streams" in ANCHOR_COLUMN_MAP["downloads"]
