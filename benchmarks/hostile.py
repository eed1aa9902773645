"""Seeded generators of hostile input, one class per function, shared by tests and RELIABILITY.md.

Every class returns `(lines, expected)`: raw JSONL lines (bytes, no newline) and, per line, the
outcome the pipeline must reach: "variant" or the dead-letter reason it must carry ("dead" when
any reason is acceptable, e.g. for random bytes).
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

import orjson

VOWELS = "aeiou"
CONSONANTS = "bcdfghjklmnprstvwz"


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """Pronounceable pseudo-words: stand-ins for real vocabulary that no language model knows."""
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(1, 4)
        words.add("".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(syllables)))
    return sorted(words)


def prose(rng: random.Random, vocab: list[str], n_words: int) -> str:
    """Sentences of pseudo-words with capitalised starts and an occasional proper name."""
    sentences, sentence = [], []
    for _ in range(n_words):
        word = rng.choice(vocab)
        sentence.append(word.capitalize() if not sentence or rng.random() < 0.08 else word)
        if len(sentence) >= rng.randint(8, 22):
            sentences.append(" ".join(sentence) + ".")
            sentence = []
    if sentence:
        sentences.append(" ".join(sentence) + ".")
    return " ".join(sentences)


def story(id_: str, body: str, source: str = "AP", headline: str | None = None,
          published_at: str = "2024-03-01T12:00:00Z", **fields) -> dict:
    record = {"id": id_, "source": source, "headline": headline or f"Headline {id_}", "body": body,
              "published_at": published_at}
    record.update(fields)
    return record


def _dumps(record) -> bytes:
    return orjson.dumps(record)


def _valid(rng: random.Random, index: int, vocab: list[str], **fields) -> dict:
    return story(f"h{index}-{rng.getrandbits(40):010x}", fields.pop("body", None) or prose(rng, vocab, 40), **fields)


Generated = tuple[list[bytes], list[str]]


def random_bytes(rng: random.Random, n: int) -> Generated:
    lines = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 400))).replace(b"\n", b" ") for _ in range(n)]
    lines = [line if line.strip() else b"\x00" for line in lines]
    return lines, ["dead"] * n


def invalid_utf8(rng: random.Random, n: int) -> Generated:
    vocab = vocabulary(rng, 200)
    lines = []
    for i in range(n):
        raw = _dumps(_valid(rng, i, vocab))
        cut = rng.randrange(len(raw) // 2, len(raw) - 2)
        lines.append(raw[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) + raw[cut:])
    return lines, ["invalid_utf8"] * n


def json_not_an_object(rng: random.Random, n: int) -> Generated:
    values = [b"[]", b'["id", "body"]', b"42", b"-1.5e10", b'"a string"', b"null", b"true", b"false"]
    return [values[i % len(values)] for i in range(n)], ["not_an_object"] * n


def malformed_json(rng: random.Random, n: int) -> Generated:
    vocab = vocabulary(rng, 200)
    bad = []
    for i in range(n):
        raw = _dumps(_valid(rng, i, vocab))
        kind = i % 5
        if kind == 0:
            bad.append(raw[: rng.randrange(1, len(raw) - 1)])  # truncated
        elif kind == 1:
            bad.append(raw[:-1] + b', "x": NaN}')  # NaN is not JSON
        elif kind == 2:
            bad.append(raw.replace(b'"body":"', b'"body":"\\ud800', 1))  # lone surrogate escape
        elif kind == 3:
            bad.append(raw.replace(b":", b"\x00:", 1))  # raw NUL outside a string
        else:
            bad.append(b"{'id': 'single-quoted'}")
    return bad, ["malformed_json"] * n


def deeply_nested(rng: random.Random, n: int) -> Generated:
    """Nesting beyond the parser (1024), beyond the output encoder (255), and a tolerable depth."""
    vocab = vocabulary(rng, 200)
    lines, expected = [], []
    for i in range(n):
        kind = i % 3
        depth = (2000, 300, 100)[kind]
        record = _dumps(_valid(rng, i, vocab))[:-1] + b', "meta": ' + b"[" * depth + b"]" * depth + b"}"
        lines.append(record)
        expected.append(("malformed_json", "too_deeply_nested", "variant")[kind])
    return lines, expected


def wrong_types(rng: random.Random, n: int) -> Generated:
    vocab = vocabulary(rng, 200)
    swaps = [("id", 5), ("body", ["list"]), ("headline", {"o": 1}), ("published_at", 1700000000), ("url", True)]
    lines = []
    for i in range(n):
        record = _valid(rng, i, vocab)
        name, value = swaps[i % len(swaps)]
        record[name] = value
        lines.append(_dumps(record))
    return lines, ["wrong_type"] * n


def huge_fields(rng: random.Random, n: int) -> Generated:
    """Half-megabyte headlines/urls/extras are kept; a line over the record limit is dead-lettered."""
    vocab = vocabulary(rng, 200)
    lines, expected = [], []
    for i in range(n):
        field = ("headline", "url", "byline", "notes")[i % 4]
        record = _valid(rng, i, vocab)
        record[field] = "x" * 500_000
        lines.append(_dumps(record))
        expected.append("variant")
    lines.append(_dumps(_valid(rng, n, vocab, body="y " * 1_500_000)))
    expected.append("oversize")
    return lines, expected


def control_characters(rng: random.Random, n: int) -> Generated:
    vocab = vocabulary(rng, 200)
    controls = "".join(chr(c) for c in [*range(32), 127, *range(0x80, 0xA0), 0x2028, 0x2029])
    lines = []
    for i in range(n):
        words = prose(rng, vocab, 30).split()
        body = " ".join(w + rng.choice(controls) if rng.random() < 0.3 else w for w in words)
        lines.append(_dumps(_valid(rng, i, vocab, body=body, headline="\x00" + body[:40])))
    return lines, ["variant"] * n


SCRIPTS = [
    "\u0627\u0644\u0631\u0626\u064a\u0633 \u064a\u0632\u0648\u0631 \u0627\u0644\u0645\u062f\u064a\u0646\u0629",  # Arabic
    "\u05e8\u05d0\u05e9 \u05d4\u05de\u05de\u05e9\u05dc\u05d4 \u05e0\u05e4\u05d2\u05e9",  # Hebrew
    "\u202eevil override\u202c \u2067isolate\u2069",  # bidi controls
    "Z\u0351\u0348a\u0367l\u0313\u0346g\u0360o\u0310 combining",  # stacked combining marks
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1fa\U0001f1e6 \u2764\ufe0f",  # emoji ZWJ, flags
    "\u6771\u4eac \u041c\u043e\u0441\u043a\u0432\u0430 Lagos \u0926\u093f\u0932\u094d\u0932\u0940",  # mixed scripts
    "\ufb01nance \u2460 \uff21\uff22\uff23",  # ligatures and compatibility forms NFKC rewrites
]


def unicode_scripts(rng: random.Random, n: int) -> Generated:
    vocab = vocabulary(rng, 200)
    lines = []
    for i in range(n):
        body = " ".join(rng.choice(SCRIPTS) if rng.random() < 0.5 else w for w in prose(rng, vocab, 30).split())
        lines.append(_dumps(_valid(rng, i, vocab, body=body, headline=rng.choice(SCRIPTS))))
    return lines, ["variant"] * n


def one_word_bodies(rng: random.Random, n: int) -> Generated:
    vocab = vocabulary(rng, 200)
    return [_dumps(_valid(rng, i, vocab, body=rng.choice(vocab + ["!", "\u2014", "42"]))) for i in range(n)], ["variant"] * n


def extreme_timestamps(rng: random.Random, n: int) -> Generated:
    vocab = vocabulary(rng, 200)
    cases = [
        ("0001-01-01T00:00:00Z", "variant"),
        ("9999-12-31T23:59:59.999999+00:00", "variant"),
        ("1970-01-01T00:00:00-12:00", "variant"),
        ("0001-01-01T00:00:00+01:00", "bad_timestamp"),  # leaves the representable range in UTC
        ("2016-12-31T23:59:60Z", "bad_timestamp"),  # leap second
        ("+275760-09-13T00:00:00Z", "bad_timestamp"),
        ("2024-02-30T00:00:00Z", "bad_timestamp"),
        ("2024-03-01T12:00:00", "timestamp_without_zone"),
    ]
    lines, expected = [], []
    for i in range(n):
        moment, outcome = cases[i % len(cases)]
        lines.append(_dumps(_valid(rng, i, vocab, published_at=moment)))
        expected.append(outcome)
    return lines, expected


def duplicate_ids(rng: random.Random, n: int) -> Generated:
    """The same (source, id) with different bodies: the first by file and line is kept."""
    vocab = vocabulary(rng, 200)
    id_ = f"dup-{rng.getrandbits(40):010x}"
    lines = [_dumps(story(id_, prose(rng, vocab, 40))) for _ in range(n)]
    return lines, ["variant"] + ["duplicate_id"] * (n - 1)


def identical_bodies(rng: random.Random, n: int) -> Generated:
    """One body under different ids and sources: all kept, as reprints of one story."""
    vocab = vocabulary(rng, 200)
    body = prose(rng, vocab, 60)
    return [_dumps(story(f"same-{i}-{rng.getrandbits(40):010x}", body, source=f"S{i % 7}")) for i in range(n)], ["variant"] * n


HOSTILE_CLASSES: dict[str, Callable[[random.Random, int], Generated]] = {
    "random bytes": random_bytes,
    "invalid UTF-8": invalid_utf8,
    "JSON that is not an object": json_not_an_object,
    "malformed JSON (truncated, NaN, lone surrogate, raw NUL)": malformed_json,
    "deep nesting (2000 / 300 / 100 levels)": deeply_nested,
    "wrong field types": wrong_types,
    "huge fields (500 KB) and over-limit records": huge_fields,
    "NUL and control characters in strings": control_characters,
    "RTL, bidi overrides, combining marks, emoji, mixed scripts": unicode_scripts,
    "one-word bodies": one_word_bodies,
    "timestamps far in the past / future, invalid": extreme_timestamps,
    "duplicated ids with different bodies": duplicate_ids,
    "identical bodies with different ids": identical_bodies,
}


def boilerplate_corpus(rng: random.Random, n: int, words: int = 60) -> list[dict]:
    """n unrelated stories that all end with one shared boilerplate paragraph."""
    vocab = vocabulary(rng, 200_000)
    boilerplate = prose(random.Random(0), vocabulary(random.Random(1), 500), 50)
    start = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    return [
        story(f"bp-{i}", prose(rng, vocab, words) + "\n\n" + boilerplate, source=f"S{i % 50}",
              published_at=(start + dt.timedelta(seconds=30 * i)).isoformat().replace("+00:00", "Z"))
        for i in range(n)
    ]


def chain_corpus(rng: random.Random, n: int, words: int = 120, change: float = 0.15) -> list[dict]:
    """n stories, each the previous one with `change` of its words replaced: the ends share nothing."""
    vocab = vocabulary(rng, 20_000)
    current = prose(rng, vocab, words).split()
    start = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    corpus = []
    for i in range(n):
        corpus.append(story(f"chain-{i}", " ".join(current), source=f"S{i}",
                            published_at=(start + dt.timedelta(hours=i)).isoformat().replace("+00:00", "Z")))
        for position in rng.sample(range(len(current)), int(change * len(current))):
            current[position] = rng.choice(vocab)
    return corpus
