"""Read JSON-lines files (plain or compressed, any Beam filesystem) line by line with provenance, and
read single lines back by their provenance."""
from __future__ import annotations

import apache_beam as beam
import orjson
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas.records import DeadLetter, Provenance, WireStory
from schemas.validate import Rejected, to_wire_story
from transforms.metrics import NAMESPACE, Progress

# Lines read back are fetched in chunks of this many bytes of a file, one key each. The chunks are
# also what the stage after the read back (parsing and sketching every story) is split by between
# workers: 4 MiB gives a 20 MB file five of them, where 64 MiB left one worker doing all of it.
CHUNK_BYTES = 4 << 20


# Plain files are read in ranges of this many bytes, spread over workers: a 444 MB file read by one
# worker held the other idle for the read's 3 s (100,000 stories; 30 s at a million).
RANGE_BYTES = 32 << 20


class ReadLinesFn(beam.DoFn):
    """Emit (Provenance, raw line bytes) for each non-blank line of a file; the provenance holds the
    line's byte offset, for `ReadLinesAt`.

    A file that cannot be read to its end (e.g. a truncated gzip) yields the lines read so far
    plus one `unreadable_file` dead letter, instead of failing the run.
    """

    DEAD = "dead_letters"

    def __init__(self):
        self.lines = Metrics.counter(NAMESPACE, "lines_read")
        self.blank = Metrics.counter(NAMESPACE, "blank_lines_skipped")
        self.progress = Progress("read", "records")

    def process(self, readable: fileio.ReadableFile):
        return self.read_lines(readable.metadata.path, readable.open)

    def read_lines(self, path: str, open_file, start: int = 0, end: int | None = None, newlines_before: int = 0):
        """The lines of `path` that start in bytes [start, end) (None: to the end of the file), numbered
        after the `newlines_before` start; `open_file()` opens the file."""
        number = newlines_before
        try:
            with open_file() as handle:
                offset = start
                if start > 0:
                    handle.seek(start - 1)
                    if handle.read(1) != b"\n":  # the line under way began in the previous range
                        offset += len(handle.readline())
                        number += 1
                # A compressed file's handle (CompressedFile) cannot be iterated, only read by line.
                while end is None or offset < end:
                    raw = handle.readline()
                    if not raw:
                        break
                    number += 1
                    line_offset, offset = offset, offset + len(raw)
                    raw = raw.rstrip(b"\r\n")
                    if not raw.strip():
                        self.blank.inc()
                        continue
                    self.lines.inc()
                    self.progress.tick()
                    yield Provenance(path, number, line_offset), raw
        except Exception as err:  # noqa: BLE001 - any I/O or decompression failure is a dead letter
            yield beam.pvalue.TaggedOutput(
                self.DEAD,
                DeadLetter("unreadable_file", f"{type(err).__name__}: {err}", Provenance(path, number + 1), ""),
            )


def _compressed(path: str) -> bool:
    return CompressionTypes.detect_compression_type(path) != CompressionTypes.UNCOMPRESSED


def _byte_ranges(file: tuple[str, int], range_bytes: int):
    """(path, size) -> (path, start, end) for each range of a plain file; a compressed file is one range,
    (path, 0, None): its stream can only be read from the start."""
    path, size = file
    if _compressed(path) or size <= range_bytes:
        yield path, 0, None
        return
    for start in range(0, size, range_bytes):
        yield path, start, start + range_bytes


def _newlines(byte_range) -> tuple[tuple[str, int], int]:
    """A range -> ((path, start), the newlines in its bytes)."""
    path, start, end = byte_range
    count = 0
    if end is not None:
        try:
            with FileSystems.open(path) as handle:
                handle.seek(start)
                for _ in range(start, end, CHUNK_BYTES):
                    count += handle.read(min(CHUNK_BYTES, end - handle.tell())).count(b"\n")
        except OSError:
            pass  # its reader meets the error too, and makes it a dead letter
    return (path, start), count


