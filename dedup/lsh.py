"""LSH banding of MinHash signatures into hashable band keys.

(b, r) come from datasketch's own optimiser (the parameters `MinHashLSH` would use for the
threshold), so a pair shares at least one band key with probability 1 - (1 - J^r)^b.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import xxhash
from datasketch import MinHashLSH


@functools.lru_cache(maxsize=32)
def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """One 64-bit key per band; empty-set signatures (all 0xFFFFFFFF) get no keys."""
    if np.all(signature == np.uint32(0xFFFFFFFF)):
        return []
    view = np.ascontiguousarray(signature[: bands * rows], dtype=np.uint32).reshape(bands, rows)
    return [xxhash.xxh3_64_intdigest(row.tobytes()) for row in view]


# Time buckets span this many horizons: only items within one horizon of the next bucket visit it.
BUCKET_HORIZONS = 2


def time_buckets(ts: np.ndarray, horizon_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Each item's home time bucket floor(ts / 2H), and whether it lies within H of the next one.

    An item visits the next bucket as well when it is that close to it (half the items, so a
    quarter fewer copies than buckets of width H). Two items within H of each other always share
    a bucket where at least one is home. Without a horizon, everything is in bucket 0.
    """
    if horizon_s is None:
        return np.zeros(len(ts), dtype=np.int64), np.zeros(len(ts), dtype=bool)
    width = BUCKET_HORIZONS * horizon_s
    home = np.floor(ts / width).astype(np.int64)
    return home, ts + horizon_s >= (home + 1) * width


def bucket_runs(hashes: np.ndarray, bands: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group entries by (band hash, band) with one sort.

    Returns the entries' order and the start and length of each run of equal keys in that order:
    each run is one LSH bucket.
    """
    order = np.lexsort((bands, hashes))
    if len(order) == 0:
        return order, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    h, b = hashes[order], bands[order]
    starts = np.concatenate(([0], np.flatnonzero((h[1:] != h[:-1]) | (b[1:] != b[:-1])) + 1))
    return order, starts, np.diff(np.append(starts, len(order)))


# Members of an oversized bucket are each paired with this many anchors (its first members by
# key) instead of with every other member: linear work, and true near-duplicates still connect.
BUCKET_ANCHORS = 5


def bucket_pairs(
    members: list[tuple[str, float, bool]], horizon_s: float | None, max_bucket_size: int
) -> Iterator[tuple[int, int]]:
    """Index pairs (i < j) of one band bucket's members (key, ts, is_home), sorted by key.

    A pair needs one home member (see time-bucketed band keys) and, with a horizon, times at
    most `horizon_s` apart. A bucket over `max_bucket_size` pairs every member with its first
    `BUCKET_ANCHORS` members only.
    """
    anchors = len(members) if len(members) <= max_bucket_size else BUCKET_ANCHORS
    for i in range(min(anchors, len(members))):
        key_i, ts_i, home_i = members[i]
        for j in range(i + 1, len(members)):
            key_j, ts_j, home_j = members[j]
            if (home_i or home_j) and key_i != key_j and (horizon_s is None or abs(ts_i - ts_j) <= horizon_s):
                yield i, j
