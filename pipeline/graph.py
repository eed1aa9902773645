"""Graph assembly: read -> validate -> sketch -> band -> candidates -> verify -> cluster -> merge -> write."""
from __future__ import annotations

import apache_beam as beam
import orjson
from apache_beam.io.filesystems import FileSystems

from dedup.lsh import band_params
from dedup.shingles import jaccard
from dedup.story import StoryVector, cosine, cosines
from pipeline.options import (
    DedupOptions,
    canonical_policy,
    sketch_config,
    story_band_shards,
)
from transforms.candidates import CandidatePairs, ScoredNeighbours
from transforms.cluster import SIMILARITIES, GuardedClusters
from transforms.merge import MergeStories
from transforms.read import ReadJsonLines
from transforms.sketch import SketchStories, StoryNodes
from transforms.summary import RunSummary
from transforms.validate import ValidateStories
from transforms.verify import VerifyPairs
from transforms.write import WriteSortedShards

SUMMARY_FILE = "summary.json"
TOP_STORIES_FILE = "top_stories.json"


def _write_json(value, path: str):
    with FileSystems.create(path) as handle:
        handle.write(orjson.dumps(value))


def group_stories(p: beam.Pipeline, options: DedupOptions):
    """The grouping graph without sinks: returns lines, story records and dead letters."""
    config = sketch_config(options)
    policy, source_type_priority = canonical_policy(options)
    horizon_s = options.horizon_hours * 3600.0 if options.horizon_hours > 0 else None

    read = p | "Read" >> ReadJsonLines(options.input)
    validated = read.lines | "Validate" >> ValidateStories(options.max_record_bytes)
    stories = validated["stories"]
    sketches = stories | "SketchStories" >> SketchStories(config)

    variant_nodes = sketches.variant_nodes
    bands, rows = band_params(options.variant_lsh_threshold, options.num_perm)
    verified = (
        variant_nodes
        | "VariantCandidates" >> CandidatePairs("variant", bands, rows, None, options.max_bucket_size)
        | "VerifyVariants" >> VerifyPairs("variant", variant_nodes, jaccard, options.variant_threshold)
    )
    variant_edges = verified["edges"]
    variant_clusters = variant_edges | "VariantGroups" >> GuardedClusters(
        "variant", variant_nodes | "VariantKeys" >> beam.Keys(), verified["paired_nodes"], jaccard,
        options.variant_threshold, options.cc_rounds, options.max_component_size,
    )
    variant_groups = variant_clusters["labels"]

    story_nodes = sketches.terms | "StoryNodes" >> StoryNodes(variant_groups, config)
    bands, rows = band_params(options.story_lsh_threshold, options.num_perm)
    scored = story_nodes | "StoryCandidates" >> ScoredNeighbours(
        "story", bands, rows, horizon_s, options.max_bucket_size, cosines, options.story_edge_threshold,
        options.story_neighbours, StoryVector.to_bytes, StoryVector.from_bytes, story_band_shards(options),
    )
    story_edges = scored["edges"]
    profiles = scored["profiles"] if options.story_neighbours > 0 else None
    story_clusters = (story_edges | "StoryClusters" >> GuardedClusters(
        "story", story_nodes | "StoryKeys" >> beam.Keys(), story_nodes, cosine, options.story_threshold,
        options.cc_rounds, options.max_component_size, profiles,
    ))["labels"]

    records = sketches.stories | "Merge" >> MergeStories(
        variant_groups, variant_clusters[SIMILARITIES], story_clusters, story_nodes, variant_edges, story_edges,
        policy, source_type_priority, options.max_variants_per_story,
    )
    dead_letters = (read.dead_letters, validated["dead_letters"]) | "DeadLetters" >> beam.Flatten()
    return read.lines, records, dead_letters


def build(p: beam.Pipeline, options: DedupOptions, staging_dir: str) -> None:
    """The batch job: group, then write shards, the summary counts and the largest stories into `staging_dir`."""
    lines, records, dead_letters = group_stories(p, options)
    (
        records
        | "StoryLines" >> beam.Map(lambda r: (r["story_id"], orjson.dumps(r)))
        | "WriteStories" >> WriteSortedShards(staging_dir, "stories", options.num_shards)
    )
    (
        dead_letters
        | "DeadLetterLines" >> beam.Map(
            lambda d: (f"{d.provenance.file}\x00{d.provenance.line:012d}", orjson.dumps(d.to_json()))
        )
        | "WriteDeadLetters" >> WriteSortedShards(staging_dir, "dead_letters", options.num_shards)
    )
    (
        lines
        | "Summary" >> RunSummary(records, dead_letters)
        | "WriteSummary" >> beam.Map(_write_json, FileSystems.join(staging_dir, SUMMARY_FILE))
    )
    if options.report_top_stories > 0:
        (
            records
            | "TopStories" >> beam.combiners.Top.Of(
                options.report_top_stories, key=lambda r: (r["n_variants"], r["story_id"])
            )
            | "WriteTopStories" >> beam.Map(_write_json, FileSystems.join(staging_dir, TOP_STORIES_FILE))
        )
