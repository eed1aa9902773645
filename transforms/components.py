"""Distributed connected components: alternating large-star / small-star rounds.

Every round is a `GroupByKey` by node, so no step holds more than one node's neighbourhood.
The graph is unrolled to a fixed number of rounds (Beam graphs are static); after them each
node takes the minimum of its closed neighbourhood as its label. A convergence check then looks
for edges whose endpoints still disagree; only those label pairs (none, once converged) are
resolved with a union-find under a single key, and their count is reported.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from dedup.cluster import large_star, small_star, union_find
from transforms.metrics import NAMESPACE


def _both_directions(edge):
    a, b = edge
    yield a, b
    yield b, a


def _star_step(step):
    """The step's edges, each in both directions: what the next round's `GroupByKey` by node needs."""
    def apply(element):
        node, neighbours = element
        for edge in step(node, neighbours):
            yield from _both_directions(edge)

    return apply


def _neighbourhood_label(element):
    node, neighbours = element
    return node, min(set(neighbours) | {node})


def _disagreements(element):
    """For an edge whose endpoint labels differ, the pair of labels that must be merged."""
    _, labels = element
    labels = sorted(set(labels))
    for other in labels[1:]:
        yield labels[0], other


def _relabel(element, fixes):
    node, label = element
    return node, fixes.get(label, label)


class ConnectedComponents(beam.PTransform):
    """(a, b) edges -> (node, component) where component is the component's minimum node."""

    def __init__(self, rounds: int, tier: str):
        super().__init__()
        self.rounds, self.tier = rounds, tier

    def expand(self, edges):
        current = edges | "Directed" >> beam.FlatMap(_both_directions)
        for i in range(self.rounds):
            for name, step in (("Large", large_star), ("Small", small_star)):
                current = (
                    current
                    | f"{name}Group{i}" >> beam.GroupByKey()
                    | f"{name}Star{i}" >> beam.FlatMap(_star_step(step))
                )
        labels = (
            current
            | "FinalGroup" >> beam.GroupByKey()
            | "Label" >> beam.Map(_neighbourhood_label)
        )
        # Convergence check on the original edges: both endpoints must carry the same label.
        unconverged = (
            {"label": labels, "edge": edges | "EdgeByEndpoint" >> beam.FlatMap(lambda e: [(e[0], e), (e[1], e)])}
            | "JoinEdgeLabels" >> beam.CoGroupByKey()
            | "LabelPerEdge" >> beam.FlatMap(
                lambda kv: [(edge, label) for label in kv[1]["label"] for edge in kv[1]["edge"]]
            )
            | "GroupEdge" >> beam.GroupByKey()
            | "Disagreements" >> beam.FlatMap(_disagreements)
        )
        counter = Metrics.counter(NAMESPACE, f"{self.tier}_cc_unconverged_edges")

        def resolve(pairs):
            pairs = list(pairs)
            counter.inc(len(pairs))
            return union_find(pairs)

        fixes = (
            unconverged
            | "AllDisagreements" >> beam.combiners.ToList()
            | "UnionFind" >> beam.Map(resolve)
        )
        return labels | "ApplyFixes" >> beam.Map(_relabel, fixes=beam.pvalue.AsSingleton(fixes))
