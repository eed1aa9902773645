"""Incremental two-tier grouping for streaming: one story at a time against a bounded horizon.

`StoryIndex.add(story)` places a new story with the same evidence as batch mode (word-shingle
MinHash/LSH + exact Jaccard for reprints; salient-term MinHash/LSH + TF-IDF cosine for rewrites)
and returns the upserts it causes: the changed story's merged record with `version` + 1, and a
`merged_into` record for a story absorbed when a new item links two stories.

Differences from batch, all consequences of deciding now instead of after the whole corpus:
- a story joins the existing variant group / story with the best *average* similarity over all
  its members (the same average-link guard as batch), but groups never split afterwards;
- the story tier compares direct cosines only (batch also blends in second-order neighbour
  profiles, which need every future candidate) and document frequencies are the running counts
  of the variant groups held, so early stories of a stream see a thin DF table;
- `story_id` is the uid of the story's first-arrived member, so it never changes.

Event time is the data's own: the frontier is the newest `published_at` seen (or a later
watermark passed to `advance`). A story older than frontier - allowed lateness is rejected as
too late; a story whose newest member is older than frontier - lateness - horizon is evicted
(whole, so a later upsert never shrinks it), and a copy arriving after that starts a new story.
"""
from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np

from dedup.features import SketchConfig, terms_of, variant_shingles
from dedup.lsh import band_hashes, band_params
from dedup.merge import DEFAULT_POLICY, Member, story_record
from dedup.minhash import signatures
from dedup.shingles import jaccard
from dedup.story import (
    DF_BUCKETS,
    StoryTerms,
    StoryVector,
    cosine,
    count_document,
    df_buckets,
    signature_terms,
    story_vector,
)
from schemas.records import SOURCE_TYPES, WireStory

ADDED, TOO_LATE, DUPLICATE_ID = "added", "too_late", "duplicate_id"  # the last two are dead-letter reasons


@dataclasses.dataclass(frozen=True)
class StreamSettings:
    """The engine's knobs; the defaults are the pipeline's option defaults (`pipeline.options`)."""

    config: SketchConfig = SketchConfig()
    variant_bands: tuple[int, int] = band_params(0.4, 128)
    story_bands: tuple[int, int] = band_params(0.05, 128)
    variant_threshold: float = 0.5
    story_edge_threshold: float = 0.2
    story_threshold: float = 0.3
    horizon_s: float = 72 * 3600.0
    allowed_lateness_s: float = 24 * 3600.0
    max_bucket_size: int = 100
    max_link_members: int = 50
    policy: Sequence[str] = DEFAULT_POLICY
    source_type_priority: Sequence[str] = SOURCE_TYPES
    max_variants: int = 1000


@dataclasses.dataclass
class _Held:
    story: WireStory
    shingles: np.ndarray
    signature: np.ndarray
    group: str


@dataclasses.dataclass
class _Group:
    """A variant group: reprints of one copy; the story tier's item."""

    members: list[str]
    terms: StoryTerms
    vector: StoryVector
    signature: np.ndarray
    band_keys: list[tuple[int, int]]
    story: str


