"""The streaming job: stories arrive continuously; every change to a story is emitted as an upsert.

    python -m pipeline --streaming --input_dir DIR --output OUT [--stop_after_idle SECONDS]

Sources: a watched directory (local) or Pub/Sub (`--input_topic` / `--input_subscription`).
Sinks: OUT/stories-*.jsonl and OUT/dead_letters-*.jsonl, one file per bundle, or Pub/Sub
(`--output_topic`). Validation and sketching are the batch pipeline's own code; grouping is the
incremental `StoryIndex` held in Beam state (see `transforms.assemble`).
"""
from __future__ import annotations

import os
import time

import apache_beam as beam
import orjson
from apache_beam.options.pipeline_options import StandardOptions

from pipeline.config import ConfigError, with_config
from pipeline.engine import local_engine
from pipeline.options import DedupOptions, job_options, stream_settings
from pipeline.run import UsageError
from schemas.records import Provenance
from transforms.assemble import AssembleStories
from transforms.validate import ParseStories
from transforms.watch import ReadNewFiles
from transforms.write import WriteBundleFiles


def _pubsub_lines(p: beam.Pipeline, dedup: DedupOptions):
    """Pub/Sub messages -> (Provenance, bytes): the message id stands in for the line number."""
    source = (f"pubsub:{dedup.input_subscription}" if dedup.input_subscription else f"pubsub:{dedup.input_topic}")
    messages = p | "ReadPubSub" >> beam.io.ReadFromPubSub(
        topic=dedup.input_topic, subscription=dedup.input_subscription, with_attributes=True
    )
    lines = messages | "Lines" >> beam.Map(lambda m: (Provenance(f"{source}#{m.message_id}", 1), m.data))
    return lines, None


def build_streaming(p: beam.Pipeline, dedup: DedupOptions) -> None:
    if dedup.input_dir:
        read = p | "Watch" >> ReadNewFiles(dedup.input_dir, dedup.poll_interval, dedup.stop_after_idle)
        lines, unreadable = read.lines, read.dead_letters
    else:
        lines, unreadable = _pubsub_lines(p, dedup)
    parsed = lines | "Parse" >> ParseStories(dedup.max_record_bytes)
    # The directory watcher holds the watermark at its minimum (file paths carry no event time), and
    # the local runner's watermark does not follow the data: eviction there runs on the data frontier.
    assembled = parsed.stories | "Assemble" >> AssembleStories(stream_settings(dedup), watermark_timers=not dedup.input_dir)
    dead = [parsed.dead_letters, assembled.dead_letters] + ([unreadable] if unreadable is not None else [])
    dead_letters = dead | "DeadLetters" >> beam.Flatten()
    upsert_lines = assembled.upserts | "UpsertLines" >> beam.Map(orjson.dumps)
    dead_lines = dead_letters | "DeadLetterLines" >> beam.Map(lambda d: orjson.dumps(d.to_json()))
    if dedup.output_topic:
        upsert_lines | "PublishUpserts" >> beam.io.WriteToPubSub(dedup.output_topic)
        dead_lines | "PublishDeadLetters" >> beam.io.WriteToPubSub(f"{dedup.output_topic}-dead-letters")
    else:
        upsert_lines | "WriteUpserts" >> WriteBundleFiles(dedup.output, "stories")
        dead_lines | "WriteDeadLetters" >> WriteBundleFiles(dedup.output, "dead_letters")


def run_streaming(argv: list[str]) -> dict:
    """Run until drained (--stop_after_idle) or stopped; returns wall seconds and the output folder."""
    try:
        argv = with_config(list(argv))
    except (ConfigError, OSError) as err:
        raise UsageError(str(err)) from err
    options = job_options(argv)
    options.view_as(StandardOptions).streaming = True
    dedup = options.view_as(DedupOptions)
    sources = [s for s in (dedup.input_dir, dedup.input_topic, dedup.input_subscription) if s]
    if len(sources) != 1:
        raise UsageError("--streaming needs exactly one of --input_dir, --input_topic, --input_subscription")
    if not (dedup.output or dedup.output_topic):
        raise UsageError("--streaming needs --output DIR or --output_topic")
    if dedup.input_dir and not os.path.isdir(dedup.input_dir):
        raise UsageError(f"--input_dir {dedup.input_dir!r} is not a directory")
    if dedup.output:
        dedup.output = os.path.abspath(dedup.output) if "://" not in dedup.output else dedup.output
        if "://" not in dedup.output:
            os.makedirs(dedup.output, exist_ok=True)
    started = time.perf_counter()
    pubsub = bool(dedup.input_topic or dedup.input_subscription or dedup.output_topic)
    pipeline = beam.Pipeline(runner=local_engine(options, pubsub=pubsub), options=options)
    build_streaming(pipeline, dedup)
    pipeline.run().wait_until_finish()
    return {"seconds": time.perf_counter() - started, "output": dedup.output or dedup.output_topic}
