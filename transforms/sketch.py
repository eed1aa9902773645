"""Sketch stories for both tiers.

`SketchStories` reads each body once and emits the variant tier's nodes (word-shingle hashes and
their MinHash signature, computed for a batch of stories at once), every story's term
statistics with its time and body size, and the stories without their bodies. `StoryNodes`
picks one representative per variant group, builds the corpus's hashed document-frequency table
from them, and turns each into a TF-IDF vector and its MinHash.
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
from dedup.text import word_count
from schemas.records import TierNode
from transforms.joins import AttachValue
from transforms.metrics import NAMESPACE, Progress, StageTimer

TERMS = "terms"
STORIES = "stories"


def _bodiless(story):
    """A story without its body, and the body's size: what the merge needs of a variant."""
    return dataclasses.replace(story, body=""), len(story.body), word_count(story.body)


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
            yield beam.pvalue.TaggedOutput(TERMS, (story.uid, (story.published_ts, len(story.body), story_terms.to_bytes())))
            yield beam.pvalue.TaggedOutput(STORIES, (story.uid, _bodiless(story)))


class SketchStories(beam.PTransform):
    """WireStory -> (uid, TierNode) for the variant tier (`variant_nodes`), (uid, (ts, body chars,
    StoryTerms as bytes)) (`terms`) and (uid, (the story without its body, body chars, body words))
    (`stories`).

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
            | "Sketch" >> beam.ParDo(_Sketch(self.config)).with_outputs(TERMS, STORIES, main="variant_nodes")
        )


def _representative(element):
    """A variant group's (uid, ts, body chars, terms) members -> (group, (the group's earliest time, the
    terms of its longest member (ties: the smallest uid)))."""
    group, members = element
    members = list(members)
    _, _, _, terms = min(members, key=lambda m: (-m[2], m[0]))
    return group, (min(m[1] for m in members), terms)


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
    """(uid, (ts, body chars, StoryTerms as bytes)), with (uid, variant group) -> (variant group, TierNode)
    for the story tier.

    Each story's terms travel with its time and size: they join its variant group, and the group's
    members meet by group, where the representative is chosen. That is two shuffles of the terms,
    where choosing from the sizes first and then joining the chosen terms took three shuffles
    of more elements (300,000 instead of 470,000 at 100,000 stories). Document frequencies count
    each variant group once, so a story reprinted fifty times does not make its own names look common.
    """

    def __init__(self, variant_groups, config: SketchConfig):
        super().__init__()
        self.variant_groups, self.config = variant_groups, config

    def expand(self, terms):
        representative_terms = (
            terms
            | "AttachGroup" >> AttachValue(self.variant_groups)
            | "ByGroup" >> beam.Map(lambda v: (v[1], (v[0],) + v[2]))
            | "GroupMembers" >> beam.GroupByKey()
            | "Representative" >> beam.Map(_representative)
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
