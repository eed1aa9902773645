"""Per-story features shared by the batch sketch step and the streaming index (computed the same way)."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from dedup.shingles import fold_shingles
from dedup.story import StoryTerms, StoryWeights, story_terms, story_terms_batch
from dedup.text import Tokens, clean_body, clean_headline
from schemas.records import WireStory


@dataclasses.dataclass(frozen=True)
class SketchConfig:
    shingle_size: int = 4
    num_perm: int = 128
    seed: int = 1
    max_sketch_chars: int = 200_000  # longer bodies are truncated for sketching, never for output
    story_weights: StoryWeights = StoryWeights()


def variant_shingles(story: WireStory, config: SketchConfig) -> np.ndarray:
    return fold_shingles(_body_tokens(story, config).hashes, config.shingle_size)


def terms_of(story: WireStory, config: SketchConfig) -> StoryTerms:
    return story_terms(Tokens(clean_headline(story.headline)), _body_tokens(story, config), config.story_weights)


def sketch_features(stories: Sequence[WireStory], config: SketchConfig) -> tuple[list[np.ndarray], list[StoryTerms]]:
    """`variant_shingles` and `terms_of` of a batch of stories, tokenising each body once."""
    bodies = [_body_tokens(story, config) for story in stories]
    headlines = [Tokens(clean_headline(story.headline)) for story in stories]
    terms = story_terms_batch(list(zip(headlines, bodies)), config.story_weights)
    return [fold_shingles(body.hashes, config.shingle_size) for body in bodies], terms


def _body_tokens(story: WireStory, config: SketchConfig) -> Tokens:
    return Tokens(clean_body(story.body[: config.max_sketch_chars]))
