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
        path = readable.metadata.path
        number = offset = 0
        try:
            with readable.open() as handle:
                # A compressed file's handle (CompressedFile) cannot be iterated, only read by line.
                for number, raw in enumerate(iter(handle.readline, b""), start=1):
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


class ReadJsonLines(beam.PTransform):
    """Match `patterns` (globs on any Beam filesystem) and read every matched file once.

    Output: a tagged result with `lines` of (Provenance, bytes) and `dead_letters` for files that
    could not be read. Compression is detected from the file extension (.gz, .bz2, ...).
    """

    def __init__(self, patterns: list[str]):
        super().__init__()
        self.patterns = list(patterns)

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            | "DistinctPaths" >> beam.Distinct()
            | "Open" >> fileio.ReadMatches()
            | "Lines" >> beam.ParDo(ReadLinesFn()).with_outputs(ReadLinesFn.DEAD, main="lines")
        )


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
    compressed = CompressionTypes.detect_compression_type(provenance.file) != CompressionTypes.UNCOMPRESSED
    chunk = 0 if compressed else provenance.offset // chunk_bytes
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
