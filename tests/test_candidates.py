"""Candidate generation: pairs from band buckets, and the story tier's in-bucket scoring."""
from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from dedup.cluster import neighbour_profile
from dedup.keyfilter import key_filter
from dedup.lsh import (
    BUCKET_ANCHORS,
    band_hashes,
    band_params,
    bucket_pairs,
    bucket_runs,
    time_buckets,
)
from dedup.minhash import estimate_jaccard, signatures
from dedup.story import StoryVector, cosine, cosines
from pipeline.options import DedupOptions, story_band_shards
from schemas.records import Edge, TierNode
from transforms.candidates import BAND_SHARDS, CandidatePairs, ScoredNeighbours
from transforms.joins import MATCHED, AttachToPairs, _maybe_ends
from transforms.verify import VerifyPairs

HOUR = 3600.0


def _pairs(members, lengths, rank, ts, home, horizon, cap):
    left, right, buckets = bucket_pairs(
        np.array(members, np.int64), np.array(lengths, np.int64), np.array(rank, np.int64),
        np.array(ts, np.float64), np.array(home, bool), horizon, cap,
    )
    return list(zip(left.tolist(), right.tolist(), buckets.tolist()))


def test_bucket_pairs_need_a_home_member_and_the_horizon():
    ts, home = [0.0, 10 * HOUR, 80 * HOUR, 5 * HOUR], [True, False, False, True]
    one_bucket = ([0, 1, 2, 3], [4], [0, 1, 2, 3], ts, home)
    assert _pairs(*one_bucket, 72 * HOUR, 10) == [(0, 1, 1), (0, 3, 1), (1, 3, 1)]
    assert _pairs(*one_bucket, None, 10) == [(0, 1, 1), (0, 2, 1), (0, 3, 1), (1, 3, 1), (2, 3, 1)]


def test_bucket_pairs_are_distinct_ordered_by_rank_and_count_their_buckets():
    # items 0..3 ranked 3, 2, 1, 0; buckets [0, 1, 2] and [2, 1] and [3]: the pair of items 1 and 2
    # is formed in two buckets, singletons form none
    pairs = _pairs([0, 1, 2, 2, 1, 3], [3, 2, 1], [3, 2, 1, 0], [0.0] * 4, [True] * 4, None, 10)
    assert pairs == [(2, 1, 2), (2, 0, 1), (1, 0, 1)]
    assert _pairs([0, 1], [2], [5, 5], [0.0, 0.0], [True, True], None, 10) == []  # equal keys
    assert _pairs([], [], [], [], [], None, 10) == []


def test_oversized_bucket_pairs_only_with_anchors():
    pairs = _pairs(list(range(30)), [30], list(range(30)), [0.0] * 30, [True] * 30, None, 10)
    assert {i for i, _, _ in pairs} == set(range(BUCKET_ANCHORS))
    assert len(pairs) == sum(29 - i for i in range(BUCKET_ANCHORS))


def _bucket_pairs_one_by_one(members, lengths, rank, ts, home, horizon, cap):
    """Reference: every bucket on its own, members sorted by rank, pairs counted in a dict."""
    counts, start = {}, 0
    for length in lengths:
        bucket = sorted(members[start : start + length], key=lambda m: rank[m])
        start += length
        anchors = length if length <= cap else BUCKET_ANCHORS
        for i in range(min(anchors, length)):
            for j in range(i + 1, length):
                a, b = bucket[i], bucket[j]
                if (home[a] or home[b]) and rank[a] != rank[b] and (horizon is None or abs(ts[a] - ts[b]) <= horizon):
                    counts[a, b] = counts.get((a, b), 0) + 1
    return sorted(((a, b, n) for (a, b), n in counts.items()), key=lambda p: (rank[p[0]], rank[p[1]]))


@pytest.mark.parametrize("seed", range(5))
def test_bucket_pairs_equal_pairing_each_bucket_on_its_own(seed):
    rng = np.random.default_rng(seed)
    n = 60
    rank = rng.permutation(n).tolist()
    ts = (rng.integers(0, 200, n) * HOUR).tolist()
    home = (rng.random(n) < 0.7).tolist()
    lengths = rng.integers(1, 25, 40).tolist()
    members = [int(m) for length in lengths for m in rng.choice(n, length, replace=False)]
    for horizon in (72 * HOUR, None):
        expected = _bucket_pairs_one_by_one(members, lengths, rank, ts, home, horizon, 12)
        assert len(expected) > 50 and any(c > 1 for _, _, c in expected)
        assert _pairs(members, lengths, rank, ts, home, horizon, 12) == expected


def test_bucket_runs_group_equal_hash_and_band():
    hashes = np.array([7, 3, 7, 7, 3, 9], dtype=np.uint64)
    bands = np.array([0, 1, 1, 0, 1, 0], dtype=np.int64)
    order, starts, lengths = bucket_runs(hashes, bands)
    runs = [sorted(order[s : s + n].tolist()) for s, n in zip(starts, lengths)]
    assert sorted(runs) == [[0, 3], [1, 4], [2], [5]]
    assert lengths.sum() == len(hashes)
    empty = bucket_runs(np.empty(0, np.uint64), np.empty(0, np.int64))
    assert [len(a) for a in empty] == [0, 0, 0]


