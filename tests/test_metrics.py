import random

import pytest
from sklearn.metrics import adjusted_rand_score

from dedup.metrics import adjusted_rand_index, all_metrics, bcubed, pairwise

GOLD = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}
PRED = {"a": "x", "b": "x", "c": "y", "d": "y", "e": "z"}


def test_pairwise_by_hand():
    # gold pairs: ab ac bc de (4); predicted pairs: ab cd (2); shared: ab (1)
    scores = pairwise(PRED, GOLD)
    assert scores["pairwise_precision"] == pytest.approx(1 / 2)
    assert scores["pairwise_recall"] == pytest.approx(1 / 4)
    assert scores["pairwise_f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)


def test_bcubed_by_hand():
    # precision per item: a 1, b 1, c 1/2, d 1/2, e 1 -> 4/5
    # recall per item: a 2/3, b 2/3, c 1/3, d 1/2, e 1/2 -> (2/3+2/3+1/3+1/2+1/2)/5 = 8/15
    scores = bcubed(PRED, GOLD)
    assert scores["bcubed_precision"] == pytest.approx(4 / 5)
    assert scores["bcubed_recall"] == pytest.approx(8 / 15)


def test_perfect_and_degenerate_partitions():
    assert all_metrics(GOLD, GOLD)["bcubed_f1"] == 1.0 == all_metrics(GOLD, GOLD)["ari"]
    singletons = {k: k for k in GOLD}
    scores = all_metrics(singletons, GOLD)
    assert scores["bcubed_precision"] == 1.0 and scores["pairwise_recall"] == 0.0
    assert scores["n_pred"] == 5 and scores["n_gold"] == 2


def test_ari_matches_scikit_learn_on_random_partitions():
    rng = random.Random(0)
    for _ in range(20):
        items = range(rng.randrange(5, 60))
        gold = {i: rng.randrange(4) for i in items}
        pred = {i: rng.randrange(6) for i in items}
        expected = adjusted_rand_score([gold[i] for i in items], [pred[i] for i in items])
        assert adjusted_rand_index(pred, gold) == pytest.approx(expected)


def test_labels_must_cover_the_same_items():
    with pytest.raises(ValueError):
        bcubed({"a": 1}, {"b": 1})
