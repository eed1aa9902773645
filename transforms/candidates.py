"""LSH banding as Beam keys, and candidate pairs from each band bucket."""
from __future__ import annotations

import math

import apache_beam as beam
from apache_beam.metrics import Metrics

from dedup.lsh import band_hashes
from transforms.metrics import NAMESPACE

# Members of an oversized bucket are each paired with this many anchors (its first members by
# key) instead of with every other member: linear work, and true near-duplicates still connect.
BUCKET_ANCHORS = 5


def _time_bucket(ts: float, horizon_s: float | None) -> int:
    return 0 if horizon_s is None else math.floor(ts / horizon_s)


class _BandKeys(beam.DoFn):
    """(key, TierNode) -> ((tier, band, band hash, time bucket), (key, ts, is_home)).

    With a time horizon H, an item goes to its home bucket floor(ts / H) and, as a visitor, to
    the next one; two items within H of each other always share a bucket where at least one is
    home, and only such pairs are formed, so each pair is found once per band.
    """

    def __init__(self, tier: str, bands: int, rows: int, horizon_s: float | None):
        self.tier, self.bands, self.rows, self.horizon_s = tier, bands, rows, horizon_s

    def process(self, element):
        key, node = element
        home = _time_bucket(node.ts, self.horizon_s)
        for band, band_hash in enumerate(band_hashes(node.signature, self.bands, self.rows)):
            yield (self.tier, band, band_hash, home), (key, node.ts, True)
            if self.horizon_s is not None:
                yield (self.tier, band, band_hash, home + 1), (key, node.ts, False)


class _BucketPairs(beam.DoFn):
    """Distinct (a, b) pairs (a < b) of one bucket, within the horizon, capped when oversized."""

    def __init__(self, tier: str, horizon_s: float | None, max_bucket_size: int):
        self.horizon_s, self.max_bucket_size = horizon_s, max_bucket_size
        self.capped = Metrics.counter(NAMESPACE, f"{tier}_buckets_capped")
        self.bucket_sizes = Metrics.distribution(NAMESPACE, f"{tier}_bucket_size")

    def _pairable(self, x, y) -> bool:
        if not (x[2] or y[2]) or x[0] == y[0]:
            return False
        return self.horizon_s is None or abs(x[1] - y[1]) <= self.horizon_s

    def process(self, element):
        _, members = element
        members = sorted(members)
        self.bucket_sizes.update(len(members))
        if len(members) > self.max_bucket_size:
            self.capped.inc()
            partners = members[:BUCKET_ANCHORS]
        else:
            partners = members
        for i, x in enumerate(partners):
            for y in members[i + 1 :]:
                if self._pairable(x, y):
                    yield (x[0], y[0]) if x[0] < y[0] else (y[0], x[0])


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