def test_time_buckets_visit_the_next_bucket_only_within_one_horizon():
    home, visits = time_buckets(np.array([0.0, 71.0, 72.0, 144.0, 215.0]), 72.0)
    assert home.tolist() == [0, 0, 0, 1, 1] and visits.tolist() == [False, False, True, False, False]
    home, visits = time_buckets(np.array([5.0, 1e9]), None)
    assert home.tolist() == [0, 0] and not visits.any()


def _brute_force_pairs(nodes, bands, rows, horizon):
    """Every pair within the horizon, with the number of bands whose keys are equal."""
    keys = {key: band_hashes(node.signature, bands, rows) for key, node in nodes}
    pairs = {}
    for i, (a, node_a) in enumerate(nodes):
        for b, node_b in nodes[i + 1 :]:
            shared = sum(x == y for x, y in zip(keys[a], keys[b]))
            if shared and abs(node_a.ts - node_b.ts) <= horizon:
                pairs[tuple(sorted((a, b)))] = shared
    return sorted(pairs.items())


def test_candidate_pairs_equal_brute_force_band_matching():
    """Blocks, shards and time buckets find every pair within the horizon once per shared band."""
    nodes = _random_story_nodes(300, seed=11)
    bands, rows = band_params(0.05, 128)
    expected = _brute_force_pairs(nodes, bands, rows, 72 * HOUR)
    assert len(expected) > 100 and any(n > 1 for _, n in expected)
    with TestPipeline() as p:
        pairs = p | beam.Create(nodes) | CandidatePairs("story", bands, rows, 72 * HOUR, len(nodes))
        assert_that(pairs, equal_to(expected))


def test_cosines_of_many_pairs_equal_cosine_of_each():
    rng = np.random.default_rng(7)
    vectors = [node.payload for _, node in _random_story_nodes(50, seed=9)]
    vectors.append(StoryVector(np.empty(0, np.uint32), np.empty(0, np.float32)))  # an empty story
    left, right = rng.integers(0, len(vectors), 3000), rng.integers(0, len(vectors), 3000)
    left[:5] = right[:5] = len(vectors) - 1
    expected = [cosine(vectors[a], vectors[b]) for a, b in zip(left.tolist(), right.tolist())]
    assert np.allclose(cosines(vectors, left, right), expected, rtol=0, atol=1e-12)
    assert len(cosines(vectors, left[:0], right[:0])) == 0


def test_story_vector_bytes_round_trip():
    vector = StoryVector(np.array([3, 9, 70000], dtype=np.uint32), np.array([0.5, 0.25, 0.125], dtype=np.float32))
    back = StoryVector.from_bytes(vector.to_bytes())
    assert np.array_equal(back.hashes, vector.hashes) and back.hashes.dtype == np.uint32
    assert np.array_equal(back.weights, vector.weights) and back.weights.dtype == np.float32
    empty = StoryVector.from_bytes(StoryVector(np.empty(0, np.uint32), np.empty(0, np.float32)).to_bytes())
    assert len(empty.hashes) == len(empty.weights) == 0


def _random_story_nodes(n: int, seed: int) -> list[tuple[str, TierNode]]:
    """Term vectors over a small shared vocabulary (many random candidates), spread over 10 days."""
    rng = np.random.default_rng(seed)
    nodes = []
    for i in range(n):
        hashes = np.unique(rng.integers(0, 400, rng.integers(5, 40)).astype(np.uint32) * np.uint32(2654435761))
        weights = rng.random(len(hashes)).astype(np.float32)
        weights /= np.float32(np.linalg.norm(weights))
        signature = signatures([hashes], 128, 1)[0]
        nodes.append((f"n{i:04d}", TierNode(float(rng.integers(0, 240)) * HOUR, signature, StoryVector(hashes, weights))))
    return nodes


@pytest.mark.parametrize("shards", [1, 8])
def test_scored_neighbours_equal_candidate_pairs_then_verification(shards):
    """In-bucket scoring finds the same edges (bands, estimate, similarity) as pairs + joins, and
    each profile is built from all of the node's scored candidates, rejected ones included,
    however the bucket step is sharded."""
    nodes = _random_story_nodes(120, seed=3)
    bands, rows = band_params(0.05, 128)
    horizon, cap, threshold, k = 72 * HOUR, 8, 0.12, 4
    with TestPipeline() as p:
        expected_edges = (
            p
            | "Nodes" >> beam.Create(nodes)
            | CandidatePairs("story", bands, rows, horizon, cap)
            | VerifyPairs("story", p | "NodesAgain" >> beam.Create(nodes), cosine, threshold)
        )["edges"]
        scored = p | "NodesThird" >> beam.Create(nodes) | ScoredNeighbours(
            "story", bands, rows, horizon, cap, cosines, threshold, k, StoryVector.to_bytes, StoryVector.from_bytes,
            shards,
        )
        expected_profiles = (
            p
            | "NodesFourth" >> beam.Create(nodes)
            | "AllPairs" >> CandidatePairs("story", bands, rows, horizon, cap)
            | beam.FlatMap(_both_directions_scored, dict(nodes))
            | beam.GroupByKey()
            | beam.MapTuple(lambda key, scored: (key, neighbour_profile(key, scored, k)))
        )
        _assert_agree(scored["edges"], expected_edges, lambda e: (e.a, e.b), "edges", at_least=5)
        _assert_agree(scored["profiles"], expected_profiles, lambda kv: kv[0], "profiles", at_least=20)


