"""Streaming benchmark: replay a generated corpus through the local streaming mode.

    .venv/bin/python -m benchmarks.streaming --stories 100000 --per_file 500 --markdown STREAMING.md

The corpus (`benchmarks.corpus`, `--days` of event time, 30 by default) is replayed in event-time order into a
watched folder as fast as the job takes it (`--rate 0`) or at a fixed rate, while the job runs as a
subprocess exactly as a user would start it. Measured:
- throughput: stories replayed / seconds from the first file landing to the last upsert written;
- latency: for each story, the time its file landed -> the first upsert file containing it
  (upsert files are named by their UTC write time in microseconds), p50 / p99;
- memory over time: RSS of the job's process tree, sampled every second, against how much of
  the corpus had been placed in an upsert by then, to show it flattens once the 72 h horizon is full.
"""
from __future__ import annotations

import argparse
import bisect
import datetime as dt
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import orjson

from benchmarks.markdown import command_line, publish
from benchmarks.memory import tree_rss_mib

REPO = pathlib.Path(__file__).resolve().parents[1]


def _write_time(name: str) -> float:
    stamp = name.split("-")[1]  # stories-20261125T091055252624Z-<random>.jsonl
    return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.timezone.utc).timestamp()


def measure(stories: int, days: int, per_file: int, rate: float, idle_s: float) -> dict:
    from benchmarks.corpus import generate, write
    from pipeline.replay import event_ordered_lines, replay
    from schemas.validate import story_uid

    work = pathlib.Path(tempfile.mkdtemp(prefix="stream-bench-"))
    corpus = write(generate(stories, seed=0, days=days), work / "corpus.jsonl")
    lines = event_ordered_lines([str(corpus)])
    inbox, out = work / "in", work / "out"
    inbox.mkdir()
    job = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--streaming", "--input_dir", str(inbox), "--output", str(out),
         "--stop_after_idle", str(idle_s), "--poll_interval", "0.5", "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    landed: dict[str, float] = {}

    def on_landed(path, batch, at):
        for line in batch:
            record = orjson.loads(line)
            landed[story_uid(record["source"], record["id"])] = at

    time.sleep(2.0)
    feeder = threading.Thread(target=replay, args=(lines, str(inbox), per_file, rate, on_landed))
    feeder.start()
    memory = []
    while job.poll() is None:
        memory.append((time.time(), tree_rss_mib(job.pid)))
        time.sleep(1.0)
    feeder.join()
    if job.returncode != 0:
        raise RuntimeError(job.stderr.read().decode()[-3000:])

    first_upsert: dict[str, float] = {}
    last_write = 0.0
    for path in sorted(out.glob("stories-*.jsonl")):
        written = _write_time(path.name)
        last_write = max(last_write, written)
        for line in path.read_bytes().splitlines():
            for variant in orjson.loads(line).get("variants", []):
                first_upsert.setdefault(variant["uid"], written)
    latencies = sorted(first_upsert[uid] - at for uid, at in landed.items() if uid in first_upsert)
    dead = sum(len(p.read_bytes().splitlines()) for p in out.glob("dead_letters-*.jsonl"))
    first_landed = min(landed.values())
    placed_at = sorted(first_upsert.values())
    timeline = [(at - first_landed, bisect.bisect_right(placed_at, at), rss) for at, rss in memory]
    return {
        "stories": stories, "days": days, "per_file": per_file, "rate": rate,
        "seconds": last_write - first_landed,
        "stories_per_s": stories / (last_write - first_landed),
        "latency_p50_s": statistics.median(latencies),
        "latency_p99_s": latencies[int(0.99 * (len(latencies) - 1))],
        "placed": len(first_upsert), "dead_letters": dead,
        "memory": timeline,
    }


def markdown(results: list[dict], command: str) -> str:
    first = results[0]
    pace = lambda r: "as fast as the job takes them" if r["rate"] == 0 else f"paced at {r['rate']:g} stories/s"
    rows = []
    for fraction in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        sample = next((m for m in first["memory"] if m[1] >= fraction * first["stories"]), None)
        if sample:
            rows.append(f"| {fraction:.0%} ({sample[1]:,} stories, ~{fraction * first['days']:.1f} days of event time) "
                        f"| {sample[0]:.0f} s | {sample[2]:.0f} MiB |")
    table = ["| measure | " + " | ".join(pace(r) for r in results) + " |", "|---|" + "---|" * len(results)]
    for label, cell in (
        ("throughput (first file landed -> last upsert written), stories/s",
         lambda r: f"{r['stories_per_s']:.0f} ({r['seconds']:.0f} s)"),
        ("latency p50, file landed -> first upsert containing the story", lambda r: f"{r['latency_p50_s']:.2f} s"),
        ("latency p99", lambda r: f"{r['latency_p99_s']:.2f} s"),
        ("stories placed in an upsert / dead letters", lambda r: f"{r['placed']:,} / {r['dead_letters']:,}"),
        ("peak RSS of the job (process tree)", lambda r: f"{max(m[2] for m in r['memory']):.0f} MiB"),
    ):
        table.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")
    return "\n".join([
        section_title(first["stories"], first["days"]),
        "",
        f"Generated by `{command}` on {dt.date.today().isoformat()} ({platform.machine()}, {os.cpu_count()} cores). "
        f"{first['stories']:,} generated stories over {first['days']} days of event time, replayed in event-time order "
        f"into a watched folder, {first['per_file']} stories per file, into `python -m pipeline --streaming` "
        "(72 h horizon, 24 h allowed lateness, local runner). "
        + " ".join(f"At {r['rate']:g} stories/s the job fell behind (it sustained {r['stories_per_s']:.0f} "
                   "stories/s), so that latency is mostly queueing behind the backlog."
                   for r in results if r["rate"] and r["stories_per_s"] < 0.95 * r["rate"]),
        "",
        *table,
        "",
        f"Memory over the {pace(first)} run (RSS of the job's process tree when that share of the corpus "
        "had been placed in an upsert); state is full after ~4 days of event time (72 h horizon + 24 h lateness):",
        "",
        "| placed | elapsed | RSS |",
        "|---|---|---|",
        *rows,
    ]) + "\n"


def section_title(stories: int, days: int) -> str:
    return f"## Streaming: {stories:,} stories over {days} days"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30, help="event-time span of the generated corpus")
    parser.add_argument("--per_file", type=int, default=500)
    parser.add_argument("--rates", default="400,200",
                        help="comma-separated replay rates in stories/s, one run each; 0: as fast as the job "
                             "takes them (the first run's memory timeline is reported)")
    parser.add_argument("--stop_after_idle", type=float, default=20.0)
    parser.add_argument("--markdown", help="replace (or append) the Streaming section of this file, e.g. BENCHMARKS.md")
    args = parser.parse_args(argv)
    results = [measure(args.stories, args.days, args.per_file, float(rate), args.stop_after_idle)
               for rate in args.rates.split(",")]
    return publish(markdown(results, command_line("benchmarks.streaming", argv)), args.markdown)


if __name__ == "__main__":
    sys.exit(main())
