"""Story-tier terms (`dedup.story.story_terms`) on hand-checked text."""
import numpy as np

from dedup.shingles import token_hashes
from dedup.story import DF_BUCKETS, count_document, df_buckets, story_terms
from dedup.text import Tokens


def term(word: str) -> int:
    return int(token_hashes([word])[0] & np.uint64(0xFFFFFFFF))


def terms_by_word(headline: str, body: str, words: list[str]) -> dict[str, tuple[float, bool]]:
    terms = story_terms(Tokens(headline), Tokens(body))
    found = {int(h): (float(c), bool(p)) for h, c, p in zip(terms.hashes, terms.counts, terms.proper)}
    return {w: found[term(w)] for w in words if term(w) in found}


def test_names_are_capitalised_mid_sentence_and_headline_counts_double():
    body = (
        "Gov.Sarah Palin visited the Wasilla church. Palin spoke to reporters. "
        "Fire crews said the church was empty. Crews found 3 exits and a b c."
    )
    got = terms_by_word("Church fire in Wasilla", body, ["palin", "gov.sarah", "crews", "church", "wasilla", "3", "b"])
    assert got["palin"] == (2.0, True)  # once mid-sentence, once opening a sentence: half capitalised
    assert got["gov.sarah"] == (1.0, False)  # one token, opening the text
    assert got["crews"] == (2.0, False)  # capitalised only where a sentence starts
    assert got["church"] == (2.0 + 2.0, False)  # the headline's occurrence counts twice
    assert got["wasilla"] == (1.0 + 2.0, True)
    assert got["3"] == (1.0, False)  # single digits are terms, single letters ("b") are not
    assert "b" not in got


def test_stopwords_and_empty_texts_have_no_terms():
    assert len(story_terms(Tokens(""), Tokens("")).hashes) == 0
    terms = story_terms(Tokens("The"), Tokens("It was said that they were there."))
    assert len(terms.hashes) == 0


def test_every_term_was_seen():
    terms = story_terms(Tokens("U.S. Army"), Tokens("The U.S.A. team. O'Brien's Team won! \"Yes,\" he said."))
    assert np.all(terms.counts >= 1.0) and np.all(np.diff(terms.hashes.astype(np.int64)) > 0)


def test_count_document_matches_add_at_with_bucket_repeats():
    rng = np.random.default_rng(4)
    table, expected = np.zeros(DF_BUCKETS, np.int32), np.zeros(DF_BUCKETS, np.int32)
    for _ in range(50):
        hashes = rng.integers(0, 2**32, 400, dtype=np.uint64).astype(np.uint32)
        hashes = np.unique(np.concatenate((hashes, hashes[:3] ^ np.uint32(DF_BUCKETS))))  # 3 buckets twice
        assert len(np.unique(df_buckets(hashes))) < len(hashes)
        count_document(table, hashes)
        np.add.at(expected, df_buckets(hashes), 1)
    np.testing.assert_array_equal(table, expected)
