"""Merge one story's variants into a single output record.

The canonical version is chosen by an ordered list of criteria (`CRITERIA`); each criterion maps
a variant to a sort key and the first variant in the combined order wins. The final tie-break is
always the variant's content-derived uid, so the choice never depends on input order.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from dedup.text import clean_headline, normalize, word_count
from schemas.records import SOURCE_TYPES, WireStory, pickled_by_fields

DEFAULT_POLICY = ("source_type", "earliest", "completeness")


@pickled_by_fields
@dataclasses.dataclass(frozen=True)
class Member:
    """A story variant, the variant group it belongs to, and the size of its body.

    Merging reads a variant's body only for its size, so a member may travel without it (the story's
    body "", sizes given) and the canonical body be filled in after the merge (`with_canonical_body`).
    """

    story: WireStory
    variant_group: str
    body_chars: int = -1  # -1: measure the story's body
    body_words: int = -1

    def __post_init__(self):
        if self.body_chars < 0:
            object.__setattr__(self, "body_chars", len(self.story.body))
            object.__setattr__(self, "body_words", word_count(self.story.body))


def _completeness(member: Member) -> tuple:
    story = member.story
    present = sum(bool(v) for v in (story.headline, story.byline, story.dateline, story.url))
    return (-present, -member.body_chars)


def criteria(source_type_priority: Sequence[str] = SOURCE_TYPES) -> dict[str, Callable[[Member], Any]]:
    rank = {name: i for i, name in enumerate(source_type_priority)}
    return {
        "source_type": lambda m: rank.get(m.story.source_type, len(rank)),
        "earliest": lambda m: m.story.published_ts,
        "latest": lambda m: -m.story.published_ts,
        "completeness": _completeness,
        "longest": lambda m: -m.body_chars,
    }


CRITERIA = tuple(criteria())


def canonical_order(
    members: Sequence[Member],
    policy: Sequence[str] = DEFAULT_POLICY,
    source_type_priority: Sequence[str] = SOURCE_TYPES,
) -> list[Member]:
    """Members sorted by the policy; the first one is the canonical version."""
    table = criteria(source_type_priority)
    unknown = [name for name in policy if name not in table]
    if unknown:
        raise ValueError(f"unknown canonical policy criteria {unknown}; choose from {sorted(table)}")
    return sorted(members, key=lambda m: tuple(table[name](m) for name in policy) + (m.story.uid,))


def differences(variant_member: Member, canonical_member: Member) -> dict[str, Any]:
    def differs(a: str | None, b: str | None) -> bool:
        return normalize(a or "") != normalize(b or "")

    variant, canonical = variant_member.story, canonical_member.story
    return {
        "headline": normalize(clean_headline(variant.headline)) != normalize(clean_headline(canonical.headline)),
        "byline": differs(variant.byline, canonical.byline),
        "dateline": differs(variant.dateline, canonical.dateline),
        "length_ratio": round(variant_member.body_words / max(canonical_member.body_words, 1), 4),
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
    ordered_members = canonical_order(members, policy, source_type_priority)
    ordered = [m.story for m in ordered_members]
    canonical = ordered[0]
    member_of = {m.story.uid: m for m in ordered_members}
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
                "differs": None if story is canonical else differences(member_of[story.uid], ordered_members[0]),
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


def with_canonical_body(record: dict[str, Any], body: str) -> dict[str, Any]:
    """A record merged from bodiless members, with its canonical version's body."""
    return {**record, "canonical": {**record["canonical"], "body": body}}
