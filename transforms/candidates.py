"""LSH banding as Beam keys, and candidate pairs from each band bucket.

Two ways to turn buckets into scored pairs, chosen by the tier's shape:
- `CandidatePairs` emits distinct key pairs; `VerifyPairs` then joins each endpoint's node to the
  pair. Right for the variant tier: few pairs, large payloads (shingle sets).
- `ScoredNeighbours` carries each node into its buckets and scores the pairs there. Right for
  the story tier: many candidate pairs (a permissive threshold, most of them rejected) over
  small payloads (a top-K term vector), where pair lists and joins would cost more than the nodes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from dedup.cluster import neighbour_profile
from dedup.keyfilter import key_hashes
from dedup.lsh import band_keys, bucket_pairs, bucket_runs, time_buckets
from dedup.minhash import estimate_jaccard
from schemas.records import Edge
from transforms.joins import AttachToPairs
from transforms.metrics import NAMESPACE

PROFILES = "profiles"


# Band entries are shuffled in blocks keyed by (tier, time bucket, shard of the band hash): a few
# large elements instead of one per node and band, each node's key and payload carried once per
# block rather than once per band, and no key holds more than 1/shards of a time bucket. Without a
# time horizon everything is in one time bucket: BAND_SHARDS keys, never one for the whole corpus.
BAND_SHARDS = 8
BATCH_MIN, BATCH_MAX = 64, 2048


class _BandBlocks(beam.DoFn):
    """A batch of (key, TierNode) -> ((tier, time bucket, shard), block) for every bucket and shard.

    An item near the end of its time bucket also visits the next one (`dedup.lsh.time_buckets`).
    A block lists its nodes once: keys, times, whether the block's time bucket is their home and,
    with `pack`, their payloads packed into bytes (plain bytes cost the shuffle a copy, where a
    pickled node would cost it a pickling); then its entries: band hash, band and node index.
    """

    def __init__(self, tier: str, bands: int, rows: int, horizon_s: float | None, shards: int,
                 pack: Callable[[Any], bytes] | None = None):
        self.tier, self.bands, self.rows, self.horizon_s = tier, bands, rows, horizon_s
        self.shards, self.pack = shards, pack

    def process(self, batch):
        all_keys, has_keys = band_keys(np.stack([node.signature for _, node in batch]), self.bands, self.rows)
        kept = np.flatnonzero(has_keys).tolist()  # empty sets have no band keys
        if not kept:
            return
        keys = [batch[i][0] for i in kept]
        ts = np.array([batch[i][1].ts for i in kept], dtype=np.float64)
        payloads = [self.pack(batch[i][1].payload) for i in kept] if self.pack else None
        home, visits = time_buckets(ts, self.horizon_s)
        visitors = np.flatnonzero(visits)
        copy_node = np.concatenate((np.arange(len(keys)), visitors))
        copy_bucket = np.concatenate((home, home[visitors] + 1))
        entry_copy = np.repeat(np.arange(len(copy_node)), self.bands)
        entry_band = np.tile(np.arange(self.bands, dtype=np.int64), len(copy_node))
        entry_hash = all_keys[kept][copy_node].ravel()
        entry_shard = (entry_hash % np.uint64(self.shards)).astype(np.int64)
        entry_bucket = copy_bucket[entry_copy]
        order = np.lexsort((entry_shard, entry_bucket))
        block_key = entry_bucket[order] * self.shards + entry_shard[order]
        starts = np.concatenate(([0], np.flatnonzero(block_key[1:] != block_key[:-1]) + 1))
        for entries in np.split(order, starts[1:]):
            copies, local = np.unique(entry_copy[entries], return_inverse=True)
            nodes = copy_node[copies].tolist()
            bucket = int(entry_bucket[entries[0]])
            yield (self.tier, bucket, int(entry_shard[entries[0]])), (
                entry_hash[entries], entry_band[entries], local.astype(np.int32),
                [keys[i] for i in nodes], ts[copy_node[copies]], (home[copy_node[copies]] == bucket).tolist(),
                [payloads[i] for i in nodes] if self.pack else None,
            )


class _Buckets(beam.DoFn):
    """Base of the bucket steps: one shard's blocks -> its LSH buckets' distinct pairs.

    `shard_pairs` finds the buckets with one sort (`dedup.lsh.bucket_runs`) and their pairs in bulk
    (`dedup.lsh.bucket_pairs`). Counts buckets and their entries, the extremes of their sizes (as a
    distribution of two values per shard) and the capped ones.
    """

    def __init__(self, tier: str, horizon_s: float | None, max_bucket_size: int):
        self.horizon_s, self.max_bucket_size = horizon_s, max_bucket_size
        self.capped = Metrics.counter(NAMESPACE, f"{tier}_buckets_capped")
        self.buckets = Metrics.counter(NAMESPACE, f"{tier}_buckets")
        self.entries = Metrics.counter(NAMESPACE, f"{tier}_bucket_entries")
        self.size_extremes = Metrics.distribution(NAMESPACE, f"{tier}_bucket_size_extremes")

    def shard_pairs(self, blocks):
        """-> (keys, payloads, left, right, buckets): the shard's nodes and its pairs as node indices."""
        hashes, bands, nodes, keys, ts, home, payloads = zip(*blocks)
        offsets = np.cumsum([0] + [len(block) for block in keys[:-1]])
        nodes = np.concatenate([block + offset for block, offset in zip(nodes, offsets.tolist())])
        keys = [key for block in keys for key in block]
        payloads = [p for block in payloads for p in block] if payloads[0] is not None else None
        order, starts, lengths = bucket_runs(np.concatenate(hashes), np.concatenate(bands))
        self.buckets.inc(len(starts))
        self.entries.inc(len(order))
        self.size_extremes.update(int(lengths.min()))
        self.size_extremes.update(int(lengths.max()))
        self.capped.inc(int(np.count_nonzero(lengths > self.max_bucket_size)))
        _, rank = np.unique(np.array(keys), return_inverse=True)
        home = np.array([flag for block in home for flag in block], dtype=bool)
        left, right, buckets = bucket_pairs(
            nodes[order], lengths, rank, np.concatenate(ts), home, self.horizon_s, self.max_bucket_size
        )
        return keys, payloads, left, right, buckets


