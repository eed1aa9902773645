"""Key joins used to bring compact per-item values to pairs and edges."""
from __future__ import annotations

import pickle
from typing import Any

import apache_beam as beam

from dedup.keyfilter import key_filter, may_contain, union


class AttachValues(beam.PTransform):
    """Join `items` (key, item) with value collections (key, value): emit (key, (value, ...), item) per item.

    The values come in the order of the collections. Items whose key lacks a value in any of them
    are dropped; each key must have at most one value per collection.
    """

    def __init__(self, *values):
        super().__init__()
        self.values = values

    def expand(self, items):
        tags = [f"value{i}" for i in range(len(self.values))]
        return (
            dict(zip(tags, self.values), items=items)
            | "CoGroup" >> beam.CoGroupByKey()
            | "Attach" >> beam.FlatMap(_attach, tags, len(tags) == 1)
        )


class AttachValue(AttachValues):
    """`AttachValues` with one value collection: emit (key, value, item) per item."""

    def __init__(self, values):
        super().__init__(values)


def _attach(element, tags: list[str], single: bool):
    key, grouped = element
    values = [list(grouped[tag]) for tag in tags]
    if all(values):
        value = values[0][0] if single else tuple(v[0] for v in values)
        for item in grouped["items"]:
            yield key, value, item


MATCHED = "matched"
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_FILTER_BATCH = 8192


class AttachToPairs(beam.PTransform):
    """Join ((a, b), item) pairs with values (key, value): emit (a, value of a, b, value of b, item)
    (`pairs`), and (key, value) once for every key that is an end of at least one pair (`matched`).

    Each endpoint meets its value in one `CoGroupByKey` by key, and the two halves of a pair meet
    again in a plain `GroupByKey` by pair: one multi-input join where attaching one endpoint after
    the other takes two (the DirectRunner materialises every multi-input Flatten, decoding and
    re-encoding all the values it carries). Values cross both shuffles pickled once, as bytes, which
    each decoding and re-encoding only copies (a variant node's 6.5 us becomes 1.7). Pairs with an
    endpoint lacking a value are dropped; each key must have at most one value, and each pair must
    appear once.

    Many values are no pair's end (at 100,000 generated stories about half of the variant nodes and
    of the story signatures): a Bloom filter of the pairs' ends (`dedup.keyfilter`, built from
    batches and OR-ed together, 1 MiB however many) drops those before the shuffle, which then
    holds and groups only the values a pair can use (the variant nodes' shuffle: 277 -> 147 MiB).
    """

    def __init__(self, values):
        super().__init__()
        self.values = values

    def expand(self, pairs):
        end_filter = (
            pairs
            | "EndKeys" >> beam.FlatMap(lambda pair: pair[0])
            | "BatchEndKeys" >> beam.BatchElements(min_batch_size=256, max_batch_size=_FILTER_BATCH)
            | "EndFilters" >> beam.Map(key_filter)
            | "EndFilter" >> beam.CombineGlobally(union)
        )
        values = (
            self.values
            | "Pickle" >> beam.Map(lambda kv: (kv[0], pickle.dumps(kv[1], _PROTOCOL)))
            | "BatchValues" >> beam.BatchElements(min_batch_size=256, max_batch_size=_FILTER_BATCH)
            | "OnlyEnds" >> beam.FlatMap(_maybe_ends, beam.pvalue.AsSingleton(end_filter))
        )
        ends = (
            {
                "value": values,
                "end": pairs | "Ends" >> beam.FlatMap(_pair_ends),
            }
            | "ByKey" >> beam.CoGroupByKey()
            | "ValueToPairs" >> beam.FlatMap(_value_to_pairs).with_output_types(
                tuple[Any, Any]  # inferred, the main output's type would include the tagged one
            ).with_outputs(MATCHED, main="ends")
        )
        joined = ends.ends | "ByPair" >> beam.GroupByKey() | "BothEnds" >> beam.FlatMap(_both_ends)
        matched = ends[MATCHED] | "Unpickle" >> beam.Map(lambda kv: (kv[0], pickle.loads(kv[1])))
        return {"pairs": joined, MATCHED: matched}


def _maybe_ends(batch, end_filter):
    """The (key, value)s of a batch whose key may be a pair's end."""
    for kv, keep in zip(batch, may_contain(end_filter, [key for key, _ in batch]).tolist()):
        if keep:
            yield kv


def _pair_ends(pair):
    (a, b), item = pair
    yield a, ((a, b), 0, item)
    yield b, ((a, b), 1, None)  # the item travels with one end only


def _value_to_pairs(element):
    key, grouped = element
    for value in grouped["value"]:  # at most one
        matched = False
        for pair, end, item in grouped["end"]:
            matched = True
            yield pair, (end, value, item)
        if matched:
            yield beam.pvalue.TaggedOutput(MATCHED, (key, value))


def _both_ends(element):
    (a, b), ends = element
    ends = sorted(ends, key=lambda e: e[0])
    if len(ends) == 2:
        (_, value_a, item), (_, value_b, _) = ends
        yield a, pickle.loads(value_a), b, pickle.loads(value_b), item
