"""The Bloom filter joins use to drop values no pair can match before their shuffle."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dedup.keyfilter import FILTER_BITS, key_filter, may_contain, union

keys = st.one_of(st.text(max_size=20), st.integers(), st.tuples(st.text(max_size=5), st.integers()))


@given(st.lists(st.lists(keys, max_size=50), max_size=4))
def test_every_key_put_into_any_part_is_reported_present(parts):
    merged = union(key_filter(part) for part in parts)
    everything = [key for part in parts for key in part]
    assert may_contain(merged, everything).all()
    assert merged.nbytes == FILTER_BITS // 8  # one size however many keys


def test_the_empty_filter_holds_nothing_and_others_are_rarely_taken_for_present():
    assert not may_contain(union([]), ["a", 1, ("b", 2)]).any()
    present = [f"{i:016x}" for i in range(400_000)]
    merged = union([key_filter(present[:150_000]), key_filter(present[150_000:])])
    absent = [f"story-{i}" for i in range(100_000)]
    assert may_contain(merged, absent).mean() < 0.003  # 0.1 % expected at 400,000 keys
