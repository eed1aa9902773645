"""Counts of what the run wrote, derived from the output data itself (not from metrics).

These are the run report's accounting figures: records read per file, variants written per file,
dead letters per reason and file, stories, variant groups, flags and the story size histogram.
"""
from __future__ import annotations

import apache_beam as beam

SIZE_BINS = (1, 2, 3, 5, 10, 20, 50, 100)


def size_bin(n: int) -> str:
    low = 1
    for high in SIZE_BINS:
        if n <= high:
            return str(high) if low == high else f"{low}-{high}"
        low = high + 1
    return f"{SIZE_BINS[-1] + 1}+"


def _story_counts(record):
    yield ("stories",), 1
    yield ("variant_groups",), record["n_variant_groups"]
    yield ("story_size", size_bin(record["n_variants"])), 1
    for flag in record["flags"]:
        yield ("flag", flag), 1
    for variant in record["variants"]:
        yield ("variants", variant["provenance"]["file"]), 1
        yield ("relation", variant["relation"]), 1


def _dead_letter_counts(dead):
    yield ("dead_letters", dead.reason, dead.provenance.file), 1


class RunSummary(beam.PTransform):
    """Lines read, story records and dead letters -> one list of ((category, ...), count).

    Each kind of count is summed where it is made (Beam lifts the sum into the producing step), so
    a few dozen sums cross the shuffle instead of several counts per story; their categories are
    disjoint, so the sums need no second pass.
    """

    def __init__(self, records, dead_letters):
        super().__init__()
        self.records, self.dead_letters = records, dead_letters

    def expand(self, lines):
        counts = (
            lines | "ReadCounts" >> beam.Map(lambda line: (("read", line[0].file), 1)),
            self.records | "StoryCounts" >> beam.FlatMap(_story_counts),
            self.dead_letters | "DeadLetterCounts" >> beam.FlatMap(_dead_letter_counts),
        )
        sums = [kind | f"Sum{i}" >> beam.CombinePerKey(sum) for i, kind in enumerate(counts)]
        return sums | "AllSums" >> beam.Flatten() | "OneList" >> beam.combiners.ToList()
