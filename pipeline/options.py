"""Pipeline options: every threshold and policy, with its default, through `PipelineOptions`."""
from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions, TypeOptions

from dedup.features import SketchConfig
from dedup.incremental import StreamSettings
from dedup.lsh import band_params
from dedup.merge import CRITERIA, DEFAULT_POLICY
from dedup.story import StoryWeights
from schemas.records import SOURCE_TYPES
from schemas.validate import DEFAULT_MAX_RECORD_BYTES
from transforms.candidates import BAND_SHARDS

SPILL_ABOVE_MIB = 1024


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class DedupOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        io = parser.add_argument_group("input and output")
        io.add_argument("--input", action="append", default=None,
                        help="Input file glob (JSONL, plain or .gz; any Beam filesystem). Repeatable. Required; no default.")
        io.add_argument("--output", default=None,
                        help="Output directory: stories-*.jsonl, dead_letters-*.jsonl, report.json, report.html. "
                             "Required; no default.")
        io.add_argument("--num_shards", type=int, default=1, help="Shards per output file kind. Default: 1.")
        io.add_argument("--config", default=None,
                        help="TOML (.toml) or YAML (.yaml/.yml) file of these options, keyed by option name "
                             "(tables/sections are flattened); flags on the command line override it. Default: none.")
        io.add_argument("--report_top_stories", type=int, default=20,
                        help="Largest stories shown in OUTPUT/report.html (0: no HTML report). "
                             "Default: %(default)s.")
        io.add_argument("--quiet", action="store_true", default=False,
                        help="No progress lines (records read, stories merged, rate) on stderr. Default: off.")
        io.add_argument("--max_record_bytes", type=int, default=DEFAULT_MAX_RECORD_BYTES,
                        help="Lines longer than this are dead-lettered as oversize. Default: 2 MiB.")
        io.add_argument("--max_sketch_chars", type=int, default=SketchConfig.max_sketch_chars,
                        help="Bodies are truncated to this many characters for sketching only "
                             "(never in the output). Default: %(default)s.")

        variants = parser.add_argument_group("variant tier (reprints of one wire copy)")
        variants.add_argument("--shingle_size", type=int, default=SketchConfig.shingle_size,
                              help="Words per shingle. Default: %(default)s.")
        variants.add_argument("--num_perm", type=int, default=SketchConfig.num_perm,
                              help="MinHash permutations (both tiers). Default: %(default)s.")
        variants.add_argument("--minhash_seed", type=int, default=SketchConfig.seed,
                              help="MinHash seed (datasketch-compatible). Default: %(default)s.")
        variants.add_argument("--variant_threshold", type=float, default=0.5,
                              help="Exact shingle Jaccard for a reprint edge, and the average-link "
                                   "threshold of a variant group. Default: %(default)s.")
        variants.add_argument("--variant_lsh_threshold", type=float, default=0.4,
                              help="Jaccard the variant LSH bands are tuned for (below the verify "
                                   "threshold, for recall). Default: %(default)s.")

        stories = parser.add_argument_group("story tier (write-ups of one event)")
        stories.add_argument("--story_lsh_threshold", type=float, default=0.05,
                             help="Jaccard of salient-term sets the story LSH bands are tuned for. "
                                  "Default: %(default)s.")
        stories.add_argument("--story_edge_threshold", type=float, default=0.2,
                             help="Story similarity for a verified story edge. Default: %(default)s.")
        stories.add_argument("--story_threshold", type=float, default=0.3,
                             help="Average-link threshold of a story (the chaining guard), on 1/3 "
                                  "story cosine + 2/3 neighbour-profile cosine. Default: %(default)s.")
        stories.add_argument("--story_neighbours", type=int, default=10,
                             help="Nearest neighbours (among all scored LSH candidates) in each story's "
                                  "profile (0: cluster on the plain story cosine). "
                                  "Default: %(default)s.")
        stories.add_argument("--story_top_k", type=int, default=StoryWeights.top_k,
                             help="Salient terms per story. Default: %(default)s.")
        stories.add_argument("--story_signature_terms", type=int, default=StoryWeights.signature_terms,
                             help="Heaviest salient terms in the story MinHash (LSH candidates); the "
                                  "similarity uses all --story_top_k. Default: %(default)s.")
        stories.add_argument("--proper_noun_boost", type=float, default=StoryWeights.proper_boost,
                             help="Weight factor of name-like terms. Default: %(default)s.")
        stories.add_argument("--headline_boost", type=float, default=StoryWeights.headline_boost,
                             help="Count factor of headline terms. Default: %(default)s.")
        stories.add_argument("--horizon_hours", type=float, default=72.0,
                             help="Only stories published within this many hours are compared. "
                                  "0 disables the horizon. Default: %(default)s.")

        stream = parser.add_argument_group("streaming (with --streaming)")
        stream.add_argument("--input_dir", default=None,
                            help="Directory watched for new *.jsonl / *.jsonl.gz files (local streaming source). "
                                 "Default: none.")
        stream.add_argument("--input_topic", default=None,
                            help="Pub/Sub topic to read stories from (projects/P/topics/T). Default: none.")
        stream.add_argument("--input_subscription", default=None,
                            help="Pub/Sub subscription to read stories from (projects/P/subscriptions/S). "
                                 "Default: none.")
        stream.add_argument("--output_topic", default=None,
                            help="Pub/Sub topic for story upserts (dead letters go to OUTPUT_TOPIC-dead-letters); "
                                 "instead of --output files. Default: none.")
        stream.add_argument("--stop_after_idle", type=float, default=None,
                            help="With --input_dir: drain and exit once no new file has arrived for this many "
                                 "seconds. Default: run until stopped.")
        stream.add_argument("--poll_interval", type=float, default=1.0,
                            help="Seconds between polls of --input_dir. Default: %(default)s.")
        stream.add_argument("--allowed_lateness_hours", type=float, default=24.0,
                            help="A story older than the newest published_at seen minus this is dead-lettered "
                                 "as too_late. Default: %(default)s.")

        scale = parser.add_argument_group("scaling guards")
        scale.add_argument("--max_bucket_size", type=int, default=100,
                           help="LSH buckets larger than this are capped (members paired with a "
                                "few anchors only) and counted. Default: %(default)s.")
        scale.add_argument("--max_component_size", type=int, default=500,
                           help="Connected components larger than this are clustered in time "
                                "windows of this size, and counted. Default: %(default)s.")
        scale.add_argument("--story_band_shards", type=int, default=0,
                           help="Keys per time bucket of the story tier's LSH bucket step (split by "
                                "band hash). More keys spread a very large feed over workers, but a "
                                "pair is then scored in every shard it shares a bucket in. 0: one "
                                "per time bucket, or 8 without a horizon. Default: %(default)s.")
        scale.add_argument("--cc_rounds", type=int, default=5,
                           help="Large-star/small-star rounds of connected components; leftovers "
                                "are resolved and counted in the report. Default: %(default)s.")
        scale.add_argument("--spill_above_mib", type=int, default=SPILL_ABOVE_MIB,
                           help="Batch runs on the DirectRunner: once the process's resident memory reaches "
                                "this many MiB, the data the runner holds between stages (shuffles, stage "
                                "inputs and outputs) goes to temporary files in TMPDIR instead of memory. "
                                "0: from the start; -1: never. Default: %(default)s.")
        scale.add_argument("--max_variants_per_story", type=int, default=1000,
                           help="Stories with more variants are flagged too_many_variants. "
                                "Default: %(default)s.")

        merge = parser.add_argument_group("merge policy")
        merge.add_argument("--canonical_policy", default=",".join(DEFAULT_POLICY),
                           help=f"Ordered criteria for the canonical version, from {', '.join(CRITERIA)}; "
                                "ties end on the content-derived uid. Default: %(default)s.")
        merge.add_argument("--source_type_priority", default=",".join(SOURCE_TYPES),
                           help="source_type order for the source_type criterion; unknown types "
                                "rank last. Default: %(default)s.")


