"""Beam Metrics shared by the pipeline's steps: one namespace, per-stage processing time, progress."""
from __future__ import annotations

import contextlib
import logging
import time

from apache_beam.metrics import Metrics

NAMESPACE = "wire_dedup"


class StageTimer:
    """Adds the wall time spent inside `with timer:` blocks to the counter `usecs_<stage>`.

    Summed over all workers, so on a parallel runner it is processing time, not elapsed time.
    Microseconds, because most blocks time one element: in whole milliseconds each would count 0.
    """

    def __init__(self, stage: str):
        self.counter = Metrics.counter(NAMESPACE, f"usecs_{stage}")

    @contextlib.contextmanager
    def __call__(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.counter.inc(int((time.perf_counter() - start) * 1_000_000))


PROGRESS_LOGGER = logging.getLogger("wire_dedup.progress")


class Progress:
    """Logs `progress <stage>: N <unit>, R/s` at most every `every_s` seconds from one DoFn instance.

    Per worker (each instance counts what it processed), at INFO on the `wire_dedup.progress`
    logger; `python -m pipeline` shows them unless `--quiet`. Counting is local, so it costs
    nothing when the logger is off.
    """

    every_s = 10.0

    def __init__(self, stage: str, unit: str):
        self.stage, self.unit = stage, unit
        self.count = 0
        self.started = self.last = None

    def tick(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if self.started is None:
            self.started = self.last = now
        elif now - self.last >= self.every_s:
            self.last = now
            rate = self.count / max(now - self.started, 1e-9)
            PROGRESS_LOGGER.info("progress %s: %s %s, %s/s", self.stage, f"{self.count:,}", self.unit, f"{rate:,.0f}")