@dataclasses.dataclass
class _Story:
    groups: list[str]
    version: int = 0
    newest_ts: float = float("-inf")
    evidence: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class StoryIndex:
    """The state of one streaming partition: every story within the horizon, indexed for LSH."""

    def __init__(self, settings: StreamSettings = StreamSettings()):
        self.settings = settings
        self.frontier = float("-inf")
        self.held: dict[str, _Held] = {}
        self.groups: dict[str, _Group] = {}
        self.stories: dict[str, _Story] = {}
        self.variant_buckets: dict[tuple[int, int], list[str]] = {}
        self.story_buckets: dict[tuple[int, int], list[str]] = {}
        self.df = np.zeros(DF_BUCKETS, dtype=np.int32)
        self.n_docs = 0
        self._expiry: list[tuple[float, str]] = []  # (newest member ts, story id), lazily re-checked
        self.stats = {"capped_buckets": 0, "evicted_stories": 0}

    # -- public API ---------------------------------------------------------------------------------

    def add(self, story: WireStory) -> tuple[str, list[dict[str, Any]]]:
        """Place `story`; returns (status, upserts). Status is ADDED, TOO_LATE or DUPLICATE_ID."""
        s = self.settings
        if story.published_ts < self.frontier - s.allowed_lateness_s:
            return TOO_LATE, []
        if story.uid in self.held:  # uid is derived from (source, id)
            return DUPLICATE_ID, []
        self.advance(story.published_ts)
        shingles = variant_shingles(story, s.config)
        signature = signatures([shingles], s.config.num_perm, s.config.seed)[0]
        held = _Held(story, shingles, signature, group="")
        self.held[story.uid] = held

        group_id, edges = self._place_in_variant_group(held)
        if group_id is not None:
            held.group = group_id
            self.groups[group_id].members.append(story.uid)
            story_id = self.groups[group_id].story
            self.stories[story_id].evidence.extend(edges)
            return ADDED, self._touch(story_id, story.published_ts)
        return ADDED, self._new_group(held)

    def advance(self, event_time: float) -> int:
        """Move the frontier to `event_time` if later; evict what fell out of the horizon."""
        self.frontier = max(self.frontier, event_time)
        return self.evict(self.frontier - self.settings.allowed_lateness_s - self.settings.horizon_s)

    def evict(self, cutoff: float) -> int:
        """Drop every story whose newest member is older than `cutoff`; returns how many."""
        evicted = 0
        while self._expiry and self._expiry[0][0] < cutoff:
            newest, story_id = heapq.heappop(self._expiry)
            story = self.stories.get(story_id)
            if story is None or story.newest_ts != newest:
                continue  # merged away, or grown since: a fresher entry is in the heap
            self._drop_story(story_id)
            evicted += 1
        self.stats["evicted_stories"] += evicted
        return evicted

    def oldest_expiry(self) -> float | None:
        """Event time of the next eviction (newest member ts of the stalest story), if any."""
        while self._expiry:
            newest, story_id = self._expiry[0]
            story = self.stories.get(story_id)
            if story is not None and story.newest_ts == newest:
                return newest
            heapq.heappop(self._expiry)
        return None

    def record(self, story_id: str) -> dict[str, Any]:
        """The current merged record of a story (same schema as batch, plus the live version)."""
        s = self.settings
        story = self.stories[story_id]
        members = [
            Member(self.held[uid].story, gid) for gid in story.groups for uid in self.groups[gid].members
        ]

        def similarity(variant: WireStory, canonical: WireStory, same_group: bool) -> float:
            a, b = self.held[variant.uid], self.held[canonical.uid]
            if same_group:
                return jaccard(a.shingles, b.shingles)
            return cosine(self.groups[a.group].vector, self.groups[b.group].vector)

        record = story_record(members, story.evidence, similarity, s.policy, s.source_type_priority, s.max_variants)
        record["story_id"] = story_id
        record["version"] = story.version
        return record

    # -- variant tier ---------------------------------------------------------------------------------

    def _candidates(self, buckets: dict, keys: list[tuple[int, int]], item: str, ts_of) -> dict[str, int]:
        """Items sharing a band key with `item` within the horizon (shared band count); indexes `item`."""
        s = self.settings
        found: dict[str, int] = {}
        for key in keys:
            bucket = buckets.setdefault(key, [])
            for other in bucket:
                found[other] = found.get(other, 0) + 1
            bucket.append(item)
            if len(bucket) > s.max_bucket_size:  # hot bucket: keep the most recent arrivals only
                del bucket[0]
                self.stats["capped_buckets"] += 1
        ts = ts_of(item)
        return {o: n for o, n in found.items() if abs(ts_of(o) - ts) <= s.horizon_s}

    def _variant_keys(self, signature: np.ndarray) -> list[tuple[int, int]]:
        bands, rows = self.settings.variant_bands
        return list(enumerate(band_hashes(signature, bands, rows)))

    def _place_in_variant_group(self, held: _Held) -> tuple[str | None, list[dict]]:
        """The variant group `held` joins (None: it starts one) and the edges into that group."""
        s = self.settings
        uid = held.story.uid
        found = self._candidates(
            self.variant_buckets, self._variant_keys(held.signature), uid, lambda u: self.held[u].story.published_ts
        )
        edges, by_group = {}, {}
        for other, shared in sorted(found.items()):
            o = self.held[other]
            similarity = jaccard(held.shingles, o.shingles)
            if similarity >= s.variant_threshold:
                estimated = float(np.mean(held.signature == o.signature))
                edges.setdefault(o.group, []).append(_edge("variant", uid, other, shared, estimated, similarity))
                by_group.setdefault(o.group, {})[other] = similarity
        qualifying = []
        for group_id, known in sorted(by_group.items()):
            members = self.groups[group_id].members[-s.max_link_members:]
            score = float(np.mean([known[m] if m in known else jaccard(held.shingles, self.held[m].shingles)
                                   for m in members]))
            if score >= s.variant_threshold:
                qualifying.append((score, group_id))
        if not qualifying:
            return None, []
        best = min(qualifying, key=lambda item: (-item[0], item[1]))[1]
        return best, edges[best]

    # -- story tier ---------------------------------------------------------------------------------

    def _new_group(self, held: _Held) -> list[dict[str, Any]]:
        """Start a variant group for `held` and place it in a story (new, existing, or bridging two)."""
        s = self.settings
        uid = held.story.uid
        terms = terms_of(held.story, s.config)
        count_document(self.df, terms.hashes)
        self.n_docs += 1
        vector = story_vector(terms, self.df, self.n_docs, s.config.story_weights)
        top = signature_terms(vector, s.config.story_weights.signature_terms)
        signature = signatures([top], s.config.num_perm, s.config.seed)[0]
        bands, rows = s.story_bands
        keys = list(enumerate(band_hashes(signature, bands, rows)))
        held.group = uid
        story_id = f"st-{uid}"
        self.groups[uid] = _Group([uid], terms, vector, signature, keys, story=story_id)
        found = self._candidates(self.story_buckets, keys, uid, self._group_ts)

        edges, by_story = {}, {}
        for other, shared in sorted(found.items()):
            o = self.groups[other]
            similarity = cosine(vector, o.vector)
            if similarity >= s.story_edge_threshold:
                estimated = float(np.mean(signature == o.signature))
                edge = _edge("story", f"vg-{uid}", f"vg-{other}", shared, estimated, similarity)
                edges.setdefault(o.story, []).append(edge)
                by_story.setdefault(o.story, {})[other] = similarity
        linked = sorted(
            ((score, story_id) for story_id, known in by_story.items()
             if (score := self._average_link([vector], self.stories[story_id].groups, known)) >= s.story_threshold),
            key=lambda item: (-item[0], item[1]),
        )
        if not linked:
            self.stories[story_id] = _Story([uid])
            return self._touch(story_id, held.story.published_ts)

        target_id = linked[0][1]
        target = self.stories[target_id]
        self.groups[uid].story = target_id
        target.groups.append(uid)
        target.evidence.extend(edges[target_id])
        absorbed = []
        for _, other_id in linked[1:]:  # the new item bridges stories: merge those that still average out
            vectors = [self.groups[g].vector for g in target.groups]
            if self._average_link(vectors, self.stories[other_id].groups, {}) >= s.story_threshold:
                absorbed.append(self._absorb(target_id, other_id, edges[other_id]))
        return self._touch(target_id, held.story.published_ts) + absorbed

    def _average_link(self, vectors: list[StoryVector], groups: list[str], known: dict[str, float]) -> float:
        """Mean cosine over all (vector, group) pairs; `known` holds cosines already computed for one vector."""
        cap = self.settings.max_link_members
        scores = [
            known[g] if len(vectors) == 1 and g in known else cosine(v, self.groups[g].vector)
            for v in vectors[-cap:]
            for g in groups[-cap:]
        ]
        return float(np.mean(scores)) if scores else 0.0

    def _absorb(self, target_id: str, other_id: str, bridge: list[dict]) -> dict[str, Any]:
        """Move story `other_id` into `target_id`; returns the absorbed story's last upsert."""
        target, other = self.stories[target_id], self.stories.pop(other_id)
        for gid in other.groups:
            self.groups[gid].story = target_id
        target.groups.extend(other.groups)
        target.evidence.extend(other.evidence + bridge)
        target.newest_ts = max(target.newest_ts, other.newest_ts)
        return {"story_id": other_id, "version": other.version + 1, "merged_into": target_id}

    def _group_ts(self, group_id: str) -> float:
        return self.held[group_id].story.published_ts

    # -- bookkeeping ---------------------------------------------------------------------------------

    def _touch(self, story_id: str, ts: float) -> list[dict[str, Any]]:
        """Bump the story's version and return its upsert."""
        story = self.stories[story_id]
        story.version += 1
        story.newest_ts = max(story.newest_ts, ts)
        heapq.heappush(self._expiry, (story.newest_ts, story_id))
        return [self.record(story_id)]

    def _drop_story(self, story_id: str) -> None:
        story = self.stories.pop(story_id)
        for gid in story.groups:
            group = self.groups.pop(gid)
            np.subtract.at(self.df, df_buckets(group.terms.hashes), 1)
            self.n_docs -= 1
            _unindex(self.story_buckets, group.band_keys, gid)
            for uid in group.members:
                held = self.held.pop(uid)
                _unindex(self.variant_buckets, self._variant_keys(held.signature), uid)


def _unindex(buckets: dict, keys: list[tuple[int, int]], item: str) -> None:
    for key in keys:
        bucket = buckets.get(key)
        if bucket is None:
            continue
        try:
            bucket.remove(item)
        except ValueError:
            pass  # already pushed out of a capped bucket
        if not bucket:
            del buckets[key]


def _edge(tier: str, a: str, b: str, bands: int, estimated: float, similarity: float) -> dict[str, Any]:
    return {"tier": tier, "a": a, "b": b, "bands": bands, "estimated": round(estimated, 4),
            "similarity": round(float(similarity), 4)}
