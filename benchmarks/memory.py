"""Where the in-memory runner's memory goes: peak RSS by stage, and the data held between stages.

    .venv/bin/python -m benchmarks.memory --stories 100000

The FnApiRunner keeps every PCollection that crosses a stage boundary, encoded, from the end of
the stage that writes it until the stage that reads it has run: a shuffle's grouping buffer, or
the materialised output of a stage that several others read. Our engine keeps them in temporary
files (`pipeline.spill`), Beam's own in memory. This runs the pipeline in memory mode (in this
process) and records, for every stage, the peak RSS while it ran and the buffers held at its
start, named by what wrote them and sized by the bytes written into them. The held bytes grow with
the corpus; what RSS holds is the running stage's working memory: its input, decoded, and what
the allocator keeps. It reads FnApiRunner internals (checked by tests/test_benchmarks.py),
so it is a diagnostic, never part of a run.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import re
import sys
import tempfile
import threading
import time

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner

from pipeline.engine import local_engine

_PAGE = 4096


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / 2**20


def tree_rss_mib(pid: int) -> float:
    """Resident memory of `pid` and all its descendants (Linux /proc), in MiB."""
    return sum(tree_rss_by_process(pid).values())


def tree_rss_by_process(pid: int) -> dict[int, float]:
    """Resident memory in MiB of `pid` (first) and of each of its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            statm = open(f"/proc/{entry}/statm").read().split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(statm[1]) * _PAGE / 2**20
    tree, todo = {}, [pid]
    while todo:
        current = todo.pop()
        tree[current] = rss.get(current, 0.0)
        todo.extend(children.get(current, []))
    return tree


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def readable(name: str) -> str:
    """A stage's or buffer's transform name as written in the graph: 'StoryNodes/AttachGroup/CoGroup'."""
    for part in re.split(r"[()+]", name):
        part = re.sub(r"^ref_AppliedPTransform_(.*)_\d+$", lambda m: m.group(1).replace("-", "/"), part.strip())
        if part and not part.startswith("ref_PCollection"):
            return re.sub(r"(/CoGroupByKeyImpl)?/GroupByKey(/Read)?$|/Read$", "", part)
    return name


class _Recorder:
    """Counts the bytes written into each runner buffer and samples RSS per running stage."""

    def __init__(self):
        self.stages: list[dict] = []
        self.producers: dict[str, str] = {}  # PCollection id -> the transform that writes it
        self._running: dict | None = None
        self._done = threading.Event()

    def name_buffer(self, buffer, buffer_id: bytes, context) -> None:
        if getattr(buffer, "memory_name", None):
            return
        kind, _, target = buffer_id.decode().partition(":")
        if kind == "materialize":
            if not self.producers:
                for transform_id, transform in context.pipeline_components.transforms.items():
                    for pcoll in transform.outputs.values():
                        self.producers[pcoll] = transform.unique_name or transform_id
            target = self.producers.get(target, target)
        buffer.memory_name = f"shuffle into `{readable(target)}`" if kind == "group" else f"output of `{readable(target)}`"

    def held(self, context, own_input) -> dict[str, int]:
        """Bytes in every buffer waiting for a stage, plus this stage's own input, by buffer name."""
        queues = context.queues
        inputs = [own_input] + [
            data_input
            for queue in (queues.ready_inputs, queues.watermark_pending_inputs, queues.time_pending_inputs)
            for _, data_input in queue._keyed_elements.values()
        ]
        buffers = {id(b): b for data_input in inputs for b in data_input.data.values()}
        buffers.update({id(b): b for b in context.pcoll_buffers.values()})
        held: dict[str, int] = {}
        for buffer in buffers.values():
            name = getattr(buffer, "memory_name", None) or "(unnamed)"
            held[name] = held.get(name, 0) + getattr(buffer, "bytes_written", 0)
        return {name: size for name, size in held.items() if size}

    def start_stage(self, stage_name: str, held: dict[str, int]) -> None:
        self._running = {"stage": readable(stage_name), "peak_rss_mib": _rss_mib(), "held": held}
        self.stages.append(self._running)

    def sample(self) -> None:
        while not self._done.wait(0.02):
            running = self._running
            if running is not None:
                running["peak_rss_mib"] = max(running["peak_rss_mib"], _rss_mib())

    def stop(self) -> None:
        self._done.set()


def _counting(method, size):
    def counted(self, data):
        method(self, data)
        self.bytes_written = getattr(self, "bytes_written", 0) + size(data)

    return counted


