"""Deterministic sorted shards written through sorted runs."""
from __future__ import annotations

import random

import apache_beam as beam
import orjson
import xxhash
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.write import WriteSortedShards, shard_name


def test_shards_merged_from_many_runs_hold_their_lines_in_key_order(tmp_path):
    records = [(f"st-{i:04d}\x00{'x' * (i % 7)}", orjson.dumps({"i": i, "pad": "y" * (i % 13)})) for i in range(300)]
    random.Random(7).shuffle(records)
    with TestPipeline() as p:
        _ = p | beam.Create(records) | WriteSortedShards(str(tmp_path), "stories", 3, run_bytes=500)  # ~20 lines a run
    for index in range(3):
        expected = sorted(r for r in records if xxhash.xxh3_64_intdigest(r[0].encode()) % 3 == index)
        assert expected
        assert (tmp_path / shard_name("stories", index, 3)).read_bytes() == b"".join(line + b"\n" for _, line in expected)
    assert len(list(tmp_path.glob(".stories-*.run"))) >= 3 * 4  # several runs merged into each shard
