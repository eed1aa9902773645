"""Streaming mode: TestStream through the Beam graph, and the command line on a watched folder."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import apache_beam as beam
import orjson
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from dedup.incremental import StreamSettings
from pipeline.replay import event_ordered_lines, replay
from pipeline.run import run
from tests.conftest import REJECTS, REPO, SAMPLE
from tests.helpers import read_jsonl
from tests.test_incremental import HOUR, reprint, topic_story, words
from transforms.assemble import AssembleStories

SETTINGS = StreamSettings(horizon_s=72 * HOUR, allowed_lateness_s=2 * HOUR)


def _ts(story):
    return TimestampedValue(story, story.published_ts)


def _assemble(stream: EventStream, check_upserts, check_dead=None, settings: StreamSettings = SETTINGS):
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    with TestPipeline(options=options) as p:
        out = p | stream | AssembleStories(settings)
        assert_that(out.upserts | beam.Map(lambda u: (u["story_id"], u["version"], u.get("n_variants"),
                                                       u.get("merged_into"))),
                    check_upserts, label="Upserts")
        dead = out.dead_letters | beam.Map(lambda d: (d.reason, orjson.loads(d.line)["id"]))
        assert_that(dead, check_dead or equal_to([]), label="DeadLetters")


def test_in_order_arrivals_grow_one_story_versions_one_to_n():
    stories = [reprint(n, hours=n) for n in range(1, 5)]
    stream = EventStream()
    for story in stories:
        stream = stream.add_elements([_ts(story)]).advance_watermark_to(story.published_ts)
    story_id = f"st-{stories[0].uid}"
    _assemble(stream.advance_watermark_to_infinity(),
              equal_to([(story_id, n, n, None) for n in range(1, 5)]))


def test_out_of_order_within_lateness_joins_and_too_late_is_dead_lettered():
    first, early, too_late = reprint(1, hours=10), reprint(2, hours=8.5), reprint(3, hours=7)
    stream = (
        EventStream()
        .add_elements([_ts(first)]).advance_watermark_to(first.published_ts)
        .add_elements([_ts(early)])  # 1.5 h behind: within the 2 h allowed lateness
        .add_elements([_ts(too_late)])  # 3 h behind
        .advance_watermark_to_infinity()
    )
    story_id = f"st-{first.uid}"
    _assemble(stream, equal_to([(story_id, 1, 1, None), (story_id, 2, 2, None)]),
              equal_to([("too_late", "texas-3")]))


def test_watermark_past_the_horizon_clears_state_and_a_new_copy_starts_a_new_story():
    first = reprint(1, hours=0)
    after = reprint(2, hours=72 + 2 + 1)
    stream = (
        EventStream()
        .add_elements([_ts(first)])
        .advance_watermark_to(first.published_ts + 72 * HOUR + 2 * HOUR + 10)  # the expiry timer fires
        .add_elements([_ts(after)])
        .advance_watermark_to_infinity()
    )
    _assemble(stream, equal_to([(f"st-{first.uid}", 1, 1, None), (f"st-{after.uid}", 1, 1, None)]))


def test_two_stories_merging_emit_merged_into():
    a, b = words("red", 12), words("blue", 12)
    x, y = topic_story("x", a, 1), topic_story("y", b, 2)
    z = topic_story("z", [w for pair in zip(a, b) for w in pair], 3)
    stream = EventStream().add_elements([_ts(x)]).add_elements([_ts(y)]).add_elements([_ts(z)])
    sx, sy = f"st-{x.uid}", f"st-{y.uid}"
    _assemble(stream.advance_watermark_to_infinity(),
              equal_to([(sx, 1, 1, None), (sy, 1, 1, None), (sx, 2, 3, None), (sy, 2, None, sx)]))


def final_groups(directory) -> set[frozenset]:
    """The story groups a consumer of the upserts ends with: highest version per story, absorbed ones dropped."""
    latest = {}
    for record in read_jsonl(directory.glob("stories-*.jsonl")):
        if record["version"] > latest.get(record["story_id"], {"version": 0})["version"]:
            latest[record["story_id"]] = record
    return {frozenset(v["uid"] for v in r["variants"]) for r in latest.values() if "merged_into" not in r}


def test_command_line_watches_a_folder_and_ends_with_the_batch_groups(tmp_path):
    """Files dropped while the job runs are picked up; the sample replayed in event-time order ends
    in the same groups as the batch job; bad records become dead letters; --stop_after_idle exits."""
    batch = tmp_path / "batch"
    run(["--input", str(SAMPLE), "--input", str(REJECTS), "--output", str(batch), "--quiet"])
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    job = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--streaming", "--input_dir", str(inbox), "--output", str(out),
         "--stop_after_idle", "6", "--poll_interval", "0.2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    landed = []
    lines = event_ordered_lines([str(SAMPLE), str(REJECTS)])
    feeder = threading.Thread(target=replay, args=(lines, str(inbox), 4, 8.0, lambda *a: landed.append(a[2])))
    time.sleep(1.0)  # the job is running and has seen an empty folder
    feeder.start()
    stdout, stderr = job.communicate(timeout=240)
    feeder.join()
    assert job.returncode == 0, stderr.decode()[-3000:]
    assert b"drained" in stdout
    assert max(landed) - min(landed) > 1.5  # the files really arrived over time
    assert final_groups(out) == final_groups(batch)
    records = read_jsonl(out.glob("stories-*.jsonl"))
    versions = {}
    for record in records:  # each story's versions are 1, 2, ... in the order they were written
        versions.setdefault(record["story_id"], []).append(record["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    batch_dead = sorted(d["reason"] for d in read_jsonl(batch.glob("dead_letters-*.jsonl")))
    stream_dead = sorted(d["reason"] for d in read_jsonl(out.glob("dead_letters-*.jsonl")))
    assert stream_dead == batch_dead and "duplicate_id" in stream_dead
    assert not [p for p in os.listdir(out) if p.startswith(".")]  # no temporary files left behind


def test_pubsub_graph_reads_a_subscription_and_publishes_upserts_and_dead_letters():
    """The Dataflow graph is built from the same steps (running it needs Pub/Sub: not available here)."""
    from pipeline.options import DedupOptions
    from pipeline.streaming import build_streaming

    options = PipelineOptions(["--streaming", "--input_subscription", "projects/newsroom/subscriptions/wire",
                               "--output_topic", "projects/newsroom/topics/stories"])
    p = beam.Pipeline(options=options)
    build_streaming(p, options.view_as(DedupOptions))
    labels = []

    class Labels(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            labels.append(node.full_label)

    p.visit(Labels())
    for step in ("ReadPubSub/Read", "Parse/Parse", "Assemble/Assemble", "PublishUpserts", "PublishDeadLetters"):
        assert any(label.startswith(step) for label in labels), step


def test_streaming_usage_errors_exit_2(tmp_path, capsys):
    from pipeline.__main__ import main

    assert main(["--streaming", "--output", str(tmp_path)]) == 2
    assert main(["--streaming", "--input_dir", str(tmp_path / "missing"), "--output", str(tmp_path)]) == 2
    assert "exactly one of --input_dir" in capsys.readouterr().err


class _Bag(list):
    def add(self, value):
        self.append(value)

    def read(self):
        return list(self)


class _Value:
    def __init__(self):
        self.value = None

    def read(self):
        return self.value

    def write(self, value):
        self.value = value


class _Timer:
    def set(self, timestamp):
        self.at = timestamp


def test_a_new_worker_rebuilds_the_index_from_beam_state_and_continues_the_versions():
    """The in-memory index is a cache: a fresh DoFn instance (another worker, a restart) replays the bag."""
    from transforms.assemble import _Assemble

    bag, progress, timer = _Bag(), _Value(), _Timer()
    first = _Assemble(SETTINGS, watermark_timers=True)
    first.setup()
    for n in (1, 2, 3):
        upserts = list(first.process(("all", reprint(n, hours=n)), bag, progress, timer))
    assert upserts[-1]["version"] == 3 and len(bag) == 3
    assert timer.at.micros / 1e6 == reprint(3, hours=3).published_ts + 72 * HOUR + 2 * HOUR + 1

    second = _Assemble(SETTINGS, watermark_timers=True)
    second.setup()
    upserts = list(second.process(("all", reprint(4, hours=4)), bag, progress, timer))
    assert [(u["story_id"], u["version"], u["n_variants"]) for u in upserts] == [
        (f"st-{reprint(1, 0).uid}", 4, 4)
    ]
