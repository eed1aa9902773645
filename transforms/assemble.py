"""Streaming: place each arriving story into the stories held within the event-time horizon.

State (per partition key; one partition by default):
- `arrivals`: a bag of the stories accepted and not yet evicted, in arrival order. It is the
  durable state: the working `StoryIndex` (LSH buckets, variant groups, stories, running DF) is a
  per-worker cache rebuilt by replaying the bag whenever it is missing or stale (new worker,
  restart); `progress` holds (generation, frontier): which bag contents the cache reflects, and
  the event-time frontier to restore after a replay.
- `expiry`: an event-time timer at the stalest story's newest member + horizon + allowed
  lateness. When the watermark passes it, that story (and any other now out of the horizon) is
  evicted and the bag is rewritten without it, so state stays flat on an endless feed.

Arrivals also move the data's event-time frontier (the newest `published_at` seen) and evict
against it, which keeps memory flat even where the runner's watermark does not advance (the
local directory source holds it). Output: upsert records; `dead_letters`: stories that arrived
too late (older than frontier - allowed lateness) or repeat a (source, id) still held.
"""
from __future__ import annotations

import apache_beam as beam
import orjson
from apache_beam.coders import coders
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.utils.timestamp import Timestamp

from dedup.incremental import ADDED, TOO_LATE, StoryIndex, StreamSettings
from schemas.records import DeadLetter, WireStory
from transforms.metrics import NAMESPACE, Progress, StageTimer

DEAD = "dead_letters"
PARTITION = "all"
_COMPACT_MIN = 1000  # rewrite the bag once it holds this many evicted stories and as many as live ones


def story_line(story: WireStory) -> str:
    """The input record of a validated story, for dead letters raised after validation."""
    fields = {
        "id": story.id, "source": story.source, "source_type": story.source_type, "headline": story.headline,
        "body": story.body, "byline": story.byline, "dateline": story.dateline,
        "published_at": story.published_at, "url": story.url, "language": story.language,
    }
    return orjson.dumps({**story.extra, **{k: v for k, v in fields.items() if v is not None}}).decode()


class _Assemble(beam.DoFn):
    ARRIVALS = userstate.BagStateSpec("arrivals", coders.PickleCoder())
    PROGRESS = userstate.ReadModifyWriteStateSpec(
        "progress", coders.TupleCoder([coders.VarIntCoder(), coders.FloatCoder()])
    )
    EXPIRY = userstate.TimerSpec("expiry", userstate.TimeDomain.WATERMARK)

    def __init__(self, settings: StreamSettings, watermark_timers: bool):
        self.settings, self.watermark_timers = settings, watermark_timers
        self.timer = StageTimer("assemble")
        self.upserts = Metrics.counter(NAMESPACE, "upserts_emitted")
        self.merged = Metrics.counter(NAMESPACE, "stories_merged")
        self.evicted = Metrics.counter(NAMESPACE, "stories_evicted")
        self.rebuilt = Metrics.counter(NAMESPACE, "state_cache_rebuilds")
        self.held = Metrics.gauge(NAMESPACE, "stories_held")
        self.progress = Progress("assemble", "stories")

    def setup(self):
        self._cache: dict[str, tuple[int, int, StoryIndex]] = {}  # key -> (generation, bag size, index)

    def process(self, element, arrivals=beam.DoFn.StateParam(ARRIVALS),
                progress=beam.DoFn.StateParam(PROGRESS), expiry=beam.DoFn.TimerParam(EXPIRY)):
        key, story = element
        self.progress.tick()
        with self.timer():
            index, bag_size = self._index(key, arrivals, progress)
            evicted_before = index.stats["evicted_stories"]
            status, upserts = index.add(story)
            if status == ADDED:
                arrivals.add(story)
                bag_size += 1
            bag_size = self._save(key, index, bag_size, arrivals, progress, evicted_before, expiry)
        if status != ADDED:
            Metrics.counter(NAMESPACE, f"dead_letter_{status}").inc()
            detail = (f"published_at {story.published_at} is older than the event-time frontier minus the "
                      f"allowed lateness" if status == TOO_LATE else "(source, id) already held in the horizon")
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter(status, detail, story.provenance, story_line(story)))
            return
        self.upserts.inc(len(upserts))
        self.merged.inc(sum("merged_into" in u for u in upserts))
        yield from upserts

    @userstate.on_timer(EXPIRY)
    def expire(self, key=beam.DoFn.KeyParam, fired=beam.DoFn.TimestampParam,
               arrivals=beam.DoFn.StateParam(ARRIVALS), progress=beam.DoFn.StateParam(PROGRESS),
               expiry=beam.DoFn.TimerParam(EXPIRY)):
        with self.timer():
            index, bag_size = self._index(key, arrivals, progress)
            evicted_before = index.stats["evicted_stories"]
            # The watermark passed `fired`: nothing on time can be older than fired - allowed lateness.
            index.advance(float(fired.micros) / 1e6)
            self._save(key, index, bag_size, arrivals, progress, evicted_before, expiry)
        return []

    def _index(self, key, arrivals, progress) -> tuple[StoryIndex, int]:
        generation, frontier = progress.read() or (0, float("-inf"))
        cached = self._cache.get(key)
        if cached is not None and cached[0] == generation:
            return cached[2], cached[1]
        self.rebuilt.inc()
        index, bag_size = StoryIndex(self.settings), 0
        for story in arrivals.read():
            index.add(story)
            bag_size += 1
        index.advance(frontier)  # timer-driven advances are not in the bag
        return index, bag_size

    def _save(self, key, index, bag_size, arrivals, progress, evicted_before, expiry) -> int:
        self.evicted.inc(index.stats["evicted_stories"] - evicted_before)
        live = len(index.held)
        if bag_size - live >= max(_COMPACT_MIN, live):
            arrivals.clear()
            for held in index.held.values():  # dict order is arrival order
                arrivals.add(held.story)
            bag_size = live
        generation = (progress.read() or (0, 0.0))[0] + 1
        progress.write((generation, index.frontier))
        self._cache[key] = (generation, bag_size, index)
        self.held.set(live)
        oldest = index.oldest_expiry()
        s = self.settings
        if self.watermark_timers and oldest is not None and s.horizon_s != float("inf"):
            expiry.set(Timestamp(seconds=oldest + s.horizon_s + s.allowed_lateness_s + 1))
        return bag_size


class AssembleStories(beam.PTransform):
    """WireStory -> upsert records (main) and `dead_letters`; see the module docstring for state.

    `watermark_timers=False` leaves eviction to the data frontier alone, for runners whose
    watermark is not meaningful for the source (the local directory watcher).
    """

    def __init__(self, settings: StreamSettings, watermark_timers: bool = True):
        super().__init__()
        self.settings, self.watermark_timers = settings, watermark_timers

    def expand(self, stories):
        return (
            stories
            | "Partition" >> beam.Map(lambda story: (PARTITION, story)).with_output_types(tuple[str, WireStory])
            | "Assemble" >> beam.ParDo(_Assemble(self.settings, self.watermark_timers)).with_outputs(DEAD, main="upserts")
        )
