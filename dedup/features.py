"""Per-story features shared by the sketch step and the merge step (computed the same way)."""
from __future__ import annotations

import dataclasses

import numpy as np

from dedup.shingles import shingle_hashes
from dedup.story import StoryTerms, StoryWeights, story_terms
from dedup.text import clean_body, words
from schemas.records import WireStory


@dataclasses.dataclass(frozen=True)
class SketchConfig:
    shingle_size: int = 4
    num_perm: int = 128
    seed: int = 1
    max_sketch_chars: int = 200_000  # longer bodies are truncated for sketching, never for output
    story_weights: StoryWeights = StoryWeights()


def variant_shingles(story: WireStory, config: SketchConfig) -> np.ndarray:
    body = story.body[: config.max_sketch_chars]
    return shingle_hashes(words(clean_body(body)), config.shingle_size)


def terms_of(story: WireStory, config: SketchConfig) -> StoryTerms:
    return story_terms(story.headline, story.body[: config.max_sketch_chars], config.story_weights)
