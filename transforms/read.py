"""Read JSON-lines files (plain or compressed, any Beam filesystem) line by line with provenance."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from schemas.records import DeadLetter, Provenance
from transforms.metrics import NAMESPACE, Progress


class ReadLinesFn(beam.DoFn):
    """Emit (Provenance, raw line bytes) for each non-blank line of a file.

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
        number = 0
        try:
            with readable.open() as handle:
                # A compressed file's handle (CompressedFile) cannot be iterated, only read by line.
                for number, raw in enumerate(iter(handle.readline, b""), start=1):
                    raw = raw.rstrip(b"\r\n")
                    if not raw.strip():
                        self.blank.inc()
                        continue
                    self.lines.inc()
                    self.progress.tick()
                    yield Provenance(path, number), raw
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
