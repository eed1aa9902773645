import dataclasses

from dedup.merge import (
    Member,
    canonical_order,
    differences,
    story_record,
    with_canonical_body,
)
from tests.helpers import wire_story


def _order(stories, *policy):
    return [m.story for m in canonical_order([Member(s, "g") for s in stories], *policy)]


def test_policy_prefers_wire_then_earliest_then_completeness():
    wire_late = wire_story("w", "AP", source_type="wire", published_at="2018-01-16T12:00:00Z")
    paper_early = wire_story("p", "Paper", source_type="newspaper", published_at="2018-01-16T08:00:00Z")
    unknown = wire_story("u", "Blog", published_at="2018-01-16T07:00:00Z")
    assert [s.id for s in _order([paper_early, unknown, wire_late])] == ["w", "p", "u"]
    assert [s.id for s in _order([paper_early, unknown, wire_late], ["earliest"])] == ["u", "p", "w"]


def test_completeness_then_uid_breaks_ties():
    bare = wire_story("a", "X")
    full = wire_story("b", "Y", byline="By Jane", dateline="PARIS", url="https://x.example/b")
    assert _order([bare, full])[0] is full
    twins = [wire_story("c", "Z"), wire_story("d", "Z")]
    assert _order(twins) == _order(list(reversed(twins)))


def test_differences_report_headline_byline_dateline_and_length():
    canonical = wire_story("a", "AP", headline="Quake hits Chile", body="one two three four", byline="By AP")
    variant = wire_story("b", "Paper", headline="UPDATE 1-Quake hits Chile", body="one two", byline="By Staff")
    assert differences(Member(variant, "g"), Member(canonical, "g")) == {
        "headline": False, "byline": True, "dateline": False, "length_ratio": 0.5,
    }


def test_story_record_fields_and_relations():
    a = wire_story("a", "AP", source_type="wire", published_at="2018-01-16T12:00:00Z")
    b = wire_story("b", "Paper", published_at="2018-01-16T10:00:00Z")
    c = wire_story("c", "Other", published_at="2018-01-17T10:00:00Z")
    members = [Member(a, "g1"), Member(b, "g1"), Member(c, "g2")]
    record = story_record(members, [], lambda v, c_, same: 0.8 if same else 0.3, max_variants=2)
    assert record["canonical"]["id"] == "a"
    assert record["story_id"] == f"st-{b.uid}"  # from the earliest member: stable as the story grows
    assert [(v["id"], v["relation"], v["similarity"]) for v in record["variants"]] == [
        ("a", "canonical", 1.0), ("b", "reprint", 0.8), ("c", "rewrite", 0.3)
    ]
    assert record["sources"] == ["AP", "Other", "Paper"]
    assert record["n_variants"] == 3 and record["n_variant_groups"] == 2
    assert record["first_seen"] == "2018-01-16T10:00:00Z" and record["last_updated"] == "2018-01-17T10:00:00Z"
    assert record["flags"] == ["too_many_variants"]
    assert record["variants"][1]["provenance"] == {"file": "test.jsonl", "line": 1}


def test_record_from_bodiless_members_equals_record_from_whole_ones():
    stories = [
        wire_story("a", "AP", body="one two three four five", published_at="2018-01-16T12:00:00Z"),
        wire_story("b", "Paper", body="one two three", byline="By Staff", published_at="2018-01-16T10:00:00Z"),
        wire_story("c", "Other", body="one two three four five six seven", published_at="2018-01-16T11:00:00Z"),
    ]
    whole = [Member(s, "g1" if s.id != "c" else "g2") for s in stories]
    bodiless = [
        Member(dataclasses.replace(m.story, body=""), m.variant_group, m.body_chars, m.body_words) for m in whole
    ]
    body_of = {s.uid: s.body for s in stories}
    for policy in (("earliest",), ("completeness",), ("longest",)):
        expected = story_record(whole, [], lambda *_: 0.5, policy)
        record = story_record(bodiless, [], lambda *_: 0.5, policy)
        assert record["canonical"]["body"] == ""
        assert with_canonical_body(record, body_of[record["canonical"]["uid"]]) == expected
    assert expected["canonical"]["id"] == "c"  # the longest body
    assert [v["differs"]["length_ratio"] for v in expected["variants"][1:]] == [0.4286, 0.7143]
