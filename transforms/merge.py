"""Bring each story's variants and evidence together and merge them into one record."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from dedup.features import SketchConfig, terms_of, variant_shingles
from dedup.merge import Member, story_record
from dedup.shingles import jaccard
from dedup.story import cosine, story_vector
from transforms.joins import AttachValue
from transforms.metrics import NAMESPACE, Progress, StageTimer


class _MergeStory(beam.DoFn):
    def __init__(self, config: SketchConfig, policy, source_type_priority, max_variants: int):
        self.config, self.policy = config, policy
        self.source_type_priority, self.max_variants = source_type_priority, max_variants
        self.timer = StageTimer("merge")
        self.stories = Metrics.counter(NAMESPACE, "stories_written")
        self.variants = Metrics.counter(NAMESPACE, "variants_written")
        self.flagged = Metrics.counter(NAMESPACE, "stories_flagged")
        self.story_size = Metrics.distribution(NAMESPACE, "story_size")
        self.progress = Progress("merge", "stories")

    def process(self, element, df):
        _, grouped = element
        members = list(grouped["member"])
        uids = {m.story.uid for m in members}
        groups = {f"vg-{m.variant_group}" for m in members}
        evidence = [
            e.to_json()
            for e in grouped["edge"]
            if (e.a in uids and e.b in uids) or (e.a in groups and e.b in groups)
        ]
        table, n_docs = df
        features: dict[tuple[bool, str], object] = {}  # the canonical's are reused for every variant

        def feature(story, shingles: bool):
            key = (shingles, story.uid)
            if key not in features:
                features[key] = (
                    variant_shingles(story, self.config) if shingles
                    else story_vector(terms_of(story, self.config), table, n_docs, self.config.story_weights)
                )
            return features[key]

        def similarity(variant, canonical, same_group):
            measure = jaccard if same_group else cosine
            return measure(feature(variant, same_group), feature(canonical, same_group))

        with self.timer():
            record = story_record(
                members, evidence, similarity, self.policy, self.source_type_priority, self.max_variants
            )
        self.stories.inc()
        self.variants.inc(record["n_variants"])
        self.story_size.update(record["n_variants"])
        self.flagged.inc(bool(record["flags"]))
        self.progress.tick()
        yield record


def _prefix_story_edge(edge):
    return edge.__class__(edge.tier, f"vg-{edge.a}", f"vg-{edge.b}", edge.bands, edge.estimated, edge.similarity)


class MergeStories(beam.PTransform):
    """Stories, their variant groups and story clusters, and both tiers' edges -> story records."""

    def __init__(self, variant_groups, story_clusters, variant_edges, story_edges, df, config: SketchConfig,
                 policy, source_type_priority, max_variants: int):
        super().__init__()
        self.variant_groups, self.story_clusters = variant_groups, story_clusters
        self.variant_edges, self.story_edges, self.df = variant_edges, story_edges, df
        self.config, self.policy = config, policy
        self.source_type_priority, self.max_variants = source_type_priority, max_variants

    def expand(self, stories):
        placements = (  # (uid, (variant group, story)): compact, joined before the bodies are
            self.variant_groups
            | "ByVariantGroup" >> beam.Map(lambda kv: (kv[1], kv[0]))
            | "AttachStory" >> AttachValue(self.story_clusters)
            | "ByUid" >> beam.Map(lambda v: (v[2], (v[0], v[1])))
        )
        members = (
            stories
            | "KeyByUid" >> beam.Map(lambda s: (s.uid, s))
            | "AttachPlacement" >> AttachValue(placements)
            | "ByStory" >> beam.Map(lambda v: (v[1][1], Member(v[2], v[1][0])))
        )
        story_of_uid = placements | "UidStory" >> beam.Map(lambda kv: (kv[0], kv[1][1]))
        variant_evidence = (
            self.variant_edges
            | "VariantEdgeByA" >> beam.Map(lambda e: (e.a, e))
            | "VariantEdgeStory" >> AttachValue(story_of_uid)
            | "VariantEdgeByStory" >> beam.Map(lambda v: (v[1], v[2]))
        )
        story_evidence = (
            self.story_edges
            | "StoryEdgeByA" >> beam.Map(lambda e: (e.a, _prefix_story_edge(e)))
            | "StoryEdgeStory" >> AttachValue(self.story_clusters)
            | "StoryEdgeByStory" >> beam.Map(lambda v: (v[1], v[2]))
        )
        edges = (variant_evidence, story_evidence) | "AllEvidence" >> beam.Flatten()
        return (
            {"member": members, "edge": edges}
            | "GroupStory" >> beam.CoGroupByKey()
            | "Merge" >> beam.ParDo(
                _MergeStory(self.config, self.policy, self.source_type_priority, self.max_variants),
                df=beam.pvalue.AsSingleton(self.df),
            )
        )
