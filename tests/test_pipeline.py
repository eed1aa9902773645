"""End-to-end tests of the batch pipeline on the DirectRunner."""
from __future__ import annotations

import copy
import gzip
import pickle

import apache_beam as beam
import numpy as np
import orjson
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from dedup.cluster import union_find
from dedup.features import SketchConfig, variant_shingles
from dedup.lsh import BUCKET_ANCHORS
from dedup.shingles import jaccard
from pipeline.graph import build, group_stories
from pipeline.options import DedupOptions, job_options
from pipeline.run import run
from pipeline.streaming import build_streaming
from schemas.records import Provenance, TierNode
from schemas.validate import parse_line
from tests.conftest import REJECTS, SAMPLE
from tests.helpers import read_jsonl, write_jsonl
from transforms.candidates import CandidatePairs
from transforms.components import ConnectedComponents

SAMPLE_RECORDS = [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines()]
PEREZ = "oscar-perez-shootout"
SEED_IDS = {"gleaner-20180116-perez", "seed-003-perez-killed"}


def check_grouping(records_path, check, extra_args=()):
    """Run the grouping graph in a TestPipeline and `check` its story records with assert_that.

    `check` runs inside the pipeline (on a pickled copy), so it must assert, not collect.
    """
    options = PipelineOptions(["--input", str(records_path), *extra_args])
    with TestPipeline(options=options) as p:
        _, records, _ = group_stories(p, options.view_as(DedupOptions))
        assert_that(records | beam.combiners.ToList(), lambda lists: check(lists[0]))


def story_of(records, doc_id):
    return next(r for r in records if any(v["id"] == doc_id for v in r["variants"]))


def test_two_seeds_form_one_story_and_no_distractor_joins(tmp_path):
    seeds_and_distractors = [
        r for r in SAMPLE_RECORDS if r["cluster"] != PEREZ or r["id"] in SEED_IDS
    ]

    def check(records):
        perez = story_of(records, "gleaner-20180116-perez")
        assert {v["id"] for v in perez["variants"]} == SEED_IDS
        assert perez["n_variants"] == 2 and len(perez["sources"]) == 2
        assert {v["relation"] for v in perez["variants"]} == {"canonical", "rewrite"}
        # Every gold story is exactly one output story: reprints and the hunger-march rewrite
        # join, distractors stay apart.
        assert sorted(sorted(v["extra"]["cluster"] for v in r["variants"]) for r in records) == sorted(
            sorted(r["cluster"] for r in seeds_and_distractors if r["cluster"] == c)
            for c in {r["cluster"] for r in seeds_and_distractors}
        )
        # Reprints of one copy share a variant group.
        texas = story_of(records, "ap-2018-0117-texas")
        assert len({v["variant_group"] for v in texas["variants"]}) == 1
        assert {v["relation"] for v in texas["variants"]} == {"canonical", "reprint"}

    check_grouping(write_jsonl(tmp_path / "in.jsonl", seeds_and_distractors), check)


def test_sample_corpus_groups_match_gold_labels():
    def check(records):
        perez = story_of(records, "gleaner-20180116-perez")
        assert {v["id"] for v in perez["variants"]} == {r["id"] for r in SAMPLE_RECORDS if r["cluster"] == PEREZ}
        assert perez["canonical"]["source"] == "AP"  # wire first under the default policy
        groups = {}
        for variant in perez["variants"]:
            groups.setdefault(variant["extra"]["variant_cluster"], set()).add(variant["variant_group"])
        assert all(len(g) == 1 for g in groups.values())
        assert len({next(iter(g)) for g in groups.values()}) == len(groups)
        assert perez["evidence"]
        for edge in perez["evidence"]:
            assert edge["bands"] >= 1 and 0 <= edge["estimated"] <= 1 and edge["similarity"] > 0

    check_grouping(SAMPLE, check)


def test_gzip_input_is_grouped_and_canonical_bodies_are_read_back_whole(tmp_path):
    path = tmp_path / "sample.jsonl.gz"
    path.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    bodies = {(r["source"], r["id"]): r["body"] for r in SAMPLE_RECORDS}

    def check(records):
        assert sum(r["n_variants"] for r in records) == len(bodies)
        assert all(r["canonical"]["body"] == bodies[r["canonical"]["source"], r["canonical"]["id"]] for r in records)
        assert len(story_of(records, "gleaner-20180116-perez")["variants"]) > 2

    check_grouping(path, check)


