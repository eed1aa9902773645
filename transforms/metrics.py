"""Beam Metrics shared by the pipeline's steps: one namespace, and per-stage processing time."""
from __future__ import annotations

import contextlib
import time

from apache_beam.metrics import Metrics

NAMESPACE = "wire_dedup"


class StageTimer:
    """Adds the wall time spent inside `with timer:` blocks to the counter `msecs_<stage>`.

    Summed over all workers, so on a parallel runner it is processing time, not elapsed time.
    """

    def __init__(self, stage: str):
        self.counter = Metrics.counter(NAMESPACE, f"msecs_{stage}")

    @contextlib.contextmanager
    def __call__(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.counter.inc(int((time.perf_counter() - start) * 1000))
