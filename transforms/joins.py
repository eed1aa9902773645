"""Key joins used to bring compact per-item values to pairs and edges."""
from __future__ import annotations

import apache_beam as beam


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
