"""Story-tier evidence: salient terms of a story and the similarity of two stories.

Different outlets' write-ups of one event share few word sequences but many salient terms:
the people, places and organisations involved (proper nouns), numbers, and rare content words.
A story is represented by its top-K terms weighted by TF-IDF, with proper nouns and headline
terms boosted; two stories are compared by the cosine of these sparse vectors.

Document frequencies come from the data itself through a hashed table (`DF_BUCKETS` counters
indexed by term hash), which is small enough to be a Beam side input and mergeable by addition.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse

from dedup.shingles import HashSet, token_hashes
from dedup.stopwords import STOPWORDS
from dedup.text import Tokens, capitalised, casefold_all, folded_shapes

DF_BUCKETS = 1 << 20
# Pairs per sparse product in `cosines`: bounds the two gathered matrices to ~16k x 80 entries each.
_PAIR_CHUNK = 1 << 14
_STOPWORDS = HashSet(token_hashes(sorted(STOPWORDS)))


@dataclasses.dataclass(frozen=True)
class StoryWeights:
    """Tuning knobs of the story representation (pipeline options pass them through)."""

    top_k: int = 80
    # The story MinHash covers only the heaviest terms: fewer shared common words, so far fewer
    # random LSH candidates (3.7x on the generated corpus) at the same quality on ecbplus_dev.
    signature_terms: int = 30
    proper_boost: float = 2.0
    headline_boost: float = 2.0


@dataclasses.dataclass(frozen=True)
class StoryTerms:
    """Raw term statistics of one story, before document frequencies are known."""

    hashes: np.ndarray  # uint32, sorted, unique
    counts: np.ndarray  # float32 term counts (headline occurrences boosted)
    proper: np.ndarray  # bool: the term is mostly capitalised mid-sentence (a name)

    def __reduce__(self):
        # Beam pickles these on every shuffle; raw bytes pickle several times faster than arrays.
        return _terms_from_bytes, (self.to_bytes(),)

    def to_bytes(self) -> bytes:
        """hashes, counts and proper flags back to back: 9 bytes a term."""
        return self.hashes.astype(np.uint32).tobytes() + self.counts.astype(np.float32).tobytes() + \
            self.proper.astype(bool).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> StoryTerms:
        n = len(data) // 9
        return cls(np.frombuffer(data, np.uint32, n), np.frombuffer(data, np.float32, n, 4 * n),
                   np.frombuffer(data, bool, n, 8 * n))


def _terms_from_bytes(data: bytes) -> StoryTerms:
    return StoryTerms.from_bytes(data)


@dataclasses.dataclass(frozen=True)
class StoryVector:
    """A story's top-K TF-IDF terms: sorted term hashes and L2-normalised weights."""

    hashes: np.ndarray  # uint32, sorted
    weights: np.ndarray  # float32, same order, unit length

    def __reduce__(self):
        return _vector_from_bytes, (self.to_bytes(),)

    def to_bytes(self) -> bytes:
        return self.hashes.astype(np.uint32).tobytes() + self.weights.astype(np.float32).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> StoryVector:
        half = len(data) // 2
        return cls(np.frombuffer(data, np.uint32, half // 4), np.frombuffer(data, np.float32, offset=half))


def _vector_from_bytes(data: bytes) -> StoryVector:
    return StoryVector.from_bytes(data)


def story_terms(headline: Tokens, body: Tokens, weights: StoryWeights = StoryWeights()) -> StoryTerms:
    """Term counts of a story, with headline occurrences boosted and proper nouns marked.

    A term is proper when at least half its occurrences are capitalised mid-sentence: its
    capitalised occurrences minus its capitalised sentence-initial ones.
    """
    return story_terms_batch([(headline, body)], weights)[0]


def story_terms_batch(texts: Sequence[tuple[Tokens, Tokens]], weights: StoryWeights = StoryWeights()) -> list[StoryTerms]:
    """`story_terms` of many (headline, body) pairs, in one set of numpy calls for all of them.

    Each occurrence is a row (story, term hash, seen, in the headline, mid-sentence capital): the
    rows of all bodies, then of all headlines, then the sentence-initial capitals (capital -1).
    One sort by (story, 32-bit term hash) groups them to sum per term (terms whose 32-bit hashes
    collide count as one); a term's count is its occurrences plus (boost - 1) per headline one.
    """
    heads, bodies = [h for h, _ in texts], [b for _, b in texts]
    initials = [[t for t in h.sentence_initial + b.sentence_initial if t[:1].isupper()] for h, b in texts]
    initial_folded = casefold_all([t for story in initials for t in story])
    per_story = np.array(
        [[len(b.written) for b in bodies], [len(h.written) for h in heads], [len(i) for i in initials]]
    )
    story = np.repeat(np.tile(np.arange(len(texts), dtype=np.uint64), 3), per_story.ravel())
    sizes = per_story.sum(axis=1)
    head_and_initial = [t for h in heads for t in h.folded] + initial_folded
    hashes = np.concatenate([b.hashes for b in bodies] + [token_hashes(head_and_initial)])  # bodies' are the shingles'
    headline = np.repeat([0.0, 1.0, 0.0], sizes)
    seen = np.repeat([1.0, 1.0, 0.0], sizes)
    capital = np.concatenate((capitalised(bodies + heads), np.full(sizes[2], -1.0)))
    lengths, digit = folded_shapes([t.folded_joined for t in bodies + heads] + ["\x00".join(initial_folded)])
    keep = ((lengths > 1) & ~_STOPWORDS.contains(hashes)) | digit  # one-digit terms count, one letter does not
    keys = (story[keep] << np.uint64(32)) | (hashes[keep] & np.uint64(0xFFFFFFFF))
    order = np.argsort(keys)  # sums of whole counts: the order within a term does not matter
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1]))) if len(keys) else np.zeros(0, int)

    def per_term(values):
        return np.add.reduceat(values[keep][order], starts) if len(starts) else np.zeros(0)

    seen, mid_capital, headline = per_term(seen), per_term(capital), per_term(headline)
    counts = (seen + (weights.headline_boost - 1.0) * headline).astype(np.float32)
    proper = (mid_capital > 0) & (2 * mid_capital >= seen)
    term_hashes = (ordered[starts] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    bounds = np.searchsorted(ordered[starts] >> np.uint64(32), np.arange(len(texts) + 1, dtype=np.uint64)).tolist()
    return [
        StoryTerms(term_hashes[a:b], counts[a:b], proper[a:b]) for a, b in itertools.pairwise(bounds)
    ]


def df_buckets(hashes: np.ndarray) -> np.ndarray:
    return (hashes & np.uint32(DF_BUCKETS - 1)).astype(np.int64)


def count_document(table: np.ndarray, hashes: np.ndarray) -> None:
    """Add one story's terms to a hashed DF table in place: +1 per term in its bucket.

    One indexed add, then `np.add.at` for the rare bucket repeats only (two terms of the story
    in one bucket count twice): the same table as `np.add.at` over all terms, 3x faster.
    """
    buckets = np.sort(df_buckets(hashes))
    table[buckets] += 1
    repeats = buckets[1:][buckets[1:] == buckets[:-1]]
    if len(repeats):
        np.add.at(table, repeats, 1)


def story_vector(
    terms: StoryTerms, df_table: np.ndarray, n_docs: int, weights: StoryWeights = StoryWeights()
) -> StoryVector:
    if len(terms.hashes) == 0:
        return StoryVector(terms.hashes, np.empty(0, dtype=np.float32))
    df = df_table[df_buckets(terms.hashes)].astype(np.float64)
    idf = np.log((n_docs + 1.0) / (df + 1.0)) + 1.0
    w = (1.0 + np.log(terms.counts.astype(np.float64))) * idf
    w = np.where(terms.proper, w * weights.proper_boost, w)
    if len(w) > weights.top_k:
        top = np.lexsort((terms.hashes, -w))[: weights.top_k]  # ties broken by hash: deterministic
        top.sort()
    else:
        top = np.arange(len(w))
    chosen = w[top]
    norm = math.sqrt(float(np.dot(chosen, chosen))) or 1.0
    return StoryVector(terms.hashes[top], (chosen / norm).astype(np.float32))


def signature_terms(vector: StoryVector, n: int) -> np.ndarray:
    """Sorted hashes of the vector's `n` heaviest terms (ties broken by hash): the story MinHash's set."""
    if len(vector.hashes) <= n:
        return vector.hashes
    return np.sort(vector.hashes[np.lexsort((vector.hashes, -vector.weights))[:n]])


def cosine(a: StoryVector, b: StoryVector) -> float:
    if len(a.hashes) == 0 or len(b.hashes) == 0:
        return 0.0
    at = np.searchsorted(b.hashes, a.hashes)  # both sorted: one binary search per term of a
    at[at == len(b.hashes)] = 0
    shared = b.hashes[at] == a.hashes
    return float(np.dot(a.weights[shared].astype(np.float64), b.weights[at[shared]]))


def cosines(vectors: list[StoryVector], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """`cosine` of many pairs at once: vectors[left[i]] with vectors[right[i]], for every i.

    The vectors become the rows of one sparse matrix (a column per distinct term); each chunk of
    pairs is an element-wise product of two row selections, summed per row. In C, ~1 us a pair
    against ~7 us for a `cosine` call.
    """
    scores = np.zeros(len(left), dtype=np.float64)
    if len(left) == 0:
        return scores
    lengths = np.fromiter((len(v.hashes) for v in vectors), dtype=np.int64, count=len(vectors))
    terms, columns = np.unique(np.concatenate([v.hashes for v in vectors]), return_inverse=True)
    weights = np.concatenate([v.weights for v in vectors]).astype(np.float64)
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    matrix = scipy.sparse.csr_array((weights, columns, indptr), shape=(len(vectors), len(terms)))
    for start in range(0, len(left), _PAIR_CHUNK):
        end = start + _PAIR_CHUNK
        scores[start:end] = matrix[left[start:end]].multiply(matrix[right[start:end]]).sum(axis=1)
    return scores
