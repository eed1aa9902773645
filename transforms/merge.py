"""Bring each story's variants and evidence together and merge them into one record."""
from __future__ import annotations

import apache_beam as beam
import orjson
from apache_beam.metrics import Metrics

from dedup.merge import Member, story_record, with_canonical_body
from dedup.story import StoryVector, cosine
from transforms.metrics import NAMESPACE, Progress, StageTimer
from transforms.read import InputChanged, ReadLinesAt, story_read_back


class _MergeStory(beam.DoFn):
    def __init__(self, policy, source_type_priority, max_variants: int):
        self.policy = policy
        self.source_type_priority, self.max_variants = source_type_priority, max_variants
        self.timer = StageTimer("merge")
        self.stories = Metrics.counter(NAMESPACE, "stories_written")
        self.variants = Metrics.counter(NAMESPACE, "variants_written")
        self.flagged = Metrics.counter(NAMESPACE, "stories_flagged")
        self.story_size = Metrics.distribution(NAMESPACE, "story_size")
        self.progress = Progress("merge", "stories")

    def process(self, element):
        _, grouped = element
        members, vectors, reprint_similarities, edges = [], {}, {}, []
        for member, vector, member_similarities, member_edges in grouped:
            members.append(member)
            if vector is not None:
                vectors[member.variant_group] = vector
            reprint_similarities[member.story.uid] = member_similarities
            edges.extend(member_edges)
        group_of = {m.story.uid: m.variant_group for m in members}
        groups = {f"vg-{g}" for g in vectors}
        evidence = [  # a guarded cluster may have split an edge's ends into two stories
            e.to_json()
            for e in edges
            if (e.a in group_of and e.b in group_of) or (e.a in groups and e.b in groups)
        ]
        def similarity(variant, canonical, same_group):
            if same_group:
                return reprint_similarities[variant.uid][canonical.uid]
            return cosine(*(StoryVector.from_bytes(vectors[group_of[s.uid]]) for s in (variant, canonical)))

        with self.timer():
            record = story_record(
                members, evidence, similarity, self.policy, self.source_type_priority, self.max_variants
            )
        self.stories.inc()
        self.variants.inc(record["n_variants"])
        self.story_size.update(record["n_variants"])
        self.flagged.inc(bool(record["flags"]))
        self.progress.tick()
        canonical = next(m for m in members if m.story.uid == record["canonical"]["uid"])
        # JSON bytes cross the body read: Beam's coder would encode the nested dict field by field.
        yield canonical.story.provenance, (canonical.story.uid, canonical.body_chars, orjson.dumps(record))


def with_body_read_back(provenance, raw: bytes, canonical) -> dict:
    """A record, with its canonical body from the canonical's input line read back."""
    uid, body_chars, record = canonical
    story = story_read_back(provenance, raw, uid)
    if len(story.body) != body_chars:
        raise InputChanged(f"{provenance.file}:{provenance.line} no longer holds story {uid} as read")
    return with_canonical_body(orjson.loads(record), story.body)


def _placements(element):
    """A variant group's uids, story, vector and story-tier edges -> (uid, (group, story, vector, edges)).

    The group's vector and edges (from it to other groups) travel with its first uid only (the others
    get None and no edges), so each reaches its story once.
    """
    group, grouped = element
    for story_id in grouped["story"]:  # exactly one
        for vector in grouped["vector"]:  # exactly one
            edges = [_prefix_story_edge(e) for e in grouped["edge"]]
            for index, uid in enumerate(sorted(grouped["uid"])):
                yield uid, (group, story_id, vector, edges) if index == 0 else (group, story_id, None, [])


def _member_by_story(element):
    """A uid's story, placement, similarities to its group's other members (only in a group of two or
    more) and variant-tier edges (from it) -> (story, (Member, group vector, similarities, variant- and
    story-tier edges))."""
    _, grouped = element
    similarities = next(iter(grouped["similarities"]), None)
    for variant_group, story_id, vector, group_edges in grouped["placement"]:  # exactly one
        for story, body_chars, body_words in grouped["story"]:
            member = Member(story, variant_group, body_chars, body_words)
            yield story_id, (member, vector, similarities, list(grouped["edge"]) + group_edges)


def _prefix_story_edge(edge):
    return edge.__class__(edge.tier, f"vg-{edge.a}", f"vg-{edge.b}", edge.bands, edge.estimated, edge.similarity)


class MergeStories(beam.PTransform):
    """Stories without bodies (uid, (story, body chars, body words)), their variant groups and story
    clusters, and both tiers' edges -> story records.

    A reprint's similarity to the canonical is the exact shingle Jaccard of the two, as the variant
    clustering computed it for every pair of a group of two or more and passes on per member
    (`reprint_similarities`); a rewrite's is the story cosine of their variant groups' term vectors
    (`story_nodes`), the vectors the story tier compared, as in streaming mode. Nothing is
    recomputed from the bodies.

    Bodies are the bulk of a story, and a record keeps one (the canonical's): members are joined and
    grouped without theirs, and each record then reads its canonical's line back from the input
    (`ReadLinesAt`) for the body. A line that no longer holds the story read from it (an input file
    changed during the run) fails the run with `InputChanged`. Evidence needs no joins of its own:
    each member brings the variant-tier edges from its uid, and a group's first member the
    story-tier edges from its group.
    """

    def __init__(self, variant_groups, reprint_similarities, story_clusters, story_nodes, variant_edges, story_edges,
                 policy, source_type_priority, max_variants: int):
        super().__init__()
        self.variant_groups, self.reprint_similarities = variant_groups, reprint_similarities
        self.story_clusters, self.story_nodes = story_clusters, story_nodes
        self.variant_edges, self.story_edges = variant_edges, story_edges
        self.policy = policy
        self.source_type_priority, self.max_variants = source_type_priority, max_variants

    def expand(self, bodiless_stories):
        placements = (
            {
                "uid": self.variant_groups | "ByVariantGroup" >> beam.Map(lambda kv: (kv[1], kv[0])),
                "story": self.story_clusters,
                "vector": self.story_nodes | "GroupVectors" >> beam.Map(lambda kv: (kv[0], kv[1].payload.to_bytes())),
                "edge": self.story_edges | "StoryEdgeByA" >> beam.Map(lambda e: (e.a, e)),
            }
            | "JoinByGroup" >> beam.CoGroupByKey()
            | "Placements" >> beam.FlatMap(_placements)
        )
        return (
            {
                "story": bodiless_stories,
                "placement": placements,
                "similarities": self.reprint_similarities,
                "edge": self.variant_edges | "VariantEdgeByA" >> beam.Map(lambda e: (e.a, e)),
            }
            | "JoinByUid" >> beam.CoGroupByKey()
            | "ByStory" >> beam.FlatMap(_member_by_story)
            | "GroupStory" >> beam.GroupByKey()
            | "Merge" >> beam.ParDo(
                _MergeStory(self.policy, self.source_type_priority, self.max_variants)
            )
            | "CanonicalLines" >> ReadLinesAt()
            | "WithBody" >> beam.MapTuple(with_body_read_back)
        )
