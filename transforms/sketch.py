"""Sketch stories for both tiers.

`SketchStories` reads each body once and emits the variant tier's nodes (word-shingle hashes and
their MinHash signature, computed for a batch of stories at once), every story's term
statistics and body size, and the stories without their bodies. `StoryNodes` picks one
representative per variant group, builds the corpus's hashed document-frequency table from them,
and turns each into a TF-IDF vector and its MinHash.
"""
from __future__ import annotations

import dataclasses

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from dedup.features import SketchConfig, sketch_features
from dedup.minhash import signatures
from dedup.story import (
    DF_BUCKETS,
    StoryTerms,
    count_document,
    signature_terms,
    story_vector,
)
from schemas.records import TierNode
from transforms.joins import AttachValue
from transforms.metrics import NAMESPACE, Progress, StageTimer

TERMS = "terms"
SIZES = "sizes"
STORIES = "stories"


def _bodiless(story):
    """A story without its body, and the body's size: what the merge needs of a variant."""
    return dataclasses.replace(story, body=""), len(story.body), len(story.body.split())


class _Sketch(beam.DoFn):
    def __init__(self, config: SketchConfig):
        self.config = config
        self.timer = StageTimer("sketch")
        self.truncated = Metrics.counter(NAMESPACE, "bodies_truncated_for_sketch")
        self.progress = Progress("sketch", "stories")

    def process(self, batch):
        self.truncated.inc(sum(len(story.body) > self.config.max_sketch_chars for story in batch))
        self.progress.tick(len(batch))
        with self.timer():
            shingles, terms = sketch_features(batch, self.config)
            sigs = signatures(shingles, self.config.num_perm, self.config.seed)
        for story, shingle_set, sig, story_terms in zip(batch, shingles, sigs, terms):
            yield story.uid, TierNode(story.published_ts, sig, shingle_set)
            yield beam.pvalue.TaggedOutput(TERMS, (story.uid, story_terms.to_bytes()))
            yield beam.pvalue.TaggedOutput(SIZES, (story.uid, (story.published_ts, len(story.body))))
            yield beam.pvalue.TaggedOutput(STORIES, (story.uid, _bodiless(story)))


class SketchStories(beam.PTransform):
    """WireStory -> (uid, TierNode) for the variant tier (`variant_nodes`), (uid, StoryTerms as bytes)
    (`terms`), (uid, (ts, body chars)) (`sizes`) and (uid, (the story without its body, body chars,
    body words)) (`stories`).

    Bodies are the bulk of a story and go no further: the merge reads its canonical bodies back from
    the input (`transforms.read.ReadLinesAt`). Terms cross the shuffles as plain bytes, which cost a
    copy where a pickled `StoryTerms` would cost a pickling each time (5.6 -> 2.2 us to encode and decode).
    """

    def __init__(self, config: SketchConfig):
        super().__init__()
        self.config = config

    def expand(self, stories):
        return (
            stories
            | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=256)
            | "Sketch" >> beam.ParDo(_Sketch(self.config)).with_outputs(TERMS, SIZES, STORIES, main="variant_nodes")
        )


def _representative(element):
    """A variant group's (uid, ts, body chars) members -> (its longest member's uid (ties: the smallest),
    (group, the group's earliest time))."""
    group, members = element
    members = list(members)
    uid, _, _ = min(members, key=lambda m: (-m[2], m[0]))
    return uid, (group, min(m[1] for m in members))


class _DocumentFrequencies(beam.CombineFn):
    """Hashed DF table over story-term sets, plus the number of sets."""

    def create_accumulator(self):
        return np.zeros(DF_BUCKETS, dtype=np.int32), 0

    def add_input(self, accumulator, terms):
        table, n = accumulator
        count_document(table, terms.hashes)
        return table, n + 1

    def merge_accumulators(self, accumulators):
        tables, counts = zip(*accumulators)
        return np.sum(tables, axis=0, dtype=np.int32), sum(counts)

    def extract_output(self, accumulator):
        return accumulator


def _story_nodes(batch, df, config: SketchConfig):
    """A batch of (group, (ts, representative terms as bytes)) -> (group, TierNode), signatures computed at once."""
    table, n_docs = df
    vectors = [
        story_vector(StoryTerms.from_bytes(terms), table, n_docs, config.story_weights) for _, (_, terms) in batch
    ]
    tops = [signature_terms(vector, config.story_weights.signature_terms) for vector in vectors]
    for (group, (ts, _)), vector, signature in zip(batch, vectors, signatures(tops, config.num_perm, config.seed)):
        yield group, TierNode(ts, signature, vector)


class StoryNodes(beam.PTransform):
    """(uid, StoryTerms as bytes), with (uid, (ts, body chars)) and (uid, variant group) -> (variant group,
    TierNode) for the story tier.

    The representatives are chosen from the compact sizes; only their terms are then joined, so the
    terms cross one shuffle and the others' are dropped there. Document frequencies count each
    variant group once, so a story reprinted fifty times does not make its own names look common.
    """

    def __init__(self, sizes, variant_groups, config: SketchConfig):
        super().__init__()
        self.sizes, self.variant_groups, self.config = sizes, variant_groups, config

    def expand(self, terms):
        representatives = (
            self.sizes
            | "AttachGroup" >> AttachValue(self.variant_groups)
            | "ByGroup" >> beam.Map(lambda v: (v[1], (v[0],) + v[2]))
            | "GroupMembers" >> beam.GroupByKey()
            | "Representative" >> beam.Map(_representative)
        )
        representative_terms = (
            terms
            | "AttachRepresentative" >> AttachValue(representatives)
            | "ByRepresentedGroup" >> beam.Map(lambda v: (v[1][0], (v[1][1], v[2])))
        )
        df = (
            representative_terms
            | "RepresentativeTerms" >> beam.Map(lambda kv: StoryTerms.from_bytes(kv[1][1]))
            | "DocumentFrequencies" >> beam.CombineGlobally(_DocumentFrequencies())
        )
        return (
            representative_terms
            | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=256)
            | "StoryNode" >> beam.FlatMap(_story_nodes, df=beam.pvalue.AsSingleton(df), config=self.config)
        )
