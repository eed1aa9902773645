import orjson
import pytest

from schemas.records import DeadLetter, Provenance, WireStory
from schemas.validate import REASONS, parse_line, story_uid

GOOD = {
    "id": "ap-1", "source": "AP", "headline": "UPDATE 2-Venezuela rebel cop killed", "body": "CARACAS (AP) - Text.",
    "published_at": "2018-01-16T05:30:00-05:00",
}
WHERE = Provenance("feed.jsonl", 7)


def parse(obj_or_bytes, **kw):
    raw = obj_or_bytes if isinstance(obj_or_bytes, bytes) else orjson.dumps(obj_or_bytes)
    return parse_line(raw, WHERE, **kw)


def test_valid_record_is_normalised_to_utc_and_keeps_unknown_fields():
    story = parse({**GOOD, "cluster": "gold-1", "language": "es", "source_type": "wire"})
    assert isinstance(story, WireStory)
    assert story.published_at == "2018-01-16T10:30:00Z"
    assert story.published_ts == 1516098600.0
    assert story.extra == {"cluster": "gold-1"}
    assert story.language == "es" and story.source_type == "wire"
    assert story.provenance == WHERE
    assert story.uid == story_uid("AP", "ap-1") and len(story.uid) == 16


def test_language_defaults_to_english():
    assert parse(GOOD).language == "en"


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe{}", "invalid_utf8"),
        (b"[1, 2]", "not_an_object"),
        (b'"just a string"', "not_an_object"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "body"}), "missing_field"),
        (orjson.dumps({**GOOD, "headline": None}), "missing_field"),
        (orjson.dumps({**GOOD, "id": 12}), "wrong_type"),
        (orjson.dumps({**GOOD, "url": ["x"]}), "wrong_type"),
        (orjson.dumps({**GOOD, "source": "  "}), "empty_field"),
        (orjson.dumps({**GOOD, "body": " \n\t"}), "empty_body"),
        (orjson.dumps({**GOOD, "published_at": "yesterday"}), "bad_timestamp"),
        (orjson.dumps({**GOOD, "published_at": "2018-01-16T05:30:00"}), "timestamp_without_zone"),
        (orjson.dumps({**GOOD, "published_at": "2018-01-16"}), "timestamp_without_zone"),
        (orjson.dumps({**GOOD, "source_type": "blog"}), "invalid_value"),
    ],
)
def test_bad_lines_become_dead_letters_with_reason(raw, reason):
    result = parse(raw)
    assert isinstance(result, DeadLetter)
    assert result.reason == reason and result.reason in REASONS
    assert result.provenance == WHERE
    assert result.to_json()["line"] == raw.decode("utf-8", "replace")


def test_oversize_is_checked_before_parsing():
    result = parse({**GOOD, "body": "word " * 100}, max_record_bytes=200)
    assert isinstance(result, DeadLetter) and result.reason == "oversize"


def test_uid_is_stable_and_distinguishes_source_from_id():
    assert story_uid("AP", "1") == story_uid("AP", "1")
    assert story_uid("AP", "1") != story_uid("AP1", "")
    assert story_uid("A", "P1") != story_uid("AP", "1")
