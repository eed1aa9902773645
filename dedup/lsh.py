"""LSH banding of MinHash signatures into hashable band keys.

(b, r) come from datasketch's own optimiser (the parameters `MinHashLSH` would use for the
threshold), so a pair shares at least one band key with probability 1 - (1 - J^r)^b.
"""
from __future__ import annotations

import functools

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
