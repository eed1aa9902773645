"""Clusters of one tier: connected components of verified edges, then average-link inside each.

Components alone would chain (A~B, B~C puts A with C however unlike they are). Inside each
component every pair is compared with the tier's similarity and average-link clustering keeps a
group together only while its members are alike on average: the chaining guard. Components are
bounded by LSH and verification; one larger than `max_component_size` is cut into consecutive
time windows of that size first, and counted.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from dedup.cluster import average_link_matrix, blended_similarity, time_windows
from transforms.components import ConnectedComponents
from transforms.metrics import NAMESPACE, StageTimer

SIMILARITIES = "similarities"
ALONE = "alone"


class _LinkComponent(beam.DoFn):
    def __init__(self, tier: str, similarity: Callable, threshold: float, max_component_size: int):
        self.similarity, self.threshold, self.max_size = similarity, threshold, max_component_size
        self.split = Metrics.counter(NAMESPACE, f"{tier}_components_split")
        self.sizes = Metrics.distribution(NAMESPACE, f"{tier}_component_size")
        self.timer = StageTimer(f"{tier}_cluster")

    def process(self, element):
        _, members = element
        members = sorted(members, key=lambda m: m[0])
        self.sizes.update(len(members))
        with self.timer():
            if len(members) > self.max_size:
                self.split.inc()
            for window in time_windows([m[1].ts for m in members], self.max_size):
                window.sort()
                yield from self._link([members[i] for i in window])

    def _link(self, members):
        """members: (key, node, neighbour profile or None), sorted by key."""
        n = len(members)
        sim = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                value = self.similarity(members[i][1].payload, members[j][1].payload)
                if members[i][2] is not None:
                    value = blended_similarity(value, members[i][2], members[j][2])
                sim[i, j] = sim[j, i] = value
        for cluster in average_link_matrix(sim, self.threshold):
            label = members[cluster[0]][0]
            for index in cluster:
                yield members[index][0], label
                if len(cluster) > 1:
                    row = {members[other][0]: float(sim[index, other]) for other in cluster if other != index}
                    yield beam.pvalue.TaggedOutput(SIMILARITIES, (members[index][0], row))


class _ToComponent(beam.DoFn):
    """(key, {key, node, component[, profile]}) -> (component, (key, node, profile)) for a node with
    verified edges (main), and (key, key) for one without (`alone`): its own cluster, with nothing to
    link it to, so it skips the shuffle by component. Counts the latter as components of size 1."""

    def __init__(self, tier: str):
        self.tier = tier
        self.sizes = Metrics.distribution(NAMESPACE, f"{tier}_component_size")

    def process(self, element):
        key, grouped = element
        labels = list(grouped["component"])
        if not labels:
            for _ in grouped["key"]:  # at most one
                self.sizes.update(1)
                yield beam.pvalue.TaggedOutput(ALONE, (key, key))
            return
        nodes = list(grouped["node"])
        if not nodes:
            raise ValueError(f"{self.tier} node {key!r} has edges but is missing from the nodes")
        if "profile" in grouped:
            profiles = list(grouped["profile"])
            profile = profiles[0] if profiles else {key: 1.0}  # never a candidate: only itself
        else:
            profile = None  # the tier clusters on its direct similarity
        yield labels[0], (key, nodes[0], profile)


class GuardedClusters(beam.PTransform):
    """Edges of one tier -> `labels`: (key, cluster label) for every key in `keys`, and `similarities`:
    (key, {other member's key: similarity}) for every node in a cluster of two or more, the similarities
    average-link used (the tier's own, or blended where profiles are given).

    `nodes` (key, TierNode) must hold at least every node with an edge: only those are clustered, so
    a tier may pass just its paired nodes (`VerifyPairs`). The label is the smallest key in the
    cluster; keys without edges are their own cluster and skip the shuffle by component, so only the
    nodes of multi-member components reach average-link. Given `profiles` (key -> neighbour profile,
    from `ScoredNeighbours`), average-link runs on a blend of the tier's direct similarity and the
    second-order profile similarity (`blended_similarity`).
    """

    def __init__(self, tier: str, keys, nodes, similarity: Callable, threshold: float, cc_rounds: int,
                 max_component_size: int, profiles=None):
        super().__init__()
        self.tier, self.keys, self.nodes, self.similarity, self.threshold = tier, keys, nodes, similarity, threshold
        self.cc_rounds, self.max_component_size, self.profiles = cc_rounds, max_component_size, profiles

    def expand(self, edges):
        components = (
            edges
            | "EdgeEnds" >> beam.Map(lambda e: (e.a, e.b))
            | "Components" >> ConnectedComponents(self.cc_rounds, self.tier)
        )
        joined = {
            "key": self.keys | "KeyOnly" >> beam.Map(lambda key: (key, None)),
            "node": self.nodes,
            "component": components,
        }
        if self.profiles is not None:
            joined["profile"] = self.profiles
        placed = (
            joined
            | "JoinComponent" >> beam.CoGroupByKey()
            | "ByComponent" >> beam.ParDo(_ToComponent(self.tier)).with_output_types(
                tuple[Any, Any]  # inferred from `process`, the main output's type would include the tagged one
            ).with_outputs(ALONE, main="members")
        )
        clusters = (
            placed.members
            | "GroupComponent" >> beam.GroupByKey()
            | "AverageLink" >> beam.ParDo(
                _LinkComponent(self.tier, self.similarity, self.threshold, self.max_component_size)
            ).with_outputs(SIMILARITIES, main="labels")
        )
        labels = (clusters.labels, placed[ALONE]) | "AllLabels" >> beam.Flatten()
        return {"labels": labels, SIMILARITIES: clusters[SIMILARITIES]}
