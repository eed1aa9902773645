"""Deterministic sorted shards written through sorted runs."""
from __future__ import annotations

import random
import tracemalloc

import apache_beam as beam
import orjson
import xxhash
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.write import WriteSortedShards, _WriteSortedRuns, shard_name


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


def test_pending_lines_take_about_their_length_not_orjsons_buffer(tmp_path):
    write = _WriteSortedRuns(str(tmp_path), "stories", 1, run_bytes=1 << 30)
    write.start_bundle()
    tracemalloc.start()
    try:
        for i in range(200):
            list(write.process((f"st-{i:04d}", orjson.dumps({"i": i, "body": "word " * 1000}))))
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert write.pending_bytes > 200 * 5000
    assert held < 1.5 * write.pending_bytes  # orjson's own buffers are ~10x the line
