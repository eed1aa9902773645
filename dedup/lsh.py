"""LSH banding of MinHash signatures into hashable band keys.

(b, r) come from datasketch's own optimiser (the parameters `MinHashLSH` would use for the
threshold), so a pair shares at least one band key with probability 1 - (1 - J^r)^b.
"""
from __future__ import annotations

import functools

import numpy as np
from datasketch import MinHashLSH


@functools.lru_cache(maxsize=32)
def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


_FOLD = np.uint64(0x9E3779B97F4A7C15)  # odd: the fold is injective for one row and mixes several
_FMIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
_EMPTY = np.uint32(0xFFFFFFFF)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, num_perm) signatures -> ((n, bands) uint64 band keys, whether each signature has keys).

    A band's rows are folded into 64 bits (a multiply-add per row, then MurmurHash3's fmix64 to
    spread them), for every band of every signature at once. Empty-set signatures (all 0xFFFFFFFF)
    get no keys.
    """
    signatures = np.asarray(signatures, dtype=np.uint32)
    view = signatures[:, : bands * rows].reshape(len(signatures), bands, rows).astype(np.uint64)
    keys = np.zeros((len(signatures), bands), dtype=np.uint64)
    shift = np.uint64(33)
    with np.errstate(over="ignore"):
        for row in range(rows):
            keys = (keys + view[:, :, row]) * _FOLD
        for multiplier in _FMIX:
            keys ^= keys >> shift
            keys *= multiplier
        keys ^= keys >> shift
    return keys, ~np.all(signatures == _EMPTY, axis=1)


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """`band_keys` of one signature: one 64-bit key per band, none for the empty set's."""
    keys, has_keys = band_keys(signature[None, :], bands, rows)
    return keys[0].tolist() if has_keys[0] else []


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
    members: np.ndarray, lengths: np.ndarray, rank: np.ndarray, ts: np.ndarray, home: np.ndarray,
    horizon_s: float | None, max_bucket_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct item pairs of many band buckets, and how many of the buckets formed each.

    `members` lists item indices bucket after bucket (`lengths[i]` items in bucket i); `rank`
    orders the items (their keys' rank: equal keys, equal rank), `ts` and `home` are per item.
    Within a bucket, taken in rank order, member i pairs with every later member j when i is an
    anchor (every member, or only the first `BUCKET_ANCHORS` of a bucket over `max_bucket_size`),
    the keys differ, one of the two is home (see `time_buckets`) and, with a horizon, their times
    are at most `horizon_s` apart. All in bulk: no Python loop over buckets or pairs.

    Returns (left, right, buckets): item indices with rank[left] < rank[right], ordered by
    (rank[left], rank[right]), and the number of buckets each pair was formed in.
    """
    bucket = np.repeat(np.arange(len(lengths)), lengths)
    members = members[np.lexsort((rank[members], bucket))]
    first = np.cumsum(lengths) - lengths  # each bucket's first position
    position = np.arange(len(members)) - first[bucket]
    anchors = np.where(lengths <= max_bucket_size, lengths, BUCKET_ANCHORS)
    partners = np.minimum(position, anchors[bucket])  # anchors before this member, each a pair
    total = int(partners.sum())
    later = np.repeat(np.arange(len(members)), partners)
    earlier = first[bucket[later]] + np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    left, right = members[earlier], members[later]
    keep = (home[left] | home[right]) & (rank[left] != rank[right])
    if horizon_s is not None:
        keep &= np.abs(ts[left] - ts[right]) <= horizon_s
    left, right = left[keep], right[keep]
    code = rank[left].astype(np.int64) * (int(rank.max(initial=0)) + 1) + rank[right]
    _, first_seen, buckets = np.unique(code, return_index=True, return_counts=True)
    return left[first_seen], right[first_seen], buckets
