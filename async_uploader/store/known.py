"""The scan's question, once per file of the folder: is this file settled (uploaded, or empty)
and unchanged since? Answered from the fingerprints of the settled files alone, read in order
into 8 bytes each, with where each of their leading-bit buckets starts: a query per file, or
per batch of files, costs more than the scan's own ``stat``."""

from __future__ import annotations

import sqlite3
from array import array
from bisect import bisect_left
from collections.abc import Callable
from operator import itemgetter

from .schema import BLAKE, PACK

Check = Callable[[str, int, int], bool]


def fingerprints(db: sqlite3.Connection) -> tuple[array[int], bool]:
    """Every settled file's fingerprint, in order, and whether some record still lacks a size
    (imported from a list of names: those are asked one by one)."""
    cursor = db.execute("SELECT done_key FROM files WHERE done_key IS NOT NULL ORDER BY done_key")
    keys = array("q", map(itemgetter(0), cursor))
    unsized = db.execute("SELECT EXISTS (SELECT 1 FROM files WHERE size IS NULL)").fetchone()[0]
    return keys, bool(unsized)


def unchanged_check(keys: array[int], slow: Check | None) -> Check:
    """``check(rel, size, mtime_ns)``: True when the file's fingerprint is among ``keys``, else
    what ``slow`` says (None: False)."""
    n = len(keys)
    bits = (n // 32).bit_length()  # buckets of 16 to 32 keys, by their leading bits
    shift = 63 - bits
    # edges[b]: where bucket b starts; edges[-1] == n
    edges = array("q", (bisect_left(keys, b << shift) for b in range((1 << bits) + 1)))
    copy, pack, as_int, find = BLAKE.copy, PACK, int.from_bytes, bisect_left

    def check(rel: str, size: int, mtime_ns: int) -> bool:
        # schema.fingerprint, inline: this runs once per file of a million-file folder.
        h = copy()
        h.update(rel.encode("utf-8", "surrogateescape"))
        h.update(pack(size, mtime_ns))
        key = as_int(h.digest(), "little") >> 1
        b = key >> shift
        i = find(keys, key, edges[b], edges[b + 1])
        if i < n and keys[i] == key:
            return True
        return slow is not None and slow(rel, size, mtime_ns)

    return check
