"""The compact set of keys an input has given: the same answers as a plain dict of every key, across the
merges into its sorted arrays and the filter's false alarms."""
from __future__ import annotations

import random

from hub.ingest import seen_keys
from hub.ingest.seen_keys import SeenKeys


def _dict_answers(digests):
    first: dict[int, int] = {}
    return [first.setdefault(digest, row) for row, digest in enumerate(digests, start=2)]


def test_first_rows_match_a_dict_of_every_key_across_merges(monkeypatch):
    monkeypatch.setattr(seen_keys, "RECENT_LIMIT", 64)  # many merges from a few thousand keys
    rng = random.Random(7)
    pool = [rng.getrandbits(64) - 2**63 for _ in range(3_000)]
    digests = [rng.choice(pool) for _ in range(10_000)]  # about half the rows repeat an earlier key
    seen = SeenKeys()
    assert [seen.first_row(digest, row) for row, digest in enumerate(digests, start=2)] == _dict_answers(digests)
    assert len(seen) == len(set(digests))


def test_keys_sharing_a_filter_bit_are_told_apart(monkeypatch):
    monkeypatch.setattr(seen_keys, "RECENT_LIMIT", 4)
    # Every key lands on the same filter bit, so each new key after the first is a false alarm to search.
    digests = [n * seen_keys.FILTER_BITS + 5 for n in range(-20, 20)]
    digests += digests[::3]
    seen = SeenKeys()
    assert [seen.first_row(digest, row) for row, digest in enumerate(digests, start=2)] == _dict_answers(digests)


def test_a_million_keys_cost_a_few_bytes_each():
    seen = SeenKeys()
    for row in range(1_000_000):
        seen.first_row(hash(("2025-01-01", f"ep-{row}", "apple")), row + 2)
    held = seen._hashes.nbytes + seen._rows.nbytes + len(seen._filter)
    assert len(seen) == 1_000_000 and held < 25 * 1024 * 1024
