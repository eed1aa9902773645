"""Validate raw lines into stories; everything that fails becomes a dead letter with a reason."""
from __future__ import annotations

from typing import Any, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.records import DeadLetter
from schemas.validate import parse_line
from transforms.metrics import NAMESPACE

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
            yield raw, result


def _source_id(parsed):
    """(raw line, WireStory) -> ((source, id), (Provenance, raw line)): the shuffle carries the line once."""
    raw, story = parsed
    return (story.source, story.id), (story.provenance, raw)


def _keep_first(element, max_record_bytes: int):
    """Of the lines sharing one (source, id), parse and keep the first by (file, line); reject the rest."""
    _, copies = element
    (provenance, raw), *others = sorted(copies, key=lambda c: (c[0].file, c[0].line))
    yield parse_line(raw, provenance, max_record_bytes)  # valid: it parsed before the shuffle
    where = f"{provenance.file}:{provenance.line}"
    for other, raw in others:
        Metrics.counter(NAMESPACE, "dead_letter_duplicate_id").inc()
        yield beam.pvalue.TaggedOutput(
            DEAD, DeadLetter("duplicate_id", f"(source, id) already kept from {where}", other, raw.decode("utf-8"))
        )


class ParseStories(beam.PTransform):
    """(Provenance, bytes) -> (bytes, WireStory) and `dead_letters` (no duplicate check)."""

    def __init__(self, max_record_bytes: int):
        super().__init__()
        self.max_record_bytes = max_record_bytes

    def expand(self, lines):
        return lines | "Parse" >> beam.ParDo(_Parse(self.max_record_bytes)).with_output_types(
            Tuple[bytes, Any]
        ).with_outputs(DEAD, main="stories")


class ValidateStories(beam.PTransform):
    """(Provenance, bytes) -> `WireStory` (main output) and `DeadLetter` (tag `dead_letters`).

    Duplicate (source, id) pairs are resolved explicitly: the first occurrence by input file
    path and line number is kept, every other one is dead-lettered as `duplicate_id`.
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
            | "KeepFirst" >> beam.FlatMap(_keep_first, self.max_record_bytes).with_outputs(DEAD, main="stories")
        )
        dead = (parsed.dead_letters, unique.dead_letters) | "AllDeadLetters" >> beam.Flatten()
        return {"stories": unique.stories, DEAD: dead}
