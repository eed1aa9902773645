"""Merge one story's variants into a single output record.

The canonical version is chosen by an ordered list of criteria (`CRITERIA`); each criterion maps
a variant to a sort key and the first variant in the combined order wins. The final tie-break is
always the variant's content-derived uid, so the choice never depends on input order.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from dedup.text import clean_headline, normalize
from schemas.records import SOURCE_TYPES, WireStory

DEFAULT_POLICY = ("source_type", "earliest", "completeness")


@dataclasses.dataclass(frozen=True)
class Member:
    """A story variant and the variant group it belongs to."""

    story: WireStory
    variant_group: str


def _completeness(story: WireStory) -> tuple:
    present = sum(bool(v) for v in (story.headline, story.byline, story.dateline, story.url))
    return (-present, -len(story.body))


def criteria(source_type_priority: Sequence[str] = SOURCE_TYPES) -> dict[str, Callable[[WireStory], Any]]:
    rank = {name: i for i, name in enumerate(source_type_priority)}
    return {
        "source_type": lambda s: rank.get(s.source_type, len(rank)),
        "earliest": lambda s: s.published_ts,
        "latest": lambda s: -s.published_ts,
        "completeness": _completeness,
        "longest": lambda s: -len(s.body),
    }


CRITERIA = tuple(criteria())


def canonical_order(
    stories: Sequence[WireStory],
    policy: Sequence[str] = DEFAULT_POLICY,
    source_type_priority: Sequence[str] = SOURCE_TYPES,
) -> list[WireStory]:
    """Stories sorted by the policy; the first one is the canonical version."""
    table = criteria(source_type_priority)
    unknown = [name for name in policy if name not in table]
    if unknown:
        raise ValueError(f"unknown canonical policy criteria {unknown}; choose from {sorted(table)}")
    return sorted(stories, key=lambda s: tuple(table[name](s) for name in policy) + (s.uid,))


def differences(variant: WireStory, canonical: WireStory) -> dict[str, Any]:
    def differs(a: str | None, b: str | None) -> bool:
        return normalize(a or "") != normalize(b or "")

    canonical_len = max(len(canonical.body.split()), 1)
    return {
        "headline": normalize(clean_headline(variant.headline)) != normalize(clean_headline(canonical.headline)),
        "byline": differs(variant.byline, canonical.byline),
        "dateline": differs(variant.dateline, canonical.dateline),
        "length_ratio": round(len(variant.body.split()) / canonical_len, 4),
    }


def story_record(
    members: Sequence[Member],
    evidence: Sequence[dict[str, Any]],
    similarity_to_canonical: Callable[[WireStory, WireStory, bool], float],
    policy: Sequence[str] = DEFAULT_POLICY,
    source_type_priority: Sequence[str] = SOURCE_TYPES,
    max_variants: int = 1000,
) -> dict[str, Any]:
    """The merged record of one story.

    `similarity_to_canonical(variant, canonical, same_group)` returns the exact shingle Jaccard for
    reprints (same variant group) and the story similarity for rewrites.
    """
    group_of = {m.story.uid: m.variant_group for m in members}
    ordered = canonical_order([m.story for m in members], policy, source_type_priority)
    canonical = ordered[0]
    earliest = min(ordered, key=lambda s: (s.published_ts, s.uid))
    variants = []
    for story in sorted(ordered, key=lambda s: (s is not canonical, s.published_ts, s.uid)):
        same_group = group_of[story.uid] == group_of[canonical.uid]
        if story is canonical:
            relation, similarity = "canonical", 1.0
        else:
            relation = "reprint" if same_group else "rewrite"
            similarity = round(similarity_to_canonical(story, canonical, same_group), 4)
        variants.append(
            {
                "uid": story.uid,
                "id": story.id,
                "source": story.source,
                "source_type": story.source_type,
                "url": story.url,
                "headline": story.headline,
                "byline": story.byline,
                "dateline": story.dateline,
                "published_at": story.published_at,
                "variant_group": f"vg-{group_of[story.uid]}",
                "relation": relation,
                "similarity": similarity,
                "differs": None if story is canonical else differences(story, canonical),
                "extra": story.extra,
                "provenance": {"file": story.provenance.file, "line": story.provenance.line},
            }
        )
    return {
        "story_id": f"st-{earliest.uid}",
        "version": 1,
        "canonical": {
            "uid": canonical.uid,
            "id": canonical.id,
            "source": canonical.source,
            "headline": canonical.headline,
            "body": canonical.body,
            "byline": canonical.byline,
            "dateline": canonical.dateline,
            "url": canonical.url,
            "published_at": canonical.published_at,
        },
        "variants": variants,
        "sources": sorted({s.source for s in ordered}),
        "n_variants": len(ordered),
        "n_variant_groups": len(set(group_of.values())),
        "first_seen": earliest.published_at,
        "last_updated": max(ordered, key=lambda s: (s.published_ts, s.uid)).published_at,
        "flags": ["too_many_variants"] if len(ordered) > max_variants else [],
        "evidence": sorted(evidence, key=lambda e: (e["tier"], e["a"], e["b"])),
    }
