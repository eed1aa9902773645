"""Deterministic JSONL shards: the same records give byte-identical files on any runner.

Records are assigned to shards by a stable hash of their sort key and sorted inside each shard,
so neither bundle order nor worker count can change a byte.
"""
from __future__ import annotations

import datetime as dt
import uuid

import apache_beam as beam
import xxhash
from apache_beam.io.filesystems import FileSystems

from transforms.metrics import StageTimer


def shard_name(prefix: str, index: int, num_shards: int) -> str:
    return f"{prefix}-{index:05d}-of-{num_shards:05d}.jsonl"


class _WriteShard(beam.DoFn):
    def __init__(self, directory: str, prefix: str, num_shards: int):
        self.directory, self.prefix, self.num_shards = directory, prefix, num_shards
        self.timer = StageTimer("write")

    def process(self, element):
        index, lines = element
        path = FileSystems.join(self.directory, shard_name(self.prefix, index, self.num_shards))
        with self.timer():
            # Beam may retry a bundle: rewriting the whole shard from scratch keeps it idempotent.
            with FileSystems.create(path) as handle:
                for _, line in sorted(lines):
                    handle.write(line)
                    handle.write(b"\n")
        yield path


class WriteSortedShards(beam.PTransform):
    """(sort key, JSON line bytes) -> files DIR/PREFIX-SSSSS-of-NNNNN.jsonl; outputs their paths.

    Shards that receive no record are not written here; the driver creates them empty.
    """

    def __init__(self, directory: str, prefix: str, num_shards: int):
        super().__init__()
        self.directory, self.prefix, self.num_shards = directory, prefix, num_shards

    def expand(self, records):
        n = self.num_shards
        return (
            records
            | "AssignShard" >> beam.Map(lambda kv: (xxhash.xxh3_64_intdigest(kv[0].encode()) % n, kv))
            | "GroupShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self.directory, self.prefix, n))
        )


class _WriteBundleFile(beam.DoFn):
    """Streams each bundle's lines into one new file, which appears atomically (rename) at bundle end."""

    def __init__(self, directory: str, prefix: str):
        self.directory, self.prefix = directory, prefix

    def start_bundle(self):
        self.handle = self.staged = None

    def process(self, line: bytes):
        if self.handle is None:
            self.staged = FileSystems.join(self.directory, f".{self.prefix}-{uuid.uuid4().hex}.tmp")
            self.handle = FileSystems.create(self.staged)
        self.handle.write(line + b"\n")

    def finish_bundle(self):
        if self.handle is None:
            return
        self.handle.close()
        written = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        final = FileSystems.join(self.directory, f"{self.prefix}-{written}-{uuid.uuid4().hex[:8]}.jsonl")
        FileSystems.rename([self.staged], [final])
        self.handle = self.staged = None


class WriteBundleFiles(beam.PTransform):
    """JSON line bytes -> DIR/PREFIX-<UTC time>-<random>.jsonl, one file per bundle (streaming sink).

    Files appear whole (rename); sorting them by name gives the order they were written in (UTC
    microseconds). Within a story, a higher `version` supersedes a lower one.
    """

    def __init__(self, directory: str, prefix: str):
        super().__init__()
        self.directory, self.prefix = directory, prefix

    def expand(self, lines):
        return lines | "WriteBundles" >> beam.ParDo(_WriteBundleFile(self.directory, self.prefix))
