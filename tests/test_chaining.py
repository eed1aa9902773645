"""The chaining guard inside the Beam composite: A~B~C~D where A and D are different events."""

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.records import Edge, TierNode
from transforms.cluster import GuardedClusters

# Two true stories {a1, a2, a3} and {d1, d2, d3}, chained through b and c:
# a* ~ b (0.6), b ~ c (0.6), c ~ d* (0.6); every other cross pair is unrelated.
SIMILAR = {
    frozenset(p): s
    for p, s in [
        (("a1", "a2"), 0.9), (("a1", "a3"), 0.9), (("a2", "a3"), 0.9),
        (("d1", "d2"), 0.9), (("d1", "d3"), 0.9), (("d2", "d3"), 0.9),
        (("a1", "b"), 0.6), (("a2", "b"), 0.6), (("a3", "b"), 0.6),
        (("b", "c"), 0.6),
        (("c", "d1"), 0.6), (("c", "d2"), 0.6), (("c", "d3"), 0.6),
    ]
}


def lookup_similarity(x: str, y: str) -> float:
    return SIMILAR.get(frozenset((x, y)), 0.0)


def test_chain_of_stories_does_not_collapse_and_true_stories_stay_whole():
    keys = ["a1", "a2", "a3", "b", "c", "d1", "d2", "d3", "e", "f"]  # e and f: no edges
    # Only nodes with edges need to be given (a tier passes its paired nodes); every key gets a label.
    nodes = [(k, TierNode(0.0, np.zeros(4, dtype=np.uint32), k)) for k in keys if k not in ("e", "f")]
    edges = [Edge("story", *sorted(pair), 1, s, s) for pair, s in SIMILAR.items()]
    with TestPipeline() as p:
        clusters = p | "Edges" >> beam.Create(edges) | GuardedClusters(
            "story", p | "Keys" >> beam.Create(keys), p | "Nodes" >> beam.Create(nodes), lookup_similarity, threshold=0.5,
            cc_rounds=3, max_component_size=100,
        )
        # One connected component, but a and d never share a cluster: b or c may stay alone or
        # join a neighbour story, never bridge both.
        def check(pairs):
            label = dict(pairs)
            assert len(pairs) == len(label) == len(keys)  # one label per node
            assert label["e"] == "e" and label["f"] == "f"
            assert len({label[k] for k in ("a1", "a2", "a3")}) == 1
            assert len({label[k] for k in ("d1", "d2", "d3")}) == 1
            assert label["a1"] != label["d1"]
            assert label["b"] != label["d1"] and label["c"] != label["a1"]

        assert_that(clusters["labels"] | beam.combiners.ToList(), lambda lists: check(lists[0]))

        # Each member of a cluster of two or more gets its similarity to every other member, and only those.
        def check_similarities(rows, labels):
            members = {}
            for key, label in labels:
                members.setdefault(label, set()).add(key)
            clustered = {k: members[label] - {k} for k, label in labels if len(members[label]) > 1}
            rows = dict(rows)
            assert rows.keys() == clustered.keys() and len(rows) >= 6  # a1-a3 and d1-d3 at least
            for key, row in rows.items():
                assert row == {other: lookup_similarity(key, other) for other in clustered[key]}
            return True

        checked = clusters["similarities"] | "AllSimilarities" >> beam.combiners.ToList() | "Check" >> beam.Map(
            check_similarities, beam.pvalue.AsList(clusters["labels"])
        )
        assert_that(checked, equal_to([True]), label="SimilaritiesOfClusteredMembers")
