"""Seeded synthetic wire corpora of any size, with gold labels, for benchmarks and evaluation.

    .venv/bin/python -m benchmarks.corpus --stories 10000 --out benchmarks/data/wire-10k.jsonl

Each event gets a wire original (300-900 words over a Zipfian vocabulary plus the event's topic
words and named entities), reprints of that copy (tail trims, local word edits, "UPDATE 2-"
headlines, new bylines/datelines: ~30 % of all stories) and write-ups by other outlets (new text
on the same entities and topic). A slice of stories carries one of a few shared boilerplate
paragraphs, which makes hot LSH buckets. Unrelated events share the common vocabulary.

Gold: `cluster` (the event: story tier) and `variant_cluster` (the copy: variant tier).
"""
from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import random

import numpy as np
import orjson

from benchmarks.hostile import vocabulary

OUTLETS = ["AP", "Reuters", "AFP", "dpa", "Bloomberg", "UPI", "PA", "EFE", "Kyodo", "ANSA"]
PAPERS = [f"{city} {kind}" for city in ("Miami", "Tampa", "Leeds", "Perth", "Dublin", "Austin", "Turin", "Osaka")
          for kind in ("Herald", "Times", "Post", "Courier")]
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class _Words:
    """Vectorised word sampling: a Zipfian common vocabulary and a pool of names."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.common = np.array(vocabulary(random.Random(seed), 30_000))
        weights = 1.0 / (np.arange(len(self.common)) + 10.0)
        # Zipfian draws by inverse CDF: what rng.choice(p=...) does, without its O(vocabulary)
        # cumulative sum on every call (the same draws from the same stream).
        self.cdf = np.cumsum(weights / weights.sum())
        self.cdf /= self.cdf[-1]
        self.names = np.array([w.capitalize() for w in vocabulary(random.Random(seed + 1), 40_000)])
        self.boilerplate = [self.sentences(60, [], []) for _ in range(4)]

    def sentences(self, n_words: int, topic: list[str], entities: list[str]) -> str:
        words = self.common[self.cdf.searchsorted(self.rng.random(n_words), side="right")].astype(object)
        kind = self.rng.random(n_words)
        if topic:
            mask = kind < 0.2
            words[mask] = self.rng.choice(topic, size=int(mask.sum()))
        if entities:
            mask = (kind >= 0.2) & (kind < 0.3)
            words[mask] = self.rng.choice(entities, size=int(mask.sum()))
        out, start = [], 0
        while start < n_words:
            end = min(n_words, start + int(self.rng.integers(10, 25)))
            sentence = list(words[start:end])
            sentence[0] = sentence[0].capitalize()
            out.append(" ".join(sentence) + ".")
            start = end
        return " ".join(out)

    def article(self, n_words: int, topic: list[str], entities: list[str]) -> str:
        paragraphs, left = [], n_words
        while left > 0:
            size = min(left, int(self.rng.integers(40, 90)))
            paragraphs.append(self.sentences(size, topic, entities))
            left -= size
        return "\n\n".join(paragraphs)


def _stamp(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _reprint(words: _Words, body: str, headline: str, n: int) -> tuple[str, str]:
    """A reprint of a wire copy: trimmed tail, a few local word edits, maybe a slugged headline."""
    paragraphs = body.split("\n\n")
    keep = max(2, int(len(paragraphs) * words.rng.uniform(0.7, 1.0)))
    tokens = "\n\n".join(paragraphs[:keep]).split(" ")
    for position in words.rng.choice(len(tokens), size=max(1, len(tokens) // 60), replace=False):
        tokens[position] = str(words.common[words.rng.integers(0, 3000)])
    if n % 3 == 1:
        headline = f"UPDATE {n}-{headline}"
    elif n % 3 == 2:
        headline = headline.split(":")[0] + ": " + words.sentences(4, [], []).rstrip(".")
    return " ".join(tokens), headline


def generate(n_stories: int, seed: int = 0, boilerplate_share: float = 0.1, days: int = 30) -> list[dict]:
    """`n_stories` records whose events start at random times over `days` days."""
    words = _Words(seed)
    rng = words.rng
    records: list[dict] = []
    event = 0
    while len(records) < n_stories:
        event += 1
        topic = list(words.common[rng.integers(200, len(words.common), size=30)])
        entities = list(words.names[rng.integers(0, len(words.names), size=5)])
        t0 = START + dt.timedelta(seconds=int(rng.integers(0, days * 86400)))
        headline = " ".join(entities[:2]) + " " + words.sentences(6, topic, []).rstrip(".")
        body = words.article(int(rng.integers(300, 901)), topic, entities)
        wire = OUTLETS[event % len(OUTLETS)]
        copies = [("wire", wire, body, headline, t0, f"e{event}-c0")]
        for n in range(1, 1 + int(rng.poisson(0.6))):
            text, title = _reprint(words, body, headline, n)
            copies.append(("newspaper", str(rng.choice(PAPERS)), text, title,
                           t0 + dt.timedelta(minutes=int(rng.integers(5, 24 * 60))), f"e{event}-c0"))
        for w in range(1, 1 + int(rng.poisson(0.4))):
            outlet = OUTLETS[(event + w) % len(OUTLETS)]
            text = words.article(int(rng.integers(300, 700)), topic, entities)
            title = " ".join(entities[1:3]) + " " + words.sentences(6, topic, []).rstrip(".")
            copies.append(("wire", outlet, text, title, t0 + dt.timedelta(hours=int(rng.integers(1, 48))),
                           f"e{event}-c{w}"))
        for index, (source_type, source, text, title, moment, copy) in enumerate(copies):
            if rng.random() < boilerplate_share:
                text = text + "\n\n" + words.boilerplate[int(rng.integers(0, len(words.boilerplate)))]
            records.append({
                "id": f"e{event}-{index}", "source": source, "source_type": source_type,
                "headline": title, "body": text, "byline": f"By {words.names[rng.integers(0, 40_000)]}",
                "dateline": str(words.names[rng.integers(0, 40_000)]).upper(), "published_at": _stamp(moment),
                "url": f"https://{source.lower().replace(' ', '')}.example/{event}/{index}", "language": "en",
                "cluster": f"e{event}", "variant_cluster": copy,
            })
    return records[:n_stories]


def write(records: list[dict], path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=int, default=30,
                        help="event-time span: the same stories over more days are a lower feed rate")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write(generate(args.stories, args.seed, days=args.days), pathlib.Path(args.out))


if __name__ == "__main__":
    main()
