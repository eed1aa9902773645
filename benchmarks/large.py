"""Our pipeline on one large corpus, run as a user runs it: `python -m pipeline`, once per DirectRunner mode.

    .venv/bin/python -m benchmarks.large --stories 1000000 --days 300 --markdown BENCHMARKS.md

Issue 6's bar is 1,000,000 stories end to end in under 15 minutes with a peak RSS under 8 GiB.
A million stories is ~4.5 GB of JSON lines and a run takes tens of minutes, so this is a command of
its own, one run per mode, rather than a point of `benchmarks.run`'s repeated scale curve. The
corpus comes from `benchmarks.corpus` (seed 0); `--corpus` reuses a file written by
`python -m benchmarks.corpus` with the same `--stories` and `--days`. By default 300 days: the
feed rate of the 100,000-story, 30-day corpus of `benchmarks.run`.

Each mode is the job as a subprocess with the defaults (in memory mode it spills past
`--spill_above_mib`), measured from outside every half second:
- peak RSS of the job's process tree: the runner and, in multi_processing mode, its workers, and
  each process's part of it at that peak;
- the most disk space in use: the drop in free space of TMPDIR's file system, where the job writes
  its output and its spill files; spill files are unlinked as soon as they are created, so only the
  file system still counts them.
Both modes must write the same story records; their digests are compared and reported.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import threading
import time

import orjson

from benchmarks.markdown import command_line, publish
from benchmarks.memory import tree_rss_by_process

REPO = pathlib.Path(__file__).resolve().parents[1]
MODES = {
    "in_memory": ("DirectRunner in memory", []),
    "multi_processing": ("DirectRunner multi_processing, 2 workers",
                         ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]),
}
MINUTES_BAR, GIB_BAR = 15, 8


def _free_bytes(path: str) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


class _Sampler:
    """Samples the job's process-tree RSS and the disk space in use until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.5):
        self.pid, self.interval_s = pid, interval_s
        self.temp_dir = tempfile.gettempdir()
        self.free_at_start = _free_bytes(self.temp_dir)
        self.peak_rss_mib = self.peak_disk_bytes = 0.0
        self.peak_runner_mib, self.peak_workers_mib = 0.0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = tree_rss_by_process(self.pid)
            if sum(rss.values()) > self.peak_rss_mib:
                self.peak_rss_mib, self.peak_runner_mib = sum(rss.values()), rss.pop(self.pid, 0.0)
                self.peak_workers_mib = sorted(rss.values(), reverse=True)
            self.peak_disk_bytes = max(self.peak_disk_bytes, self.free_at_start - _free_bytes(self.temp_dir))
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _stories_digest(out: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for shard in sorted(out.glob("stories-*.jsonl")):
        with shard.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                digest.update(chunk)
    return digest.hexdigest()


def measure(corpus: pathlib.Path, mode: str) -> dict:
    """One run of the job in `mode` on `corpus`: seconds, stories, peaks, stage seconds and the output's digest."""
    with tempfile.TemporaryDirectory(prefix="large-bench-") as out:
        started = time.perf_counter()
        job = subprocess.Popen([sys.executable, "-m", "pipeline", "--input", str(corpus), "--output", out, "--quiet",
                                *MODES[mode][1]], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sampler = _Sampler(job.pid)
        _, stderr = job.communicate()
        seconds = time.perf_counter() - started
        sampler.stop()
        if job.returncode != 0:  # a result, not a reason to lose the other modes' runs
            errors = [line for line in stderr.decode(errors="replace").splitlines() if not line.startswith("INFO:")]
            return {"mode": mode, "failed": f"exit status {job.returncode}", "error": "\n".join(errors[-40:])}
        report = orjson.loads((pathlib.Path(out) / "report.json").read_bytes())
        return {
            "mode": mode, "seconds": seconds, "stories": report["accounting"]["records_read"],
            "peak_rss_mib": sampler.peak_rss_mib, "peak_runner_mib": sampler.peak_runner_mib,
            "peak_workers_mib": sampler.peak_workers_mib, "peak_disk_gib": sampler.peak_disk_bytes / 2**30,
            "stages": report["seconds"]["processing_by_stage"], "digest": _stories_digest(pathlib.Path(out)),
        }


def section_title(stories: int, days: int) -> str:
    return f"## Large corpus: {stories:,} stories over {days} days"


def markdown(results: list[dict], stories: int, days: int, corpus_bytes: int, command: str) -> str:
    lines = [
        section_title(stories, days),
        "",
        f"Generated by `{command}` on {dt.date.today().isoformat()}: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, Python "
        f"{platform.python_version()}. Corpus: `python -m benchmarks.corpus --stories {stories} --days {days}` "
        f"(seed 0, {corpus_bytes / 1e9:.1f} GB). One run per mode of `python -m pipeline --input CORPUS --output DIR "
        "--quiet` with the defaults, the modes one after the other; peak RSS is the job's process tree "
        "(runner and workers) and disk space the drop in free space where the job writes its spill files and its output, "
        "both sampled every 0.5 s.",
        "",
        "| mode | seconds | stories/s | peak RSS MiB | at the peak: runner / workers MiB | disk space GiB "
        "| processing seconds by stage |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for result in results:
        if "failed" in result:
            lines.append(f"| {MODES[result['mode']][0]} | failed: {result['failed']} | - | - | - | - | - |")
            continue
        stages = ", ".join(f"{name} {seconds:,.0f}" for name, seconds in result["stages"].items())
        parts = " / ".join([f"{result['peak_runner_mib']:,.0f}",
                            ", ".join(f"{mib:,.0f}" for mib in result["peak_workers_mib"]) or "-"])
        lines.append(f"| {MODES[result['mode']][0]} | {result['seconds']:,.0f} | "
                     f"{result['stories'] / result['seconds']:,.0f} | {result['peak_rss_mib']:,.0f} | {parts} | "
                     f"{result['peak_disk_gib']:.1f} | {stages} |")
    finished = [result for result in results if "failed" not in result]
    if len(finished) > 1:
        same = len({result["digest"] for result in finished}) == 1
        lines += ["", f"Story records identical in every mode: {'yes' if same else '**no**'}."]
    lines += [""]
    for result in results:
        if "failed" in result:
            lines.append(f"- {stories:,} stories in < {MINUTES_BAR} min with < {GIB_BAR} GiB (issue 6), "
                         f"{MODES[result['mode']][0]}: failed ({result['failed']}) — **missed**.")
            continue
        minutes, gib = result["seconds"] / 60, result["peak_rss_mib"] / 1024
        met = minutes < MINUTES_BAR and gib < GIB_BAR
        lines.append(f"- {stories:,} stories in < {MINUTES_BAR} min with < {GIB_BAR} GiB (issue 6), "
                     f"{MODES[result['mode']][0]}: {minutes:.1f} min, {gib:.1f} GiB — {'met' if met else '**missed**'}.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=300, help="event-time span of the generated corpus")
    parser.add_argument("--corpus", help="reuse this file from `python -m benchmarks.corpus` with the same "
                                         "--stories and --days instead of generating it")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--markdown", help="replace (or append) this size's Large corpus section of this file")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="large-corpus-") as work:
        corpus = pathlib.Path(args.corpus or pathlib.Path(work) / "corpus.jsonl")
        if not args.corpus:  # in a process of its own, which gives its memory back when done
            subprocess.run([sys.executable, "-m", "benchmarks.corpus", "--stories", str(args.stories), "--days",
                            str(args.days), "--out", str(corpus)], cwd=REPO, check=True)
        results = [measure(corpus, mode) for mode in modes]
        corpus_bytes = corpus.stat().st_size
    for failed in (result for result in results if "failed" in result):
        print(f"{failed['mode']} failed ({failed['failed']}):\n{failed['error']}", file=sys.stderr)
    text = markdown(results, args.stories, args.days, corpus_bytes, command_line("benchmarks.large", argv))
    return publish(text, args.markdown)


if __name__ == "__main__":
    sys.exit(main())
