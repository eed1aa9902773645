"""Key joins used to bring compact per-item values to pairs and edges."""
from __future__ import annotations

import apache_beam as beam


class AttachValue(beam.PTransform):
    """Join `items` (key, item) with `values` (key, value): emit (key, value, item) per item.

    Items whose key has no value are dropped; each key must have at most one value.
    """

    def __init__(self, values):
        super().__init__()
        self.values = values

    def expand(self, items):
        return (
            {"value": self.values, "items": items}
            | "CoGroup" >> beam.CoGroupByKey()
            | "Attach" >> beam.FlatMap(_attach)
        )


def _attach(element):
    key, grouped = element
    values = list(grouped["value"])
    if values:
        for item in grouped["items"]:
            yield key, values[0], item