class _BucketPairs(_Buckets):
    """One shard's blocks -> ((a, b), buckets in the shard that formed the pair), a < b."""

    def process(self, element):
        keys, _, left, right, buckets = self.shard_pairs(element[1])
        for i, j, n in zip(left.tolist(), right.tolist(), buckets.tolist()):
            yield (keys[i], keys[j]), n


class _BandShards(beam.PTransform):
    """(key, TierNode) -> ((tier, time bucket, shard), blocks): the band entries of one shard of one time bucket."""

    def __init__(self, tier: str, bands: int, rows: int, horizon_s: float | None, shards: int,
                 pack: Callable[[Any], bytes] | None = None):
        super().__init__()
        self.band_blocks = _BandBlocks(tier, bands, rows, horizon_s, shards, pack)

    def expand(self, nodes):
        return (
            nodes
            | "Batch" >> beam.BatchElements(min_batch_size=BATCH_MIN, max_batch_size=BATCH_MAX)
            | "BandBlocks" >> beam.ParDo(self.band_blocks)
            | "GroupByShard" >> beam.GroupByKey()
        )


class CandidatePairs(beam.PTransform):
    """(key, TierNode) -> ((a, b), bands shared): every pair sharing at least one LSH band.

    Nodes travel in batches: each batch sends one block of band entries per (time bucket, shard
    of the band hash), so the shuffle moves a few large elements, and a `GroupByKey` step sees
    one shard of one time bucket, never the whole corpus. It sorts its entries once to find the buckets
    (`dedup.lsh.bucket_runs`); only buckets with two or more members reach Python. A bucket with more
    than `max_bucket_size` members (shared boilerplate, a hot term) is capped: each member is
    paired only with the bucket's first few members, and the cap is counted.
    """

    def __init__(self, tier: str, bands: int, rows: int, horizon_s: float | None, max_bucket_size: int,
                 shards: int = BAND_SHARDS):
        super().__init__()
        self.tier, self.bands, self.rows = tier, bands, rows
        self.horizon_s, self.max_bucket_size, self.shards = horizon_s, max_bucket_size, shards

    def expand(self, nodes):
        return (
            nodes
            | "BandShards" >> _BandShards(self.tier, self.bands, self.rows, self.horizon_s, self.shards)
            | "PairsInBucket" >> beam.ParDo(_BucketPairs(self.tier, self.horizon_s, self.max_bucket_size))
            | "CountBands" >> beam.CombinePerKey(sum)
        )


