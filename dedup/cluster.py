"""Graph clustering primitives: star steps for distributed connected components, union-find,
and average-link clustering with a threshold (the chaining guard).

Connected components follow Kiveris et al., "Connected Components in MapReduce and Beyond"
(SoCC 2014): alternate large-star and small-star steps over the edge list, each a pure function
of one node and its neighbours, until every component is a star around its minimum node.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Iterable, Iterator, Sequence

import numpy as np


def large_star(node: Hashable, neighbours: Iterable[Hashable]) -> Iterator[tuple]:
    """Connect every larger neighbour of `node` to the minimum of its closed neighbourhood."""
    neighbours = set(neighbours)
    smallest = min(neighbours | {node})
    for other in neighbours:
        if other > node:
            yield (other, smallest)


def small_star(node: Hashable, neighbours: Iterable[Hashable]) -> Iterator[tuple]:
    """Connect `node` and its smaller neighbours to the minimum among them."""
    smaller = {other for other in neighbours if other <= node} | {node}
    smallest = min(smaller)
    for other in smaller:
        if other != smallest:
            yield (other, smallest)


def union_find(pairs: Iterable[tuple[Hashable, Hashable]]) -> dict[Hashable, Hashable]:
    """Map every node in `pairs` to the minimum node of its connected component."""
    parent: dict[Hashable, Hashable] = {}

    def find(x: Hashable) -> Hashable:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return {node: find(node) for node in parent}


def average_link_matrix(sim: np.ndarray, threshold: float) -> list[list[int]]:
    """Average-link agglomerative clustering over a symmetric similarity matrix, stopping below
    `threshold` (the diagonal is ignored).

    Two clusters merge only while the mean similarity over *all* their cross pairs stays at or
    above the threshold, so a chain A~B~C~D cannot pull A and D together unless A and D are
    themselves alike. Deterministic: ties go to the lowest indices. Returns clusters as sorted
    index lists, ordered by their smallest index.
    """
    n = sim.shape[0]
    sim = sim.astype(np.float64, copy=True)
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n)
    members: list[list[int] | None] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    while True:
        flat = int(np.argmax(sim))
        i, j = divmod(flat, n)
        if sim[i, j] < threshold:
            break
        if j < i:
            i, j = j, i
        # Lance-Williams update for average linkage: the merged row is the size-weighted mean.
        merged = (size[i] * sim[i] + size[j] * sim[j]) / (size[i] + size[j])
        merged[~alive] = -np.inf
        merged[i] = merged[j] = -np.inf
        sim[i, :] = merged
        sim[:, i] = merged
        sim[j, :] = -np.inf
        sim[:, j] = -np.inf
        size[i] += size[j]
        members[i] = members[i] + members[j]
        members[j] = None
        alive[j] = False
    clusters = [sorted(m) for m in members if m is not None]
    return sorted(clusters, key=lambda c: c[0])


def neighbour_profile(node: Hashable, scored: Iterable[tuple[Hashable, float]], k: int) -> dict:
    """A node's k-nearest-neighbour profile: itself at 1.0 plus its k-1 most similar neighbours.

    `scored` holds (neighbour, similarity) for every candidate pair the node was scored in,
    rejected ones included, so the profile reflects the node's neighbourhood in the whole corpus,
    not only its cluster candidates. Ties keep the smaller neighbour key.
    """
    best: dict[Hashable, float] = {}
    for other, similarity in scored:
        if other != node and similarity > best.get(other, 0.0):
            best[other] = similarity
    top = heapq.nsmallest(max(k - 1, 0), best.items(), key=lambda item: (-item[1], item[0]))
    return {node: 1.0, **dict(top)}


def profile_similarity(p: dict, q: dict) -> float:
    """Second-order similarity: the cosine of two neighbour profiles.

    Write-ups of one event share their nearest neighbours even when they share few terms with
    each other, while a sibling event (same vocabulary, other names and dates) sits further down
    the lists.
    """
    if len(q) < len(p):
        p, q = q, p
    dot = sum(weight * q.get(key, 0.0) for key, weight in p.items())
    norm = math.sqrt(sum(w * w for w in p.values()) * sum(w * w for w in q.values()))
    return dot / norm if norm else 0.0


PROFILE_WEIGHT = 2 / 3


def blended_similarity(direct: float, p: dict, q: dict) -> float:
    """One third the direct similarity, two thirds the neighbour-profile similarity.

    The second-order part joins write-ups of one event that share few terms; the direct part keeps
    a weak link between two otherwise isolated items (short profiles, small corpora) from joining
    them on second-order evidence alone. The weight was chosen on ecbplus_dev and the sample corpus
    together (EVALUATION.md).
    """
    return (1 - PROFILE_WEIGHT) * direct + PROFILE_WEIGHT * profile_similarity(p, q)


def time_windows(times: Sequence[float], max_size: int) -> list[list[int]]:
    """Split indices into consecutive chunks of at most `max_size` items in time order.

    Used to bound the work on an oversized component: a story cannot span more items than that
    without being cut at a point in time.
    """
    order = sorted(range(len(times)), key=lambda i: (times[i], i))
    return [order[k : k + max_size] for k in range(0, len(order), max_size)]
