"""Clustering quality metrics: pairwise and B-cubed precision/recall/F1, adjusted Rand index.

Inputs are two dicts item -> cluster label (predicted, gold) over the same items.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from math import comb


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _contingency(pred: Mapping, gold: Mapping) -> tuple[Counter, Counter, Counter]:
    if set(pred) != set(gold):
        raise ValueError("predicted and gold labels must cover the same items")
    cells = Counter((pred[i], gold[i]) for i in gold)
    return cells, Counter(pred.values()), Counter(gold.values())


def pairwise(pred: Mapping[Hashable, Hashable], gold: Mapping[Hashable, Hashable]) -> dict[str, float]:
    """Precision/recall/F1 over item pairs placed in the same cluster."""
    cells, pred_sizes, gold_sizes = _contingency(pred, gold)
    true_pairs = sum(comb(n, 2) for n in cells.values())
    pred_pairs = sum(comb(n, 2) for n in pred_sizes.values())
    gold_pairs = sum(comb(n, 2) for n in gold_sizes.values())
    p = true_pairs / pred_pairs if pred_pairs else 1.0
    r = true_pairs / gold_pairs if gold_pairs else 1.0
    return {"pairwise_precision": p, "pairwise_recall": r, "pairwise_f1": _f1(p, r)}


def bcubed(pred: Mapping[Hashable, Hashable], gold: Mapping[Hashable, Hashable]) -> dict[str, float]:
    """B-cubed (Bagga & Baldwin 1998): per-item precision and recall, averaged over items."""
    cells, pred_sizes, gold_sizes = _contingency(pred, gold)
    n = len(gold)
    p = sum(count * count / pred_sizes[pc] for (pc, _), count in cells.items()) / n
    r = sum(count * count / gold_sizes[gc] for (_, gc), count in cells.items()) / n
    return {"bcubed_precision": p, "bcubed_recall": r, "bcubed_f1": _f1(p, r)}


def adjusted_rand_index(pred: Mapping[Hashable, Hashable], gold: Mapping[Hashable, Hashable]) -> float:
    """Hubert & Arabie's ARI; 1.0 when both partitions are identical (including all singletons)."""
    cells, pred_sizes, gold_sizes = _contingency(pred, gold)
    index = sum(comb(v, 2) for v in cells.values())
    sum_pred = sum(comb(v, 2) for v in pred_sizes.values())
    sum_gold = sum(comb(v, 2) for v in gold_sizes.values())
    expected = sum_pred * sum_gold / comb(len(gold), 2) if len(gold) > 1 else 0.0
    maximum = (sum_pred + sum_gold) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def all_metrics(pred: Mapping, gold: Mapping) -> dict[str, float]:
    scores = {**bcubed(pred, gold), **pairwise(pred, gold), "ari": adjusted_rand_index(pred, gold)}
    scores = {k: round(v, 4) for k, v in scores.items()}
    scores["n_pred"] = len(set(pred.values()))
    scores["n_gold"] = len(set(gold.values()))
    return scores
