"""Small builders shared by the tests."""
from __future__ import annotations

import pathlib

import orjson

from schemas.records import Provenance, WireStory
from schemas.validate import parse_line


def wire_story(id_="x1", source="AP", headline="Headline", body="Some body text here.",
               published_at="2018-01-16T10:00:00Z", line=1, **fields) -> WireStory:
    record = {"id": id_, "source": source, "headline": headline, "body": body, "published_at": published_at}
    record.update(fields)
    parsed = parse_line(orjson.dumps(record), Provenance("test.jsonl", line))
    assert isinstance(parsed, WireStory), parsed
    return parsed


def write_jsonl(path: pathlib.Path, records) -> pathlib.Path:
    path.write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records))
    return path


def read_jsonl(paths) -> list[dict]:
    return [orjson.loads(line) for path in sorted(paths) for line in pathlib.Path(path).read_bytes().splitlines()]
