"""Reading input lines with their provenance, and reading them back by it."""
from __future__ import annotations

import gzip

import apache_beam as beam
import orjson
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.helpers import wire_story
from transforms.merge import with_body_read_back
from transforms.read import InputChanged, ReadJsonLines, ReadLinesAt

LINES = [b'{"a": 1}', "{\"b\": \"caf\u00e9 \u2014 na\u00efve\"}".encode(), b'{"c": "' + b"x" * 300 + b'"}', b"{}"]


@pytest.mark.parametrize("name", ["in.jsonl", "in.jsonl.gz"])
def test_lines_read_back_by_provenance_are_the_lines_read(tmp_path, name):
    content = LINES[0] + b"\r\n\n" + LINES[1] + b"\n   \n" + LINES[2] + b"\r\n" + LINES[3]  # no final newline
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    with TestPipeline() as p:
        read = p | ReadJsonLines([str(path)])
        back = (
            read.lines
            | "Request" >> beam.Map(lambda line: (line[0], (line[0].line, line[1])))
            | ReadLinesAt(chunk_bytes=16)  # several chunks per file, some holding no line start
            | "Compare" >> beam.MapTuple(lambda provenance, raw, asked: (provenance.line, asked[1], raw))
        )
        assert_that(back, equal_to([(1, LINES[0], LINES[0]), (3, LINES[1], LINES[1]),
                                    (5, LINES[2], LINES[2]), (6, LINES[3], LINES[3])]))


def test_a_line_read_back_must_still_hold_its_story():
    canonical = wire_story("a1", body="The canonical body.")
    record = orjson.dumps({"story_id": "st-x", "canonical": {"uid": canonical.uid, "body": ""}})
    line = orjson.dumps({"id": "a1", "source": "AP", "headline": "Headline", "body": "The canonical body.",
                         "published_at": "2018-01-16T10:00:00Z"})
    request = (canonical.uid, len(canonical.body), record)
    merged = with_body_read_back(canonical.provenance, line, request)
    assert merged["canonical"] == {"uid": canonical.uid, "body": "The canonical body."}

    edited = line.replace(b"canonical", b"edited")  # the file changed since it was read
    other = orjson.dumps({**orjson.loads(line), "id": "a2"})
    for raw in (edited, other, b"", b"{torn"):
        with pytest.raises(InputChanged):
            with_body_read_back(canonical.provenance, raw, request)
