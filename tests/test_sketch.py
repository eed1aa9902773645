import numpy as np
import pytest
import xxhash
from apache_beam.coders import FastPrimitivesCoder
from datasketch import LeanMinHash, MinHash, MinHashLSH

from dedup.lsh import band_hashes, band_params
from dedup.minhash import estimate_jaccard, signatures, to_lean_minhash
from dedup.shingles import HashSet, jaccard, shingle_hashes, sorted_unique, token_hashes
from dedup.story import StoryTerms, StoryVector
from schemas.records import TierNode


def random_sets(rng, sizes):
    return [np.unique(rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)) for n in sizes]


@pytest.mark.parametrize("num_perm, seed", [(128, 1), (64, 7), (256, 42)])
def test_vectorised_signatures_equal_datasketch(num_perm, seed):
    rng = np.random.default_rng(seed)
    sets = random_sets(rng, [0, 1, 3, 50, 700, 5000, 40000])  # 40000 spans several chunks
    got = signatures(sets, num_perm, seed)
    for values, row in zip(sets, got):
        expected = MinHash(num_perm=num_perm, seed=seed, hashfunc=int)
        expected.update_batch(values.tolist())
        np.testing.assert_array_equal(row, expected.hashvalues)


def test_lean_minhash_round_trip_and_jaccard_estimate():
    rng = np.random.default_rng(3)
    base = random_sets(rng, [2000])[0]
    a, b = base[:1500], base[500:]
    sig_a, sig_b = signatures([a, b], 256)
    lean = to_lean_minhash(sig_a)
    assert isinstance(lean, LeanMinHash)
    np.testing.assert_array_equal(lean.hashvalues, sig_a)
    assert abs(estimate_jaccard(sig_a, sig_b) - jaccard(a, b)) < 0.08
    assert estimate_jaccard(sig_a, sig_b) == pytest.approx(lean.jaccard(to_lean_minhash(sig_b)))


def test_shingles_and_exact_jaccard():
    words = "the quick brown fox jumps over the lazy dog".split()
    a = shingle_hashes(words, 3)
    assert len(a) == 7 and np.all(np.diff(a.astype(np.int64)) > 0)
    b = shingle_hashes(words[:6], 3)
    assert jaccard(a, b) == pytest.approx(4 / 7)
    assert jaccard(a, a) == 1.0
    assert len(shingle_hashes(words[:2], 5)) == 1  # shorter than k: one shingle
    assert len(shingle_hashes([], 5)) == 0


@pytest.mark.parametrize("tokens", [[], [""], ["a"], ["wire", "Zürich", "\u00df", "\ud800x", "東京"]])
def test_token_hashes_are_xxh3_of_each_utf8_token(tokens):
    expected = [xxhash.xxh3_64_intdigest(t.encode("utf-8", "surrogatepass")) for t in tokens]
    got = token_hashes(tokens)
    assert got.dtype == np.uint64 and got.tolist() == expected


@pytest.mark.parametrize("size, high", [(0, 10), (1, 10), (7, 3), (560, 2**32), (50_000, 1000)])
def test_sorted_unique_equals_numpy_unique(size, high):
    values = np.random.default_rng(size).integers(0, high, size=size, dtype=np.uint64).astype(np.uint32)
    got = sorted_unique(values)
    assert got.dtype == np.uint32
    np.testing.assert_array_equal(got, np.unique(values))


@pytest.mark.parametrize("size", [0, 1, 237, 5000])
def test_hash_set_membership_is_exact(size):
    rng = np.random.default_rng(size)
    members = rng.integers(0, 2**64, size=size, dtype=np.uint64)
    members_set = HashSet(members)
    fillers = members_set.table[~np.isin(members_set.table, members)]  # what the empty slots hold
    extremes = np.array([0, 2**64 - 1], dtype=np.uint64)
    queries = np.concatenate((members, fillers, rng.integers(0, 2**64, size=1000, dtype=np.uint64), extremes))
    np.testing.assert_array_equal(members_set.contains(queries), np.isin(queries, members))


def test_band_params_follow_datasketch_and_keys_match_for_equal_bands():
    assert band_params(0.5, 128) == (MinHashLSH(0.5, 128).b, MinHashLSH(0.5, 128).r)
    bands, rows = band_params(0.5, 128)
    rng = np.random.default_rng(1)
    sig = signatures(random_sets(rng, [300]), 128)[0]
    other = sig.copy()
    other[:rows] += 1  # change the first band only
    keys, other_keys = band_hashes(sig, bands, rows), band_hashes(other, bands, rows)
    assert len(keys) == bands and keys[0] != other_keys[0] and keys[1:] == other_keys[1:]
    assert band_hashes(np.full(128, 0xFFFFFFFF, dtype=np.uint32), bands, rows) == []


def test_sketch_records_survive_beam_coding_unchanged():
    """Nodes and term statistics pickle as raw bytes (cheaper shuffles) and come back equal."""
    coder = FastPrimitivesCoder()
    shingles = shingle_hashes(["one", "two", "three", "four", "five", "six", "seven"], 3)
    signature = signatures([shingles], 128, 1)[0]
    terms = StoryTerms(np.array([3, 9], np.uint32), np.array([1.0, 2.5], np.float32), np.array([True, False]))
    vector = StoryVector(np.array([3, 9, 40], np.uint32), np.array([0.6, 0.0, 0.8], np.float32))
    for node in (TierNode(5.0, signature, shingles), TierNode(5.0, signature, vector)):
        back = coder.decode(coder.encode(("k", node)))[1]
        assert back.ts == node.ts and np.array_equal(back.signature, node.signature)
        assert back.signature.dtype == np.uint32
        if isinstance(node.payload, np.ndarray):
            assert back.payload.dtype == np.uint32 and np.array_equal(back.payload, node.payload)
        else:
            assert back.payload.hashes.dtype == np.uint32 and back.payload.weights.dtype == np.float32
            assert np.array_equal(back.payload.hashes, vector.hashes)
            assert np.array_equal(back.payload.weights, vector.weights)
    for back in (coder.decode(coder.encode(terms)), StoryTerms.from_bytes(terms.to_bytes())):
        for field in ("hashes", "counts", "proper"):
            assert getattr(back, field).dtype == getattr(terms, field).dtype
            assert np.array_equal(getattr(back, field), getattr(terms, field))
