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