def _newlines_before(counts) -> dict[tuple[str, int], int]:
    """((path, start), newlines) of every range -> (path, start) -> the newlines in the file before it."""
    before, running = {}, {}
    for (path, start), count in sorted(counts):
        before[path, start] = running.get(path, 0)
        running[path] = before[path, start] + count
    return before


class _ReadRange(ReadLinesFn):
    """`ReadLinesFn` for one byte range of a file: (path, start, end) -> its lines, numbered in the file."""

    def process(self, byte_range, newlines_before):
        path, start, end = byte_range
        return self.read_lines(path, lambda: FileSystems.open(path), start, end, newlines_before[path, start])


class ReadJsonLines(beam.PTransform):
    """Match `patterns` (globs on any Beam filesystem) and read every matched file once.

    Output: a tagged result with `lines` of (Provenance, bytes) and `dead_letters` for files that
    could not be read. Compression is detected from the file extension (.gz, .bz2, ...).

    A plain file is read in ranges of `range_bytes`, each by the worker it lands on: a line belongs
    to the range its first byte is in. Line numbers need the newlines before a range, so each range's
    are counted first (a second, cheap pass over the bytes) and handed to the readers as a side input.
    A compressed file is read whole by one worker.
    """

    def __init__(self, patterns: list[str], range_bytes: int = RANGE_BYTES):
        super().__init__()
        self.patterns, self.range_bytes = list(patterns), range_bytes

    def expand(self, pbegin):
        ranges = (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll()
            | "Files" >> beam.Map(lambda metadata: (metadata.path, metadata.size_in_bytes))
            | "DistinctFiles" >> beam.Distinct()
            | "Ranges" >> beam.FlatMap(_byte_ranges, self.range_bytes)
            | "SpreadRanges" >> beam.Reshuffle()
        )
        newlines_before = (
            ranges
            | "CountNewlines" >> beam.Map(_newlines)
            | "AllCounts" >> beam.combiners.ToList()
            | "NewlinesBefore" >> beam.Map(_newlines_before)
        )
        return ranges | "Lines" >> beam.ParDo(
            _ReadRange(), beam.pvalue.AsSingleton(newlines_before)
        ).with_outputs(ReadLinesFn.DEAD, main="lines")


class InputChanged(RuntimeError):
    """A line read back is not the story read from it earlier in the run: its file has changed."""


def story_read_back(provenance: Provenance, raw: bytes, uid: str) -> WireStory:
    """The story on a line read back by `ReadLinesAt`, which was story `uid` when first read."""
    try:
        story = to_wire_story(orjson.loads(raw), provenance)
    except (orjson.JSONDecodeError, Rejected) as err:
        raise InputChanged(f"{provenance.file}:{provenance.line} no longer holds story {uid}: {err}") from err
    if story.uid != uid:
        raise InputChanged(f"{provenance.file}:{provenance.line} no longer holds story {uid}")
    return story


def _chunk(element, chunk_bytes: int):
    provenance, item = element
    chunk = 0 if _compressed(provenance.file) else provenance.offset // chunk_bytes
    return (provenance.file, chunk), (provenance, item)


def _read_chunk(element):
    (path, _), wanted = element
    with FileSystems.open(path) as handle:
        for provenance, item in sorted(wanted, key=lambda w: w[0].offset):
            handle.seek(provenance.offset)
            yield provenance, handle.readline().rstrip(b"\r\n"), item


class ReadLinesAt(beam.PTransform):
    """(Provenance, item) -> (Provenance, raw line, item): read back the line a provenance from
    `ReadJsonLines` points to, by its byte offset.

    Requests are grouped by file and `chunk_bytes` of it, and each group reads its lines in file
    order, so a large file is read back by many workers, and a small one by one reader. A compressed
    file is one group: its stream seeks forward by decompressing. The files must not have changed
    since they were read.
    """

    def __init__(self, chunk_bytes: int = CHUNK_BYTES):
        super().__init__()
        self.chunk_bytes = chunk_bytes

    def expand(self, requests):
        return (
            requests
            | "ByChunk" >> beam.Map(_chunk, self.chunk_bytes)
            | "GroupChunk" >> beam.GroupByKey()
            | "ReadChunk" >> beam.FlatMap(_read_chunk)
        )