@contextlib.contextmanager
def _recording():
    """Patch the runner's buffers and bundle execution to report to a `_Recorder` (restored on exit)."""
    # The engine's own patches first, so that the recording wraps them and its exit leaves them in place.
    local_engine(PipelineOptions([]))
    recorder = _Recorder()
    patched = {
        (execution.ListBuffer, "append"): _counting(execution.ListBuffer.append, len),
        (execution.ListBuffer, "extend"): _counting(execution.ListBuffer.extend, lambda b: getattr(b, "bytes_written", 0)),
        (execution.GroupingBuffer, "append"): _counting(execution.GroupingBuffer.append, len),
        (execution.GroupingBuffer, "extend"): _counting(execution.GroupingBuffer.extend,
                                                        lambda b: getattr(b, "bytes_written", 0)),
    }
    list_copy, get_buffer = execution.ListBuffer.copy, execution.BundleContextManager.get_buffer
    execute_bundle = fn_runner.FnApiRunner._execute_bundle

    def copy(self):
        new = list_copy(self)
        new.bytes_written, new.memory_name = getattr(self, "bytes_written", 0), getattr(self, "memory_name", None)
        return new

    def named_buffer(self, buffer_id, transform_id):
        buffer = get_buffer(self, buffer_id, transform_id)
        recorder.name_buffer(buffer, buffer_id, self.execution_context)
        return buffer

    def recorded_bundle(self, context, bundle_context_manager, bundle_input):
        recorder.start_stage(bundle_context_manager.stage.name, recorder.held(context, bundle_input))
        return execute_bundle(self, context, bundle_context_manager, bundle_input)

    patched.update({(execution.ListBuffer, "copy"): copy, (execution.BundleContextManager, "get_buffer"): named_buffer,
                    (fn_runner.FnApiRunner, "_execute_bundle"): recorded_bundle})
    originals = {key: getattr(*key) for key in patched}
    sampler = threading.Thread(target=recorder.sample, daemon=True)
    try:
        for (owner, name), function in patched.items():
            setattr(owner, name, function)
        sampler.start()
        yield recorder
    finally:
        recorder.stop()
        for (owner, name), function in originals.items():
            setattr(owner, name, function)


def profile_memory(corpus: pathlib.Path, top: int = 8) -> dict:
    """Run the pipeline in memory on `corpus`; report its peak RSS and what the runner held at its peak stage."""
    from pipeline.run import run

    baseline = _rss_mib()
    with tempfile.TemporaryDirectory() as out, _recording() as recorder:
        started = time.perf_counter()
        report = run(["--input", str(corpus), "--output", out, "--quiet"])
        seconds = time.perf_counter() - started
    stories = report["accounting"]["records_read"]
    peak_stage = max(recorder.stages, key=lambda s: s["peak_rss_mib"])
    largest: dict[str, int] = {}
    for stage in recorder.stages:
        for name, size in stage["held"].items():
            largest[name] = max(largest.get(name, 0), size)
    return {
        "stories": stories,
        "seconds": seconds,
        "baseline_rss_mib": baseline,
        "peak_rss_mib": _peak_rss_mib(),
        "peak_stage": peak_stage["stage"],
        "peak_stage_rss_mib": peak_stage["peak_rss_mib"],
        "held_at_peak": sorted(peak_stage["held"].items(), key=lambda kv: -kv[1])[:top],
        "held_at_peak_total": sum(peak_stage["held"].values()),
        "largest_held": sorted(largest.items(), key=lambda kv: -kv[1])[:top],
        "stages": [{"stage": s["stage"], "peak_rss_mib": s["peak_rss_mib"], "held": sum(s["held"].values())}
                   for s in recorder.stages],
    }


def markdown_lines(result: dict) -> list[str]:
    stories, mib = result["stories"], 2**20
    per_story = (result["peak_rss_mib"] - result["baseline_rss_mib"]) * 1024 / stories
    held_share = result["held_at_peak_total"] / mib / (result["peak_stage_rss_mib"] - result["baseline_rss_mib"])

    def rows(held):
        return [f"| {name} | {size / mib:,.1f} | {size / stories:,.0f} |" for name, size in held if size >= mib / 10]

    lines = [
        "", f"### Where the memory goes (in-memory pipeline, {stories:,} stories; `python -m benchmarks.memory`)", "",
        f"Peak RSS {result['peak_rss_mib']:,.0f} MiB: {result['baseline_rss_mib']:,.0f} MiB before the run "
        f"(interpreter, Beam, numpy) and {per_story:,.1f} KiB per story above it. RSS peaked while "
        f"`{result['peak_stage']}` ran ({result['peak_stage_rss_mib']:,.0f} MiB sampled), with "
        f"{result['held_at_peak_total'] / mib:,.0f} MiB of data (encoded) held by the runner between stages, "
        f"in spill files (`pipeline.spill`), the size of {held_share:.0%} of that stage's RSS above the baseline. "
        "That RSS is the running stage's working memory (its input decoded, its outputs being written) and "
        "what the allocator keeps.", "",
        "| held while the peak stage ran | MiB | bytes per story |", "|---|---:|---:|",
    ]
    lines += rows(result["held_at_peak"])
    lines += ["", "Largest held buffers over the run:", "", "| held | MiB | bytes per story |", "|---|---:|---:|"]
    return lines + rows(result["largest_held"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stories", type=int, help="generate a corpus of this many stories (30 days, seed 0)")
    source.add_argument("--corpus", help="a JSON-lines corpus to run on")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line instead of markdown")
    args = parser.parse_args(argv)
    if args.corpus:
        result = profile_memory(pathlib.Path(args.corpus))
    else:
        from benchmarks.corpus import generate, write

        with tempfile.TemporaryDirectory() as work:
            result = profile_memory(write(generate(args.stories, seed=0, days=30), pathlib.Path(work) / "wire.jsonl"))
    print(json.dumps(result) if args.json else "\n".join(markdown_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
