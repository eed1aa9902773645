"""Property-based fuzzing: every input ends as a story variant or a dead letter with a reason.

Example counts follow the hypothesis profile (tests/conftest.py): `ci` by default,
`pytest --hypothesis-profile=deep` for a long session.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.features import SketchConfig, sketch_features, terms_of, variant_shingles
from dedup.merge import Member, story_record
from dedup.text import clean_body, clean_headline, normalize, words
from pipeline.run import run
from schemas.records import DeadLetter, Provenance, WireStory
from schemas.validate import REASONS, parse_line
from tests.helpers import read_jsonl

PROVENANCE = Provenance("fuzz.jsonl", 1)
# A story sketched in the same batch as each fuzzed one: batching must not mix their terms.
OTHER = WireStory("o", "o", "s", "Perez Seen", "Police said Oscar Perez was seen in Caracas. Perez fled.",
                  "2024-01-01T00:00:00Z", 0.0, None, None, None, "en", None, {}, PROVENANCE)
# Every code point class that news feeds have sent us: controls, NUL, surrogates are excluded by
# JSON itself (orjson refuses lone surrogates), bidi, combining, emoji and all scripts are in.
code_points = st.characters(exclude_categories=("Cs",))
any_text = st.text(code_points, max_size=300)
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | any_text
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4), max_leaves=20)
field_values = {
    "id": any_text | json_values,
    "source": st.sampled_from(["AP", "Reuters", "AFP"]) | any_text,
    "headline": any_text | json_values,
    "body": any_text | st.text(max_size=5, alphabet=" \t\n") | json_values,
    "published_at": st.datetimes().map(lambda d: d.isoformat()) | any_text | json_values,
    "url": st.none() | any_text,
    "source_type": st.none() | st.sampled_from(["wire", "online", "blog"]),
}
zoned_timestamps = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.timezones()
).map(lambda d: d.isoformat())
extras = st.dictionaries(any_text, json_values, max_size=3)
# Records of the right shape with hostile text in every field: most of them must be kept.
story_shaped = st.fixed_dictionaries({
    "id": any_text.filter(str.strip), "source": any_text.filter(str.strip), "headline": any_text,
    "body": st.one_of(any_text, st.text(code_points, min_size=1, max_size=5000)).filter(str.strip),
    "published_at": zoned_timestamps,
}, optional={"url": any_text, "byline": any_text, "dateline": any_text, "language": any_text}).flatmap(
    lambda fields: extras.map(lambda extra: {**extra, **fields})
)
# Anything object-shaped: fields missing, of the wrong type, empty, unparseable.
records = st.fixed_dictionaries({}, optional=field_values).flatmap(
    lambda fields: extras.map(lambda extra: {**extra, **fields})
)


def _check_outcome(parsed) -> None:
    assert isinstance(parsed, (WireStory, DeadLetter))
    if isinstance(parsed, DeadLetter):
        assert parsed.reason in REASONS and parsed.detail
        orjson.dumps(parsed.to_json())
        return
    # A kept story must make it all the way to an output line.
    record = story_record([Member(parsed, "g")], [], lambda *_: 1.0)
    assert orjson.loads(orjson.dumps(record))["canonical"]["body"] == parsed.body


@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw):
    _check_outcome(parse_line(raw, PROVENANCE))


@given(story_shaped)
def test_story_shaped_records_with_hostile_text_are_kept_verbatim(record):
    parsed = parse_line(orjson.dumps(record), PROVENANCE)
    _check_outcome(parsed)
    if isinstance(parsed, WireStory):
        assert parsed.published_at.endswith("Z") and parsed.body == record["body"]
        assert parsed.headline == record["headline"] and parsed.id == record["id"]
    else:  # only the range of UTC can refuse a well-formed record (e.g. 0001-01-01 at +01:00)
        assert parsed.reason == "bad_timestamp"


@given(records)
def test_any_json_record_becomes_a_story_or_a_dead_letter(record):
    _check_outcome(parse_line(orjson.dumps(record), PROVENANCE))


@given(json_values)
def test_any_json_value_becomes_a_story_or_a_dead_letter(value):
    _check_outcome(parse_line(orjson.dumps(value), PROVENANCE))


@given(any_text)
def test_normalisation_is_total_and_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once
    for token in words(once):
        assert token and not any(ch.isspace() for ch in token)
    clean_headline(text)
    clean_body(text)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(any_text, st.integers(1, 4))
def test_sketch_features_are_total(text, shingle_size):
    config = SketchConfig(shingle_size=shingle_size)
    story = WireStory("u", "i", "s", text, text or "x", "2024-01-01T00:00:00Z", 0.0, None, None, None, "en",
                      None, {}, PROVENANCE)
    shingles = variant_shingles(story, config)
    assert shingles.dtype == np.uint32 and np.all(np.diff(shingles.astype(np.int64)) > 0)
    terms = terms_of(story, config)
    assert np.all(terms.counts >= 1.0) and np.all(np.diff(terms.hashes.astype(np.int64)) > 0)
    (together_shingles, _), (together_terms, other_terms) = sketch_features([story, OTHER], config)
    assert np.array_equal(together_shingles, shingles) and np.array_equal(together_terms.hashes, terms.hashes)
    assert np.array_equal(together_terms.counts, terms.counts) and np.array_equal(together_terms.proper, terms.proper)
    assert np.array_equal(other_terms.hashes, terms_of(OTHER, config).hashes)


def _hostile_line(draw_from):
    return st.one_of(
        st.binary(min_size=1, max_size=200),
        records.map(orjson.dumps),
        story_shaped.map(orjson.dumps),
        draw_from,
    ).map(lambda raw: raw.replace(b"\n", b" ").replace(b"\r", b" "))


@settings(max_examples=max(3, settings.default.max_examples // 20), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_hostile_line(st.sampled_from([
    orjson.dumps({"id": f"v{i}", "source": "AP", "headline": "Storm hits coast",
                  "body": "A storm hit the coast on Monday, officials said, closing ports and schools. " * 3,
                  "published_at": "2024-03-01T12:00:00Z"}) for i in range(3)
])), min_size=1, max_size=25))
def test_whole_pipeline_accounts_for_every_hostile_line(tmp_path_factory, lines):
    directory = tmp_path_factory.mktemp("fuzz")
    path = directory / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = run(["--input", str(path), "--output", str(directory / "out")])
    variants = [(v["provenance"]["file"], v["provenance"]["line"])
                for r in read_jsonl((directory / "out").glob("stories-*.jsonl")) for v in r["variants"]]
    dead = [(d["file"], d["line_number"]) for d in read_jsonl((directory / "out").glob("dead_letters-*.jsonl"))]
    non_blank = [(str(path), number) for number, line in enumerate(lines, start=1) if line.strip()]
    assert sorted(variants + dead) == non_blank
    assert report["accounting"]["balanced"]
    assert report["accounting"]["records_read"] == len(non_blank)