def test_bad_records_are_dead_lettered_with_reasons_and_accounted(tmp_path):
    good = SAMPLE_RECORDS[:3]
    bad = [
        b"{broken json",
        b"\xff\xfe not utf-8",
        b"[\"array\"]",
        orjson.dumps({"id": "m1", "source": "X", "body": "no headline", "published_at": "2018-01-16T00:00:00Z"}),
        orjson.dumps({"id": 5, "source": "X", "headline": "h", "body": "b", "published_at": "2018-01-16T00:00:00Z"}),
        orjson.dumps({"id": "e1", "source": "X", "headline": "h", "body": "  ", "published_at": "2018-01-16T00:00:00Z"}),
        orjson.dumps({"id": "t1", "source": "X", "headline": "h", "body": "b", "published_at": "Jan 16"}),
        orjson.dumps({"id": "t2", "source": "X", "headline": "h", "body": "b", "published_at": "2018-01-16T00:00:00"}),
        orjson.dumps({"id": "big", "source": "X", "headline": "h", "body": "w " * 2000, "published_at": "2018-01-16T00:00:00Z"}),
        orjson.dumps({**good[0], "body": "Same (source, id), different body."}),
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", good + bad)
    report = run(["--input", str(path), "--output", str(tmp_path / "out"), "--max_record_bytes", "3000"])
    dead = read_jsonl((tmp_path / "out").glob("dead_letters-*.jsonl"))
    assert sorted(d["reason"] for d in dead) == sorted([
        "malformed_json", "invalid_utf8", "not_an_object", "missing_field", "wrong_type",
        "empty_body", "bad_timestamp", "timestamp_without_zone", "oversize", "duplicate_id",
    ])
    assert all(d["file"] == str(path) and d["line_number"] > 3 for d in dead)
    stories = read_jsonl((tmp_path / "out").glob("stories-*.jsonl"))
    variants = sum(r["n_variants"] for r in stories)
    accounting = report["accounting"]
    assert accounting["records_read"] == 13 == variants + len(dead)
    assert accounting["variants_written"] == variants == 3
    assert accounting["dead_letters"] == len(dead) and accounting["balanced"]
    assert report["dead_letters_by_reason"]["duplicate_id"] == 1
    # Stages that time one element at a time still add up (they did not in whole milliseconds).
    assert all(report["seconds"]["processing_by_stage"][stage] > 0 for stage in ("sketch", "merge", "write"))
    assert orjson.loads((tmp_path / "out" / "report.json").read_bytes()) == report


def _story_bytes(directory):
    return b"".join(p.read_bytes() for p in sorted(directory.glob("stories-*.jsonl")))


def test_output_is_byte_identical_across_reruns_and_direct_runner_modes(tmp_path):
    inputs = ["--input", str(SAMPLE), "--input", str(REJECTS)]
    run([*inputs, "--output", str(tmp_path / "a")])
    run([*inputs, "--output", str(tmp_path / "b")])
    run([*inputs, "--output", str(tmp_path / "c"),
         "--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    first = _story_bytes(tmp_path / "a")
    assert first and first == _story_bytes(tmp_path / "b") == _story_bytes(tmp_path / "c")
    dead = [(tmp_path / d / "dead_letters-00000-of-00001.jsonl").read_bytes() for d in "abc"]
    assert dead[0] and dead[0] == dead[1] == dead[2]


def test_rerun_into_the_same_output_replaces_it(tmp_path):
    out = tmp_path / "out"
    run(["--input", str(SAMPLE), "--output", str(out), "--num_shards", "3"])
    assert len(list(out.glob("stories-*.jsonl"))) == 3
    run(["--input", str(SAMPLE), "--output", str(out)])
    assert [p.name for p in sorted(out.glob("stories-*"))] == ["stories-00000-of-00001.jsonl"]
    assert not list(out.glob(".staging-*"))


def test_connected_components_resolves_what_the_rounds_left():
    edges = [(f"n{i:03d}", f"n{i + 1:03d}") for i in range(40)] + [("x1", "x2")]
    expected = sorted(union_find(edges).items())
    with TestPipeline() as p:
        labels = p | beam.Create(edges) | ConnectedComponents(rounds=1, tier="test")
        assert_that(labels, equal_to(expected))


def test_oversized_buckets_are_capped_to_linear_pairs():
    signature = np.arange(128, dtype=np.uint32)
    nodes = [(f"k{i:03d}", TierNode(0.0, signature, None)) for i in range(60)]
    with TestPipeline() as p:
        pairs = p | beam.Create(nodes) | CandidatePairs("t", bands=1, rows=4, horizon_s=None, max_bucket_size=10)
        count = pairs | beam.combiners.Count.Globally()
        expected = sum(60 - 1 - i for i in range(BUCKET_ANCHORS))
        assert_that(count, equal_to([expected]))


def test_time_horizon_keeps_far_apart_items_from_pairing():
    signature = np.arange(128, dtype=np.uint32)
    hour = 3600.0
    nodes = [("a", TierNode(0.0, signature, None)), ("b", TierNode(70 * hour, signature, None)),
             ("c", TierNode(80 * hour, signature, None)), ("d", TierNode(200 * hour, signature, None))]
    with TestPipeline() as p:
        pairs = p | beam.Create(nodes) | CandidatePairs("t", bands=2, rows=4, horizon_s=72 * hour, max_bucket_size=10)
        assert_that(pairs, equal_to([(("a", "b"), 2), (("b", "c"), 2)]))


@pytest.mark.parametrize("policy", ["earliest", "longest,earliest"])
def test_canonical_policy_option(policy):
    members = [r for r in SAMPLE_RECORDS if r["cluster"] == PEREZ]
    expected = {
        "earliest": "ap-2018-0115-perez",
        "longest,earliest": max(members, key=lambda r: len(r["body"]))["id"],
    }[policy]

    def check(records):
        assert story_of(records, "gleaner-20180116-perez")["canonical"]["id"] == expected

    check_grouping(SAMPLE, check, ["--canonical_policy", policy])


def test_similarity_to_the_canonical_is_what_each_tier_compared():
    config = SketchConfig()
    shingles = {
        (story.source, story.id): variant_shingles(story, config)
        for story in (parse_line(line, Provenance("sample", i), 10**6) for i, line in enumerate(SAMPLE.read_bytes().splitlines()))
    }

    def check(records):
        compared = {"reprint": 0, "rewrite": 0}
        for record in records:
            canonical = next(v for v in record["variants"] if v["relation"] == "canonical")
            story_edges = {(e["a"], e["b"]): e["similarity"] for e in record["evidence"] if e["tier"] == "story"}
            for variant in record["variants"]:
                if variant["relation"] == "reprint":
                    expected = jaccard(shingles[variant["source"], variant["id"]],
                                       shingles[canonical["source"], canonical["id"]])
                    assert variant["similarity"] == round(expected, 4)
                    compared["reprint"] += 1
                elif variant["relation"] == "rewrite":
                    edge = tuple(sorted((variant["variant_group"], canonical["variant_group"])))
                    if edge in story_edges:  # the edge's cosine is between the same two group vectors
                        assert variant["similarity"] == story_edges[edge]
                        compared["rewrite"] += 1
        assert compared["reprint"] > 0 and compared["rewrite"] > 0

    check_grouping(SAMPLE, check)


def test_a_jobs_options_make_each_view_once_and_copies_make_their_own():
    options = job_options(["--input", str(SAMPLE), "--num_perm", "64"])
    view = options.view_as(DedupOptions)
    assert options.view_as(DedupOptions) is view and view.num_perm == 64
    options.view_as(StandardOptions).streaming = True  # through one view, seen by all
    assert options.view_as(StandardOptions).streaming and options.get_all_options()["streaming"]

    for copied in (copy.deepcopy(options), pickle.loads(pickle.dumps(options))):
        assert copied.view_as(DedupOptions) is not view and copied.view_as(DedupOptions).num_perm == 64
        copied.view_as(StandardOptions).streaming = False
        assert copied.view_as(StandardOptions).streaming is False
        assert options.view_as(StandardOptions).streaming  # a copy's values are its own


def test_a_job_skips_beams_type_check_unless_asked_and_both_graphs_pass_it(tmp_path):
    assert not job_options(["--input", str(SAMPLE)]).view_as(TypeOptions).pipeline_type_check
    for argv, build_graph in (
        (["--input", str(SAMPLE)], lambda p, dedup: build(p, dedup, str(tmp_path))),
        (["--input_dir", str(tmp_path), "--output", str(tmp_path)], build_streaming),
    ):
        options = job_options([*argv, "--pipeline_type_check"])
        assert options.view_as(TypeOptions).pipeline_type_check
        build_graph(beam.Pipeline(options=options), options.view_as(DedupOptions))  # raises on a type error