class JobOptions(PipelineOptions):
    """`PipelineOptions` that make each view (`view_as`) once and hand the same one out after.

    Beam takes two or three views of the pipeline's options for every transform it applies, and each
    new view builds an argparse parser of its class's flags and parses the whole command line again,
    ~0.4 ms: 840 views, ~0.35 s of building a batch graph. A view holds no values of its own (they live
    in the dict all views share), so one view per class serves every call. Copies and pickles (Beam
    deep-copies a pipeline's options) start without the views, and make their own.
    """

    def view_as(self, cls):
        views = self.__dict__.setdefault("_views", {})
        if cls not in views:
            views[cls] = super().view_as(cls)
        return views[cls]

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_views", None)
        return state


def job_options(argv: list[str]) -> JobOptions:
    """The `PipelineOptions` of a job's command line (`JobOptions`), with Beam's construction-time type
    check off unless the command line asks for it (`--pipeline_type_check`).

    The check verifies the type hints of a graph that is the same on every run, on every run: 0.5 s of
    the ~4 s a 100-story batch takes. tests/test_pipeline.py runs it on both graphs instead.
    """
    options = JobOptions(argv)
    if not any(arg.split("=", 1)[0] == "--pipeline_type_check" for arg in argv):
        options.view_as(TypeOptions).pipeline_type_check = False
    return options


def sketch_config(options: DedupOptions) -> SketchConfig:
    return SketchConfig(
        shingle_size=options.shingle_size,
        num_perm=options.num_perm,
        seed=options.minhash_seed,
        max_sketch_chars=options.max_sketch_chars,
        story_weights=StoryWeights(
            top_k=options.story_top_k,
            signature_terms=options.story_signature_terms,
            proper_boost=options.proper_noun_boost,
            headline_boost=options.headline_boost,
        ),
    )


def stream_settings(options: DedupOptions) -> StreamSettings:
    policy, source_type_priority = canonical_policy(options)
    return StreamSettings(
        config=sketch_config(options),
        variant_bands=band_params(options.variant_lsh_threshold, options.num_perm),
        story_bands=band_params(options.story_lsh_threshold, options.num_perm),
        variant_threshold=options.variant_threshold,
        story_edge_threshold=options.story_edge_threshold,
        story_threshold=options.story_threshold,
        horizon_s=options.horizon_hours * 3600.0 if options.horizon_hours > 0 else float("inf"),
        allowed_lateness_s=options.allowed_lateness_hours * 3600.0,
        max_bucket_size=options.max_bucket_size,
        policy=tuple(policy),
        source_type_priority=tuple(source_type_priority),
        max_variants=options.max_variants_per_story,
    )


def story_band_shards(options: DedupOptions) -> int:
    if options.story_band_shards > 0:
        return options.story_band_shards
    return 1 if options.horizon_hours > 0 else BAND_SHARDS


def canonical_policy(options: DedupOptions) -> tuple[list[str], list[str]]:
    return _csv(options.canonical_policy), _csv(options.source_type_priority)


def argument_parser() -> argparse.ArgumentParser:
    """A parser of our options alone, for --help and for recording them in the report."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Group wire stories into variants and stories; write merged story records.",
        epilog="Beam options are accepted as well, e.g. --runner (default DirectRunner), "
        "--direct_num_workers, --direct_running_mode, --setup_file.",
    )
    DedupOptions._add_argparse_args(parser)
    return parser


def option_names() -> list[str]:
    return [action.dest for action in argument_parser()._actions if action.dest != "help"]
