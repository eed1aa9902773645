"""Validate raw lines into stories; everything that fails becomes a dead letter with a reason."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.records import DeadLetter
from schemas.validate import parse_line
from transforms.metrics import NAMESPACE
from transforms.read import ReadLinesAt, story_read_back

DEAD = "dead_letters"


class _Parse(beam.DoFn):
    def __init__(self, max_record_bytes: int):
        self.max_record_bytes = max_record_bytes
        self.valid = Metrics.counter(NAMESPACE, "records_valid")

    def process(self, element):
        provenance, raw = element
        result = parse_line(raw, provenance, self.max_record_bytes)
        if isinstance(result, DeadLetter):
            Metrics.counter(NAMESPACE, f"dead_letter_{result.reason}").inc()
            yield beam.pvalue.TaggedOutput(DEAD, result)
        else:
            self.valid.inc()
            yield result


def _source_id(story):
    """WireStory -> ((source, id), (Provenance, uid)): only where the line is crosses the shuffle."""
    return (story.source, story.id), (story.provenance, story.uid)


def _keep_first(element):
    """Of the lines sharing one (source, id), keep the first by (file, line): -> (Provenance, (uid, None))
    for it and (Provenance, (uid, where the kept one is)) for each other one."""
    _, copies = element
    (first, uid), *others = sorted(copies, key=lambda c: (c[0].file, c[0].line))
    yield first, (uid, None)
    for other, _ in others:
        yield other, (uid, f"{first.file}:{first.line}")


def _story_or_duplicate(provenance, raw: bytes, kept):
    """A line read back -> its story, or a `duplicate_id` dead letter where another line was kept."""
    uid, kept_at = kept
    story = story_read_back(provenance, raw, uid)
    if kept_at is None:
        yield story
    else:
        Metrics.counter(NAMESPACE, "dead_letter_duplicate_id").inc()
        yield beam.pvalue.TaggedOutput(
            DEAD, DeadLetter("duplicate_id", f"(source, id) already kept from {kept_at}", provenance, raw.decode("utf-8"))
        )


class ParseStories(beam.PTransform):
    """(Provenance, bytes) -> `WireStory` and `dead_letters` (no duplicate check)."""

    def __init__(self, max_record_bytes: int):
        super().__init__()
        self.max_record_bytes = max_record_bytes

    def expand(self, lines):
        return lines | "Parse" >> beam.ParDo(_Parse(self.max_record_bytes)).with_outputs(DEAD, main="stories")


class ValidateStories(beam.PTransform):
    """(Provenance, bytes) from `ReadJsonLines` -> `WireStory` (main output) and `DeadLetter` (tag
    `dead_letters`).

    Duplicate (source, id) pairs are resolved explicitly: the first occurrence by input file
    path and line number is kept, every other one is dead-lettered as `duplicate_id`.

    Lines are parsed as they are read, and only a valid line's provenance and uid cross the
    shuffle by (source, id): the lines are then read back from the input (`ReadLinesAt`, file order)
    and parsed again, so that no shuffle holds the corpus's lines. A line that no longer holds its
    story fails the run (`InputChanged`).
    """

    def __init__(self, max_record_bytes: int):
        super().__init__()
        self.max_record_bytes = max_record_bytes

    def expand(self, lines):
        parsed = lines | "Parse" >> ParseStories(self.max_record_bytes)
        unique = (
            parsed.stories
            | "KeyBySourceId" >> beam.Map(_source_id)
            | "GroupBySourceId" >> beam.GroupByKey()
            | "KeepFirst" >> beam.FlatMap(_keep_first)
            | "ReadBack" >> ReadLinesAt()
            | "Stories" >> beam.FlatMapTuple(_story_or_duplicate).with_outputs(DEAD, main="stories")
        )
        dead = (parsed.dead_letters, unique.dead_letters) | "AllDeadLetters" >> beam.Flatten()
        return {"stories": unique.stories, DEAD: dead}
