"""Watch a directory for new JSON-lines files and read each one once (the local streaming source).

`WatchDirectory` is a splittable DoFn that polls the directory every `poll_s` seconds and
checkpoints between polls, so files are picked up while the pipeline keeps running. It stops
(and lets the pipeline drain) once no file has been modified for `stop_after_idle_s` seconds,
counting from the start of the job; with no idle limit it polls until the job is cancelled.

Each poll emits every matching file; `ReadNewFiles` keeps the first sighting of each path (Beam
state keyed by path), so a file is read exactly once. Files must land atomically (write under
another name, then rename to *.jsonl or *.jsonl.gz); growing a file after it landed is not seen.
"""
from __future__ import annotations

import glob
import os
import time
from typing import Tuple

import apache_beam as beam
from apache_beam.coders import coders
from apache_beam.io import fileio
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms import core, userstate
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration

from transforms.metrics import NAMESPACE
from transforms.read import ReadLinesFn

PATTERNS = ("*.jsonl", "*.jsonl.gz")
_ENDLESS = 1 << 62


class _Polls(core.RestrictionProvider):
    """The restriction is the range of poll numbers still to run."""

    def initial_restriction(self, element):
        return OffsetRange(0, _ENDLESS)

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return 1

    def truncate(self, element, restriction):
        return None  # on drain, stop polling


def _listing(directory: str) -> list[tuple[str, float]]:
    found = set()
    for pattern in PATTERNS:
        found.update(glob.glob(os.path.join(directory, pattern)))
    listing = []
    for path in sorted(found):
        try:
            listing.append((path, os.path.getmtime(path)))
        except OSError:
            continue  # renamed or deleted between glob and stat
    return listing


class WatchDirectory(beam.DoFn):
    """(directory, job start time) -> every matching file path, once per poll, until idle.

    The output watermark is held at the minimum: file paths carry no event time (the stories
    inside carry their own `published_at`).
    """

    def __init__(self, poll_s: float, stop_after_idle_s: float | None):
        self.poll_s, self.stop_after_idle_s = poll_s, stop_after_idle_s

    def process(
        self,
        element,
        tracker=beam.DoFn.RestrictionParam(_Polls()),
        watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider()),
    ):
        directory, started = element
        poll = tracker.current_restriction().start
        if not tracker.try_claim(poll):
            return
        if poll > 0:
            time.sleep(self.poll_s)
        listing = _listing(directory)
        # Idle is judged at listing time: the yields below may run the rest of the bundle inline
        # (fused stages), which can take longer than the idle limit on a busy feed.
        idle_s = time.time() - max([started] + [mtime for _, mtime in listing])
        for path, _ in listing:
            yield beam.window.TimestampedValue(path, MIN_TIMESTAMP)
        if self.stop_after_idle_s is not None and idle_s > self.stop_after_idle_s:
            tracker.try_claim(tracker.current_restriction().stop)  # claim the rest: this element is done
            return
        watermark.set_watermark(MIN_TIMESTAMP)
        tracker.defer_remainder(Duration(seconds=self.poll_s))


class _FirstSighting(beam.DoFn):
    """(path, 0) -> path, the first time a path is seen."""

    SEEN = userstate.ReadModifyWriteStateSpec("seen", coders.BooleanCoder())

    def __init__(self):
        self.files = Metrics.counter(NAMESPACE, "files_picked_up")

    def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
        if not seen.read():
            seen.write(True)
            self.files.inc()
            yield element[0]


class ReadNewFiles(beam.PTransform):
    """Watch `directory`; emit (Provenance, line bytes) for every line of every new file.

    Tagged output `dead_letters`: files that could not be read to their end, as in batch.
    """

    def __init__(self, directory: str, poll_s: float, stop_after_idle_s: float | None):
        super().__init__()
        self.directory = os.path.abspath(directory)
        self.poll_s, self.stop_after_idle_s = poll_s, stop_after_idle_s

    def expand(self, pbegin):
        return (
            pbegin
            | "Start" >> beam.Create([(self.directory, time.time())])
            | "Watch" >> beam.ParDo(WatchDirectory(self.poll_s, self.stop_after_idle_s))
            | "KeyByPath" >> beam.Map(lambda path: (path, 0)).with_output_types(Tuple[str, int])
            | "FirstSighting" >> beam.ParDo(_FirstSighting())
            | "Open" >> fileio.ReadMatches()
            | "Lines" >> beam.ParDo(ReadLinesFn()).with_outputs(ReadLinesFn.DEAD, main="lines")
        )
