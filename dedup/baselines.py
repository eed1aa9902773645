"""The baselines our tiers are compared with, on the same labeled data.

- `near_dup_minhash`: what common LLM-data dedup tools do — MinHash over word 5-grams,
  datasketch `MinHashLSH` at one threshold, connected components of the candidates.
- `tfidf_average_link`: the classic story-clustering baseline — TF-IDF cosine (scikit-learn)
  over all pairs within the time horizon, average-link agglomerative clustering. Quadratic.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH

from dedup.cluster import average_link_matrix, union_find
from dedup.shingles import shingle_hashes
from dedup.text import words


def _labels(clusters: list[list[int]]) -> dict[int, int]:
    return {i: k for k, cluster in enumerate(clusters) for i in cluster}


def near_dup_minhash(bodies: Sequence[str], threshold: float = 0.7, k: int = 5, num_perm: int = 128) -> dict[int, int]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sketches = []
    for i, body in enumerate(bodies):
        sketch = MinHash(num_perm=num_perm, hashfunc=int)
        sketch.update_batch(shingle_hashes(words(body), k).tolist())
        lsh.insert(i, sketch)
        sketches.append(sketch)
    pairs = [(i, j) for i, sketch in enumerate(sketches) for j in lsh.query(sketch) if j != i]
    roots = union_find(pairs)
    return {i: roots.get(i, i) for i in range(len(bodies))}


def tfidf_similarities(texts: Sequence[str], times: Sequence[float], horizon_s: float | None) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts)
    sim = (matrix @ matrix.T).toarray()
    if horizon_s is not None:
        t = np.asarray(times)
        sim[np.abs(t[:, None] - t[None, :]) > horizon_s] = 0.0
    return sim


def tfidf_average_link(sim: np.ndarray, threshold: float) -> dict[int, int]:
    return _labels(average_link_matrix(sim, threshold))
