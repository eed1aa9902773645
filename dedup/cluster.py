"""Graph clustering primitives: star steps for distributed connected components, union-find,
and average-link clustering with a threshold (the chaining guard).

Connected components follow Kiveris et al., "Connected Components in MapReduce and Beyond"
(SoCC 2014): alternate large-star and small-star steps over the edge list, each a pure function
of one node and its neighbours, until every component is a star around its minimum node.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

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


def average_link(
    n: int, similarity: Callable[[int, int], float], threshold: float
) -> list[list[int]]:
    """Average-link agglomerative clustering of items 0..n-1, stopping below `threshold`.

    Two clusters merge only while the mean similarity over *all* their cross pairs stays at or
    above the threshold, so a chain A~B~C~D cannot pull A and D together unless A and D are
    themselves alike. Deterministic: ties go to the lowest indices. Returns clusters as sorted
    index lists, ordered by their smallest index.
    """
    if n <= 1:
        return [[i] for i in range(n)]
    sim = np.full((n, n), -np.inf)
    for i in range(n):
        for j in range(i + 1, n):
            sim[i, j] = sim[j, i] = similarity(i, j)
    return average_link_matrix(sim, threshold)


def average_link_matrix(sim: np.ndarray, threshold: float) -> list[list[int]]:
    """`average_link` over a precomputed symmetric similarity matrix (diagonal ignored)."""
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


def time_windows(times: Sequence[float], max_size: int) -> list[list[int]]:
    """Split indices into consecutive chunks of at most `max_size` items in time order.

    Used to bound the work on an oversized component: a story cannot span more items than that
    without being cut at a point in time.
    """
    order = sorted(range(len(times)), key=lambda i: (times[i], i))
    return [order[k : k + max_size] for k in range(0, len(order), max_size)]