# Similarities are rounded to 4 decimals; an unrounded score this far from a bound is on its side either way.
_ROUNDING_MARGIN = 1e-4


def _rounded_below(scores: np.ndarray, threshold: float) -> np.ndarray:
    """round(score, 4) < threshold for every score, Python's rounding only where it can matter."""
    below = scores < threshold
    near = np.flatnonzero(np.abs(scores - threshold) <= _ROUNDING_MARGIN)
    below[near] = [round(x, 4) < threshold for x in scores[near].tolist()]
    return below


class _ScoreShard(_Buckets):
    """One shard's buckets -> for each node with candidates there: (key, (others, similarities, bands,
    rejected)).

    Each distinct pair of the shard is scored once, all of them in one call of the tier's batch
    similarity, and `bands` counts the shard's buckets that formed it. A node's element keeps only the
    candidates that can still matter once its shards are merged (most are rejected and cannot): those
    that may reach the threshold (its edges) and its `k` - 1 most similar (its neighbour profile), each
    bound widened by the rounding margin. `rejected` holds stable hashes of the larger keys it was
    rejected with (uint64 bytes), so that `_Neighbours` counts each rejected pair once however many
    shards scored it.
    """

    def __init__(self, tier: str, horizon_s: float | None, max_bucket_size: int, similarities: Callable,
                 unpack: Callable[[bytes], Any], threshold: float, k: int):
        super().__init__(tier, horizon_s, max_bucket_size)
        self.similarities, self.unpack, self.threshold, self.k = similarities, unpack, threshold, k

    def process(self, element):
        keys, payloads, left, right, buckets = self.shard_pairs(element[1])
        if len(left) == 0:
            return
        scores = self.similarities([self.unpack(p) for p in payloads], left, right)
        rejected = _rounded_below(scores, self.threshold)
        rejected_larger, rejected_node = key_hashes(keys)[right[rejected]], left[rejected]  # at the smaller key
        # Every (node, candidate) entry, each node's best first. Two sorts (1.7x a lexsort): equal scores
        # may come in any order, which nothing downstream depends on (profiles break ties by key).
        pair = np.tile(np.arange(len(left)), 2)
        node, other = np.concatenate((left, right)), np.concatenate((right, left))
        by_score = np.argsort(-scores[pair])
        order = by_score[np.argsort(node[by_score], kind="stable")]
        node, other, pair = node[order], other[order], pair[order]
        score = scores[pair]
        starts = np.flatnonzero(np.diff(node, prepend=-1))
        lengths = np.diff(np.append(starts, len(node)))
        if self.k > 1:
            nth_best = score[starts + np.minimum(lengths, self.k - 1) - 1]
            floor = np.where(lengths > self.k - 1, nth_best, -np.inf) - _ROUNDING_MARGIN
        else:
            floor = np.full(len(starts), np.inf)
        keep = (score >= np.repeat(floor, lengths)) | (score >= self.threshold - _ROUNDING_MARGIN)
        kept_node, kept_other, kept_pair = node[keep], other[keep].tolist(), pair[keep]
        kept_scores = [round(x, 4) for x in scores[kept_pair].tolist()]
        kept_bands = buckets[kept_pair].tolist()
        nodes = node[starts]
        kept_bounds = np.searchsorted(kept_node, np.append(nodes, len(keys))).tolist()
        rejected_order = np.argsort(rejected_node, kind="stable")
        rejected_larger, rejected_node = rejected_larger[rejected_order], rejected_node[rejected_order]
        rejected_bounds = np.searchsorted(rejected_node, np.append(nodes, len(keys))).tolist()
        for i, n in enumerate(nodes.tolist()):
            a, b = kept_bounds[i], kept_bounds[i + 1]
            yield keys[n], (
                [keys[o] for o in kept_other[a:b]], kept_scores[a:b], kept_bands[a:b],
                rejected_larger[rejected_bounds[i]:rejected_bounds[i + 1]].tobytes(),
            )


