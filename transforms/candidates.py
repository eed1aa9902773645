"""LSH banding as Beam keys, and candidate pairs from each band bucket.

Two ways to turn buckets into scored pairs, chosen by the tier's shape:
- `CandidatePairs` emits distinct key pairs; `VerifyPairs` then joins each endpoint's node to the
  pair. Right for the variant tier: few pairs, large payloads (shingle sets).
- `ScoredNeighbours` carries each node into its buckets and scores the pairs there. Right for
  the story tier: many candidate pairs (a permissive threshold, most of them rejected) over
  small payloads (a top-K term vector), where pair lists and joins would cost more than the nodes.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from dedup.cluster import neighbour_profile
from dedup.lsh import band_hashes, bucket_pairs
from dedup.minhash import estimate_jaccard
from schemas.records import Edge
from transforms.joins import AttachValue
from transforms.metrics import NAMESPACE

PROFILES = "profiles"


# Time buckets span this many horizons: only items within one horizon of the next bucket visit it.
BUCKET_HORIZONS = 2


class _BandKeys(beam.DoFn):
    """(key, TierNode) -> ((tier, band, band hash, time bucket), (key, ts, is_home[, node bytes])).

    With a time horizon H, an item goes to its home bucket floor(ts / 2H) and, when it lies
    within H of the next bucket, to that one as a visitor (half the items, so a quarter fewer
    copies than buckets of width H). Two items within H of each other always share a bucket where
    at least one is home, and only such pairs are formed, so each pair is found once per band.
    With `pack`, the node's payload travels too, packed into bytes: plain bytes cost the shuffle
    a copy, where a pickled node would cost it a pickling per band.
    """

    def __init__(self, tier: str, bands: int, rows: int, horizon_s: float | None,
                 pack: Callable[[Any], bytes] | None = None):
        self.tier, self.bands, self.rows, self.horizon_s = tier, bands, rows, horizon_s
        self.pack = pack

    def process(self, element):
        key, node = element
        if self.horizon_s is None:
            home, visits = 0, False
        else:
            width = BUCKET_HORIZONS * self.horizon_s
            home = math.floor(node.ts / width)
            visits = node.ts + self.horizon_s >= (home + 1) * width
        carried = (self.pack(node.payload),) if self.pack else ()
        for band, band_hash in enumerate(band_hashes(node.signature, self.bands, self.rows)):
            yield (self.tier, band, band_hash, home), (key, node.ts, True) + carried
            if visits:
                yield (self.tier, band, band_hash, home + 1), (key, node.ts, False) + carried


class _Bucket(beam.DoFn):
    """Base of the bucket steps: members sorted by key, size recorded, the cap counted."""

    def __init__(self, tier: str, horizon_s: float | None, max_bucket_size: int):
        self.horizon_s, self.max_bucket_size = horizon_s, max_bucket_size
        self.capped = Metrics.counter(NAMESPACE, f"{tier}_buckets_capped")
        self.bucket_sizes = Metrics.distribution(NAMESPACE, f"{tier}_bucket_size")

    def pairs(self, members):
        members.sort(key=lambda m: m[0])
        self.bucket_sizes.update(len(members))
        if len(members) > self.max_bucket_size:
            self.capped.inc()
        return bucket_pairs([m[:3] for m in members], self.horizon_s, self.max_bucket_size)


class _BucketPairs(_Bucket):
    """Key pairs (a, b), a < b, of one bucket."""

    def process(self, element):
        members = list(element[1])
        for i, j in self.pairs(members):
            yield members[i][0], members[j][0]


class CandidatePairs(beam.PTransform):
    """(key, TierNode) -> ((a, b), bands shared): every pair sharing at least one LSH band.

    Band buckets are `GroupByKey` keys, so no step sees more than one bucket. A bucket with more
    than `max_bucket_size` members (shared boilerplate, a hot term) is capped: each member is
    paired only with the bucket's first few members, and the cap is counted.
    """

    def __init__(self, tier: str, bands: int, rows: int, horizon_s: float | None, max_bucket_size: int):
        super().__init__()
        self.tier, self.bands, self.rows = tier, bands, rows
        self.horizon_s, self.max_bucket_size = horizon_s, max_bucket_size

    def expand(self, nodes):
        return (
            nodes
            | "BandKeys" >> beam.ParDo(_BandKeys(self.tier, self.bands, self.rows, self.horizon_s))
            | "GroupByBand" >> beam.GroupByKey()
            | "PairsInBucket" >> beam.ParDo(_BucketPairs(self.tier, self.horizon_s, self.max_bucket_size))
            | "CountBands" >> beam.combiners.Count.PerElement()
        )


class _ScoreBucket(_Bucket):
    """Both directions of every scored pair of one bucket: (a, (b, similarity))."""

    def __init__(self, tier: str, horizon_s: float | None, max_bucket_size: int, similarity: Callable,
                 unpack: Callable[[bytes], Any]):
        super().__init__(tier, horizon_s, max_bucket_size)
        self.similarity, self.unpack = similarity, unpack

    def process(self, element):
        members = list(element[1])
        payloads: dict[int, Any] = {}

        def payload(i):
            if i not in payloads:
                payloads[i] = self.unpack(members[i][3])
            return payloads[i]

        for i, j in self.pairs(members):
            similarity = round(self.similarity(payload(i), payload(j)), 4)
            a, b = members[i][0], members[j][0]
            yield a, (b, similarity)
            yield b, (a, similarity)


class _Neighbours(beam.DoFn):
    """One node's scored candidates -> (key, larger key, bands, similarity) for each verified pair
    (main), and the node's neighbour profile.

    A pair met in several buckets arrives once per shared band; the count is the edge's `bands`.
    Each pair is counted (verified or rejected) at its smaller key only.
    """

    def __init__(self, tier: str, threshold: float, k: int):
        self.tier, self.threshold, self.k = tier, threshold, k
        self.verified = Metrics.counter(NAMESPACE, f"{tier}_pairs_verified")
        self.rejected = Metrics.counter(NAMESPACE, f"{tier}_pairs_rejected")

    def process(self, element):
        key, scored = element
        bands: Counter[str] = Counter()
        similarities: dict[str, float] = {}
        for other, similarity in scored:
            bands[other] += 1
            similarities[other] = similarity
        for other in sorted(o for o in similarities if o > key):
            if similarities[other] < self.threshold:
                self.rejected.inc()
            else:
                self.verified.inc()
                yield key, other, bands[other], similarities[other]
        if self.k > 0:
            yield beam.pvalue.TaggedOutput(PROFILES, (key, neighbour_profile(key, similarities.items(), self.k)))


def _edge(tier: str):
    def make(element):
        _, signature_b, (a, signature_a, (b, bands, similarity)) = element
        estimated = round(estimate_jaccard(signature_a, signature_b), 4)
        return Edge(tier, a, b, bands, estimated, similarity)

    return make


class ScoredNeighbours(beam.PTransform):
    """(key, TierNode) -> `Edge`s reaching `threshold` (main) and, with k > 0, neighbour profiles.

    Each node travels with its band keys, so a bucket scores its own pairs (the tier's similarity
    and the MinHash estimate) and no pair list is joined back to the nodes. One `GroupByKey` by
    node then removes the duplicates of pairs that share several bands and builds each node's
    k-nearest-neighbour profile from all its scored candidates, rejected ones included. Only the
    verified pairs (a small share) are joined to both signatures, for the MinHash estimate on
    the edge. Buckets are capped as in `CandidatePairs`.
    """

    def __init__(self, tier: str, bands: int, rows: int, horizon_s: float | None, max_bucket_size: int,
                 similarity: Callable, threshold: float, k: int,
                 pack: Callable[[Any], bytes], unpack: Callable[[bytes], Any]):
        super().__init__()
        self.tier, self.bands, self.rows = tier, bands, rows
        self.horizon_s, self.max_bucket_size = horizon_s, max_bucket_size
        self.similarity, self.threshold, self.k = similarity, threshold, k
        self.pack, self.unpack = pack, unpack

    def expand(self, nodes):
        neighbours = (
            nodes
            | "BandKeys" >> beam.ParDo(_BandKeys(self.tier, self.bands, self.rows, self.horizon_s, self.pack))
            | "GroupByBand" >> beam.GroupByKey()
            | "ScoreBucket" >> beam.ParDo(
                _ScoreBucket(self.tier, self.horizon_s, self.max_bucket_size, self.similarity, self.unpack)
            )
            | "GroupByNode" >> beam.GroupByKey()
            | "Neighbours" >> beam.ParDo(_Neighbours(self.tier, self.threshold, self.k)).with_outputs(
                PROFILES, main="verified"
            )
        )
        signatures = nodes | "Signatures" >> beam.Map(lambda kv: (kv[0], kv[1].signature))
        edges = (
            neighbours.verified
            | "KeyByA" >> beam.Map(lambda v: (v[0], v[1:]))
            | "AttachA" >> AttachValue(signatures)
            | "KeyByB" >> beam.Map(lambda v: (v[2][0], (v[0], v[1], v[2])))
            | "AttachB" >> AttachValue(signatures)
            | "Edges" >> beam.Map(_edge(self.tier))
        )
        return {"edges": edges, PROFILES: neighbours[PROFILES]}
