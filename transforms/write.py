"""Deterministic JSONL shards: the same records give byte-identical files on any runner.

Records are assigned to shards by a stable hash of their sort key and sorted inside each shard,
so neither bundle order nor worker count can change a byte.
"""
from __future__ import annotations

import datetime as dt
import heapq
import struct
import uuid

import apache_beam as beam
import xxhash
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from transforms.metrics import StageTimer


def shard_name(prefix: str, index: int, num_shards: int) -> str:
    return f"{prefix}-{index:05d}-of-{num_shards:05d}.jsonl"


# A bundle's pending lines are written out as sorted runs once they reach this many bytes.
RUN_BYTES = 64 << 20
_RUN_HEADER = struct.Struct("<II")


def _write_run(path: str, lines) -> None:
    with FileSystems.create(path) as handle:
        for key, line in lines:
            key = key.encode()
            handle.write(_RUN_HEADER.pack(len(key), len(line)) + key + line)


def _read_run(path: str):
    with FileSystems.open(path) as handle:
        while header := handle.read(_RUN_HEADER.size):
            key_size, line_size = _RUN_HEADER.unpack(header)
            yield handle.read(key_size).decode(), handle.read(line_size)


class _WriteSortedRuns(beam.DoFn):
    """(sort key, line) -> (shard, run file): a bundle's lines, sorted per shard, in run files.

    Holds at most about `run_bytes` of lines: then it writes every shard's pending lines out. Run
    files get fresh names, so a retried bundle never overwrites what another attempt may still be
    read from; only the paths a successful attempt emits are merged.
    """

    def __init__(self, directory: str, prefix: str, num_shards: int, run_bytes: int):
        self.directory, self.prefix, self.num_shards, self.run_bytes = directory, prefix, num_shards, run_bytes
        self.timer = StageTimer("write")

    def start_bundle(self):
        self.pending: dict[int, list] = {}
        self.pending_bytes = 0

    def process(self, element):
        key, line = element
        shard = xxhash.xxh3_64_intdigest(key.encode()) % self.num_shards
        # A right-sized copy: orjson (>= 3.12) returns its bytes in a buffer ~10x their length and
        # never shrinks it, so lines held here straight from orjson.dumps would take ~10x run_bytes.
        self.pending.setdefault(shard, []).append((key, bytes(memoryview(line))))
        self.pending_bytes += len(key) + len(line)
        if self.pending_bytes >= self.run_bytes:
            yield from self._flush()

    def finish_bundle(self):
        for run in self._flush():
            yield GlobalWindows.windowed_value(run)

    def _flush(self):
        with self.timer():
            runs = []
            for shard, lines in sorted(self.pending.items()):
                path = FileSystems.join(self.directory, f".{self.prefix}-{shard:05d}-{uuid.uuid4().hex}.run")
                _write_run(path, sorted(lines))
                runs.append((shard, path))
        self.pending, self.pending_bytes = {}, 0
        return runs


class _MergeRuns(beam.DoFn):
    """(shard, run files) -> the shard's file: the runs' lines merged in sort-key order."""

    def __init__(self, directory: str, prefix: str, num_shards: int):
        self.directory, self.prefix, self.num_shards = directory, prefix, num_shards
        self.timer = StageTimer("write")

    def process(self, element):
        index, runs = element
        path = FileSystems.join(self.directory, shard_name(self.prefix, index, self.num_shards))
        # Beam may retry a bundle: rewriting the whole shard from its runs keeps it idempotent.
        with self.timer(), FileSystems.create(path) as handle:
            for _, line in heapq.merge(*(_read_run(run) for run in sorted(runs))):
                handle.write(line)
                handle.write(b"\n")
        yield path


class WriteSortedShards(beam.PTransform):
    """(sort key, JSON line bytes) -> files DIR/PREFIX-SSSSS-of-NNNNN.jsonl; outputs their paths.

    A line goes to the shard a stable hash of its key picks, and each shard holds its lines in
    sort-key order. No step holds a shard: lines are written as sorted runs of at most about
    `run_bytes`, and each shard is then merged from its runs, reading them as a stream (an external
    sort). The run files stay in DIR, for its owner to remove. Shards that receive no line are not
    written here; the driver creates them empty.
    """

    def __init__(self, directory: str, prefix: str, num_shards: int, run_bytes: int = RUN_BYTES):
        super().__init__()
        self.directory, self.prefix, self.num_shards, self.run_bytes = directory, prefix, num_shards, run_bytes

    def expand(self, records):
        return (
            records
            | "WriteRuns" >> beam.ParDo(_WriteSortedRuns(self.directory, self.prefix, self.num_shards, self.run_bytes))
            | "GroupRuns" >> beam.GroupByKey()
            | "MergeRuns" >> beam.ParDo(_MergeRuns(self.directory, self.prefix, self.num_shards))
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
