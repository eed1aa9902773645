"""Run the batch job and commit its output atomically.

The pipeline writes into OUTPUT/.staging-<run>/; only after it succeeded are the previous
outputs replaced by the staged files, then report.html and, last, report.json written. A run killed part-way leaves the
previous complete output in place (plus a stale staging folder the next run removes).
"""
from __future__ import annotations

import glob
import os
import shutil
import time
import uuid

import apache_beam as beam
import orjson
from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, with_config
from pipeline.engine import local_engine
from pipeline.graph import SUMMARY_FILE, TOP_STORIES_FILE, build
from pipeline.html_report import render_html
from pipeline.options import DedupOptions, job_options, option_names
from pipeline.report import build_report, metric_values
from transforms.write import shard_name

OUTPUT_KINDS = ("stories", "dead_letters")
REPORT_FILE = "report.json"
HTML_REPORT_FILE = "report.html"


class UsageError(ValueError):
    pass


def _matches(pattern: str) -> list[str]:
    return [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list]


def _read_json(path: str):
    with FileSystems.open(path) as handle:
        return orjson.loads(handle.read())


def commit(staging: str, output: str, num_shards: int) -> None:
    """Replace OUTPUT's previous shards with the staged ones, creating empty shards as needed."""
    previous = [p for kind in OUTPUT_KINDS for p in _matches(FileSystems.join(output, f"{kind}-*.jsonl"))]
    previous += _matches(FileSystems.join(output, REPORT_FILE)) + _matches(FileSystems.join(output, HTML_REPORT_FILE))
    if previous:
        FileSystems.delete(previous)
    sources, targets = [], []
    for kind in OUTPUT_KINDS:
        for index in range(num_shards):
            name = shard_name(kind, index, num_shards)
            staged = FileSystems.join(staging, name)
            if not FileSystems.exists(staged):
                FileSystems.create(staged).close()
            sources.append(staged)
            targets.append(FileSystems.join(output, name))
    FileSystems.rename(sources, targets)


def _remove_stale_staging(output: str) -> None:
    """Delete what killed runs left: staging folders (local) or staged objects (blob stores)."""
    if "://" in output:
        stale = _matches(FileSystems.join(output, ".staging-*/*"))
        if stale:
            FileSystems.delete(stale)
    else:
        for folder in glob.glob(os.path.join(output, ".staging-*")):
            shutil.rmtree(folder, ignore_errors=True)


def run(argv: list[str] | None = None) -> dict:
    """Run the batch job described by command-line style `argv`; return the run report."""
    try:
        argv = with_config(list(argv or []))
    except (ConfigError, OSError) as err:
        raise UsageError(str(err)) from err
    options = job_options(argv)
    dedup = options.view_as(DedupOptions)
    if not dedup.input or not dedup.output:
        raise UsageError("--input GLOB and --output DIR are required")
    for pattern in dedup.input:
        if not _matches(pattern):
            raise UsageError(f"--input {pattern!r} matches no file")
    output = dedup.output.rstrip("/") or "/"
    if "://" not in output:
        output = os.path.abspath(output)
        os.makedirs(output, exist_ok=True)
    _remove_stale_staging(output)
    staging = FileSystems.join(output, f".staging-{uuid.uuid4().hex[:12]}")
    FileSystems.mkdirs(staging)

    try:
        started = time.perf_counter()
        pipeline = beam.Pipeline(runner=local_engine(options), options=options)
        build(pipeline, dedup, staging)
        result = pipeline.run()
        result.wait_until_finish()
        wall = time.perf_counter() - started

        summary = _read_json(FileSystems.join(staging, SUMMARY_FILE))
        counters, distributions = metric_values(result)
        report = build_report(summary, counters, distributions, wall, _grouping_options(dedup))
        commit(staging, output, dedup.num_shards)
        top_stories = FileSystems.join(staging, TOP_STORIES_FILE)
        if FileSystems.exists(top_stories):
            with FileSystems.create(FileSystems.join(output, HTML_REPORT_FILE)) as handle:
                handle.write(render_html(report, _read_json(top_stories)).encode())
        with FileSystems.create(FileSystems.join(output, REPORT_FILE)) as handle:
            handle.write(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    finally:
        _remove_stale_staging(output)
    return report


def _grouping_options(dedup: DedupOptions) -> dict:
    return {name: getattr(dedup, name) for name in option_names() if name not in ("input", "output")}
