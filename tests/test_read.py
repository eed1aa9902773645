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
from transforms.read import RANGE_BYTES, InputChanged, ReadJsonLines, ReadLinesAt

LINES = [b'{"a": 1}', "{\"b\": \"caf\u00e9 \u2014 na\u00efve\"}".encode(), b'{"c": "' + b"x" * 300 + b'"}', b"{}"]


@pytest.mark.parametrize("range_bytes", [RANGE_BYTES, 1, 7, 9, 10, 16])
@pytest.mark.parametrize("name", ["in.jsonl", "in.jsonl.gz"])
def test_lines_read_back_by_provenance_are_the_lines_read(tmp_path, name, range_bytes):
    content = LINES[0] + b"\r\n\n" + LINES[1] + b"\n   \n" + LINES[2] + b"\r\n" + LINES[3]  # no final newline
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    with TestPipeline() as p:
        # Small ranges split the plain file inside lines, at line starts and between \r and \n.
        read = p | ReadJsonLines([str(path)], range_bytes)
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


def test_a_file_read_in_ranges_gives_every_line_once_with_its_number_and_offset(tmp_path):
    lines = [b"", b"x", b"", b"yy" * 50, b"  ", b"z" * 7] * 40
    content = b"\n".join(lines)
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    expected, offset = [], 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            expected.append((number, offset, line))
        offset += len(line) + 1
    for range_bytes in (1, 2, 3, 64, 101, len(content) - 1):
        with TestPipeline() as p:
            read = p | f"Read{range_bytes}" >> ReadJsonLines([str(path)], range_bytes)
            assert_that(read.lines | beam.MapTuple(lambda provenance, raw: (provenance.line, provenance.offset, raw)),
                        equal_to(expected))