class _Neighbours(beam.DoFn):
    """One node's scored candidates -> (key, larger key, bands, similarity) for each verified pair
    (main), and the node's neighbour profile.

    A pair's `bands` is the sum over the shards it was met in. Each pair is counted (verified
    or rejected) at its smaller key only, once however many shards scored it.
    """

    def __init__(self, tier: str, threshold: float, k: int):
        self.tier, self.threshold, self.k = tier, threshold, k
        self.verified = Metrics.counter(NAMESPACE, f"{tier}_pairs_verified")
        self.rejected = Metrics.counter(NAMESPACE, f"{tier}_pairs_rejected")

    def process(self, element):
        key, per_shard = element
        parts = list(per_shard)
        if len(parts) == 1:  # met in one shard: its candidates are distinct already
            others, scores, counts, rejected = parts[0]
            candidates = list(zip(others, scores, counts))
            self.rejected.inc(len(rejected) // 8)
        else:
            merged: dict[str, tuple[float, int]] = {}
            for others, scores, counts, _ in parts:
                for other, similarity, n in zip(others, scores, counts):
                    found = merged.get(other)
                    merged[other] = (similarity, n + found[1]) if found else (similarity, n)
            candidates = [(other, similarity, n) for other, (similarity, n) in merged.items()]
            rejected = np.unique(np.frombuffer(b"".join(part[3] for part in parts), dtype=np.uint64))
            self.rejected.inc(len(rejected))
        verified = sorted(c for c in candidates if c[0] > key and c[1] >= self.threshold)
        for other, similarity, n in verified:
            yield key, other, n, similarity
        self.verified.inc(len(verified))
        if self.k > 0:
            profile = neighbour_profile(key, ((other, similarity) for other, similarity, _ in candidates), self.k)
            yield beam.pvalue.TaggedOutput(PROFILES, (key, profile))


def _edge(tier: str):
    def make(element):
        a, signature_a, b, signature_b, (bands, similarity) = element
        estimated = round(estimate_jaccard(signature_a, signature_b), 4)
        return Edge(tier, a, b, bands, estimated, similarity)

    return make


class ScoredNeighbours(beam.PTransform):
    """(key, TierNode) -> `Edge`s reaching `threshold` (main) and, with k > 0, neighbour profiles.

    Each node travels with its band keys, so a shard scores its own pairs (`similarities`, the
    tier's similarity of many pairs at once: (payloads, left indices, right indices) -> scores,
    once per pair and shard) and no pair list is joined back to the nodes. One `GroupByKey` by
    node then merges a pair's shards and builds each node's k-nearest-neighbour profile from
    all its scored candidates, rejected ones included; of those, only the ones that can reach the
    threshold or the profile leave the shard step. Only the verified pairs (a small share)
    are joined to both signatures, for the MinHash estimate on the edge. Buckets are capped as
    in `CandidatePairs`.

    `shards` trades the size of a bucket step's key against repeated scoring: with a time horizon
    one shard per time bucket scores every pair once; with n shards a pair sharing buckets in
    several of them is scored in each (4.9x the scorings at 8 shards on a generated corpus).
    """

    def __init__(self, tier: str, bands: int, rows: int, horizon_s: float | None, max_bucket_size: int,
                 similarities: Callable, threshold: float, k: int,
                 pack: Callable[[Any], bytes], unpack: Callable[[bytes], Any], shards: int = BAND_SHARDS):
        super().__init__()
        self.tier, self.bands, self.rows = tier, bands, rows
        self.horizon_s, self.max_bucket_size, self.shards = horizon_s, max_bucket_size, shards
        self.similarities, self.threshold, self.k = similarities, threshold, k
        self.pack, self.unpack = pack, unpack

    def expand(self, nodes):
        neighbours = (
            nodes
            | "BandShards" >> _BandShards(self.tier, self.bands, self.rows, self.horizon_s, self.shards, self.pack)
            | "ScoreShard" >> beam.ParDo(_ScoreShard(
                self.tier, self.horizon_s, self.max_bucket_size, self.similarities, self.unpack, self.threshold,
                self.k,
            ))
            | "GroupByNode" >> beam.GroupByKey()
            | "Neighbours" >> beam.ParDo(_Neighbours(self.tier, self.threshold, self.k)).with_outputs(
                PROFILES, main="verified"
            )
        )
        signatures = nodes | "Signatures" >> beam.Map(lambda kv: (kv[0], kv[1].signature))
        signed = (
            neighbours.verified
            | "ByPair" >> beam.Map(lambda v: ((v[0], v[1]), (v[2], v[3])))
            | "AttachSignatures" >> AttachToPairs(signatures)
        )
        edges = signed["pairs"] | "Edges" >> beam.Map(_edge(self.tier))
        return {"edges": edges, PROFILES: neighbours[PROFILES]}