@pytest.mark.parametrize("shards", [1, 8])
def test_scored_neighbours_count_each_candidate_pair_once_however_sharded(shards):
    """Only the candidates that can matter leave the shard step, yet verified + rejected counts every
    distinct candidate pair exactly once, where several shards scored it too."""
    nodes = _random_story_nodes(150, seed=4)
    payload = dict(nodes)
    bands, rows = band_params(0.05, 128)
    horizon, threshold = 72 * HOUR, 0.12
    expected = [pair for pair, _ in _brute_force_pairs(nodes, bands, rows, horizon)]
    p = TestPipeline()
    (p | beam.Create(nodes) | ScoredNeighbours(
        "story", bands, rows, horizon, len(nodes), cosines, threshold, 4, StoryVector.to_bytes,
        StoryVector.from_bytes, shards,
    ))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    verified = sum(round(cosine(payload[a].payload, payload[b].payload), 4) >= threshold for a, b in expected)
    assert 0 < verified < len(expected) / 2
    assert counters["story_pairs_verified"] == verified
    assert counters["story_pairs_rejected"] == len(expected) - verified


def _assert_agree(got, expected, key, label, at_least):
    """Both collections hold the same values under the same keys (and at least `at_least` of them)."""
    agree = (
        (got | f"Got{label}" >> beam.Map(lambda v: (key(v), v)),
         expected | f"Expected{label}" >> beam.Map(lambda v: (key(v), v)))
        | f"Both{label}" >> beam.Flatten()
        | f"Group{label}" >> beam.GroupByKey()
        | f"Agree{label}" >> beam.MapTuple(lambda _, values: len(values) == 2 and values[0] == values[1])
        | f"Count{label}" >> beam.combiners.Count.PerElement()
    )

    def check(counts):
        assert len(counts) == 1 and counts[0][0] is True and counts[0][1] >= at_least, counts

    assert_that(agree, check, label=label)


def _both_directions_scored(pair, nodes):
    (a, b), _ = pair
    similarity = round(cosine(nodes[a].payload, nodes[b].payload), 4)
    yield a, (b, similarity)
    yield b, (a, similarity)


def test_scored_edges_carry_the_minhash_estimate():
    nodes = _random_story_nodes(40, seed=5)
    signature = {key: node.signature for key, node in nodes}
    with TestPipeline() as p:
        edges = p | beam.Create(nodes) | ScoredNeighbours(
            "story", 32, 1, None, 100, cosines, 0.0, 0, StoryVector.to_bytes, StoryVector.from_bytes
        )
        assert_that(
            edges["edges"] | beam.Map(lambda e: (isinstance(e, Edge), e.estimated == round(
                estimate_jaccard(signature[e.a], signature[e.b]), 4), e.a < e.b)) | beam.Distinct(),
            equal_to([(True, True, True)]),
        )


def test_story_band_shards_default_to_one_per_time_bucket_and_never_one_for_everything():
    def shards(*args):
        return story_band_shards(PipelineOptions(list(args)).view_as(DedupOptions))

    assert shards() == 1
    assert shards("--horizon_hours", "0") == BAND_SHARDS  # one time bucket: keep the corpus split
    assert shards("--story_band_shards", "4") == 4


def test_attach_to_pairs_brings_both_values_and_drops_pairs_missing_one():
    values = [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]
    pairs = [(("a", "b"), "ab"), (("c", "a"), "ca"), (("a", "x"), "ax"), (("b", "c"), "bc"), (("e", "y"), "ey")]
    with TestPipeline() as p:
        joined = p | "Pairs" >> beam.Create(pairs) | AttachToPairs(p | "Values" >> beam.Create(values))
        assert_that(
            joined["pairs"], equal_to([("a", 1, "b", 2, "ab"), ("c", 3, "a", 1, "ca"), ("b", 2, "c", 3, "bc")])
        )
        # Each key at the end of some pair, once, even where its pair was dropped (e); d is in none.
        assert_that(
            joined[MATCHED], equal_to([("a", 1), ("b", 2), ("c", 3), ("e", 5)]), label="CheckMatched"
        )


def test_a_value_whose_key_ends_no_pair_is_dropped_before_the_join_shuffle():
    ends = [f"end{i}" for i in range(100)]
    values = [(key, key.upper()) for key in ends] + [(f"other{i}", "x") for i in range(10_000)]
    kept = list(_maybe_ends(values, key_filter(ends)))
    assert [kv for kv in kept if kv[0].startswith("end")] == [(key, key.upper()) for key in ends]
    assert len(kept) < 100 + 10  # the rest dropped, bar the filter's rare false positives
