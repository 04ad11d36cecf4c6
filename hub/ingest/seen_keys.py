"""The keys an input has given so far, and the row that gave each first, in memory that stays small.

A million-row input used to keep a dict of a million key hashes (about 105 bytes a row). Here a key
costs 12 bytes: its 64-bit hash and its row number, in two sorted numpy arrays. The latest keys wait
in a small dict and are merged into the arrays when it fills. A bit array in front of them answers
"never seen" for almost every new key without searching, so the common row pays one dict lookup and
one bit test.

A key is known by Python's hash of its values, as before: two different keys sharing a 64-bit hash
would be taken for duplicates, which is about as likely as a cosmic ray flipping the comparison.
"""
from __future__ import annotations

import numpy as np

# Keys held in the dict before they are merged into the sorted arrays (about 100 bytes each).
RECENT_LIMIT = 16_384
# 2^26 bits (8 MiB, touched as keys arrive): at a million keys about 1.5 % of new keys need a search.
FILTER_BITS = 1 << 26


class SeenKeys:
    def __init__(self) -> None:
        self._recent: dict[int, int] = {}
        self._hashes = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int32)
        self._filter = bytearray(FILTER_BITS // 8)

    def first_row(self, digest: int, row_number: int) -> int:
        """The row that first gave this key: `row_number` itself when the key is new (and now seen)."""
        recent = self._recent.setdefault(digest, row_number)
        if recent != row_number:
            return recent
        bit = digest & (FILTER_BITS - 1)
        byte, mask = bit >> 3, 1 << (bit & 7)
        if self._filter[byte] & mask:
            earlier = self._search(digest)
            if earlier is not None:
                del self._recent[digest]
                return earlier
        else:
            self._filter[byte] |= mask
        if len(self._recent) >= RECENT_LIMIT:
            self._merge()
        return row_number

    def __len__(self) -> int:
        return len(self._recent) + len(self._hashes)

    def _search(self, digest: int) -> int | None:
        at = int(self._hashes.searchsorted(digest))
        if at < len(self._hashes) and int(self._hashes[at]) == digest:
            return int(self._rows[at])
        return None

    def _merge(self) -> None:
        hashes = np.fromiter(self._recent.keys(), dtype=np.int64, count=len(self._recent))
        rows = np.fromiter(self._recent.values(), dtype=np.int32, count=len(self._recent))
        order = hashes.argsort()
        hashes, rows = hashes[order], rows[order]
        at = self._hashes.searchsorted(hashes)
        self._hashes = np.insert(self._hashes, at, hashes)
        self._rows = np.insert(self._rows, at, rows)
        self._recent.clear()
