import random

import numpy as np

import pytest

from dedup.cluster import (
    average_link_matrix,
    blended_similarity,
    large_star,
    neighbour_profile,
    profile_similarity,
    small_star,
    time_windows,
    union_find,
)


def star_components(edges, rounds):
    current = set(edges)
    for _ in range(rounds):
        for step in (large_star, small_star):
            neighbours = {}
            for a, b in current:
                neighbours.setdefault(a, set()).add(b)
                neighbours.setdefault(b, set()).add(a)
            current = {edge for node, ns in neighbours.items() for edge in step(node, ns)}
    labels = {}
    for a, b in current:
        labels[a] = min(labels.get(a, a), b)
        labels[b] = min(labels.get(b, b), a)
    return labels


def test_star_steps_converge_to_the_components_of_random_graphs():
    rng = random.Random(5)
    for _ in range(20):
        nodes = [f"n{rng.randrange(10**6):06d}" for _ in range(60)]
        edges = [tuple(rng.sample(nodes, 2)) for _ in range(rng.randrange(10, 70))]
        assert star_components(edges, rounds=8) == union_find(edges)


def test_a_long_path_converges_in_logarithmic_rounds():
    # A path with sorted ids is the slow case: 8 rounds for 200 nodes (the pipeline resolves any
    # leftover after its configured rounds, see test_pipeline's unconverged test).
    path = [(i, i + 1) for i in range(200)]
    assert set(star_components(path, rounds=8).values()) == {0}
    assert set(star_components(path, rounds=3).values()) != {0}


def test_union_find_labels_by_minimum():
    assert union_find([(3, 4), (4, 1), (7, 8)]) == {1: 1, 3: 1, 4: 1, 7: 7, 8: 7}


def test_average_link_guards_against_chaining():
    # A~B~C~D each 0.9 apart, A and D unrelated: a chain must not become one cluster.
    sim = np.array([
        [0, .9, .4, .0],
        [.9, 0, .9, .1],
        [.4, .9, 0, .9],
        [.0, .1, .9, 0],
    ])
    assert average_link_matrix(sim, 0.5) == [[0, 1], [2, 3]]
    # With consistently high similarity the same items do form one cluster.
    assert average_link_matrix(np.full((4, 4), 0.8), 0.5) == [[0, 1, 2, 3]]


def test_average_link_threshold_and_singletons():
    sim = np.array([[0, .3], [.3, 0]])
    assert average_link_matrix(sim, 0.5) == [[0], [1]]
    assert average_link_matrix(sim, 0.3) == [[0, 1]]


def test_time_windows_are_chronological_and_bounded():
    windows = time_windows([5.0, 1.0, 3.0, 2.0, 4.0], 2)
    assert windows == [[1, 3], [2, 4], [0]]


def test_neighbour_profile_keeps_itself_and_the_k_minus_1_nearest():
    scored = [("b", 0.5), ("c", 0.2), ("d", 0.4), ("b", 0.3), ("a", 0.9)]
    assert neighbour_profile("a", scored, 3) == {"a": 1.0, "b": 0.5, "d": 0.4}
    assert neighbour_profile("z", [], 10) == {"z": 1.0}


def test_profile_similarity_rewards_shared_neighbours():
    p = {"a": 1.0, "n1": 0.6, "n2": 0.5}
    q = {"b": 1.0, "n1": 0.6, "n2": 0.5}
    stranger = {"c": 1.0, "m1": 0.6, "m2": 0.5}
    assert profile_similarity(p, q) == pytest.approx((0.36 + 0.25) / (1 + 0.36 + 0.25))
    assert profile_similarity(p, stranger) == 0.0
    assert profile_similarity(p, p) == pytest.approx(1.0)
    assert blended_similarity(0.3, p, q) == pytest.approx(0.1 + 2 / 3 * profile_similarity(p, q))
