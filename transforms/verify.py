"""Verify candidate pairs with the tier's exact similarity and keep the evidence."""
from __future__ import annotations

from collections.abc import Callable

import apache_beam as beam
from apache_beam.metrics import Metrics

from dedup.minhash import estimate_jaccard
from schemas.records import Edge
from transforms.joins import MATCHED, AttachToPairs
from transforms.metrics import NAMESPACE


class _Verify(beam.DoFn):
    def __init__(self, tier: str, similarity: Callable, threshold: float):
        self.tier, self.similarity, self.threshold = tier, similarity, threshold
        self.verified = Metrics.counter(NAMESPACE, f"{tier}_pairs_verified")
        self.rejected = Metrics.counter(NAMESPACE, f"{tier}_pairs_rejected")

    def process(self, element):
        a, node_a, b, node_b, bands = element
        similarity = self.similarity(node_a.payload, node_b.payload)
        estimated = estimate_jaccard(node_a.signature, node_b.signature)
        if similarity < self.threshold:
            self.rejected.inc()
        else:
            self.verified.inc()
            yield Edge(self.tier, a, b, int(bands), round(estimated, 4), round(similarity, 4))


class VerifyPairs(beam.PTransform):
    """((a, b), bands) -> `edges`: an `Edge` for each pair whose similarity reaches `threshold`, and
    `paired_nodes`: (key, node) once for every node in at least one pair.

    A join by endpoint brings each endpoint's compact node (signature and payload, never the body)
    to the pair. Pairs below the threshold are counted and dropped. The paired nodes are all that
    clustering the edges needs (`GuardedClusters`), a share of the nodes found in the same join.
    """

    def __init__(self, tier: str, nodes, similarity: Callable, threshold: float):
        super().__init__()
        self.tier, self.nodes, self.similarity, self.threshold = tier, nodes, similarity, threshold

    def expand(self, pairs):
        attached = pairs | "AttachNodes" >> AttachToPairs(self.nodes)
        edges = attached["pairs"] | "Verify" >> beam.ParDo(_Verify(self.tier, self.similarity, self.threshold))
        return {"edges": edges, "paired_nodes": attached[MATCHED]}
