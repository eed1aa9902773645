"""Smoke tests: the benchmark and corpus scripts run end to end on a tiny corpus (no timings asserted)."""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time

import pytest

from benchmarks import large, streaming
from benchmarks.corpus import generate, write
from benchmarks.markdown import replace_top
from benchmarks.memory import tree_rss_by_process, tree_rss_mib
from benchmarks.run import KINDS, PEERS, PEERS_DIR, _in_subprocess, _peer_command, main, measure


def test_corpus_is_seeded_labeled_and_has_reprints_rewrites_and_boilerplate():
    records = generate(300, seed=3)
    assert records == generate(300, seed=3) and records != generate(300, seed=4)
    assert len(records) == 300 and len({r["id"] for r in records}) == 300
    events = {r["cluster"] for r in records}
    copies = {r["variant_cluster"] for r in records}
    assert len(events) < len(copies) < len(records)  # rewrites (new copies) and reprints (same copy)
    assert all(300 <= len(r["body"].split()) <= 1000 for r in records if r["id"].endswith("-0"))
    # A shared boilerplate paragraph appears in stories of several unrelated events.
    events_of: dict[str, set] = {}
    for r in records:
        for paragraph in r["body"].split("\n\n"):
            events_of.setdefault(paragraph, set()).add(r["cluster"])
    assert max(len(e) for e in events_of.values()) >= 3


def test_corpus_days_set_the_event_time_span():
    def span_days(records):
        stamps = sorted(r["published_at"] for r in records)
        return (dt.datetime.fromisoformat(stamps[-1][:19]) - dt.datetime.fromisoformat(stamps[0][:19])).days

    assert span_days(generate(300, seed=3, days=3)) <= 5 < 20 <= span_days(generate(300, seed=3, days=30))


OURS = [kind for kind in KINDS if kind not in PEERS]


def test_benchmark_script_runs_every_measurement_on_a_tiny_corpus(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("old table\n\n## Streaming\n\nkept\n")
    args = ["--stories", "40", "--repeats", "1", "--scale", "30,60", "--scale_repeats", "1", "--scale_constant_rate",
            "--profile", "--memory_profile", "60", "--compare_at", "30", "--peers_dir", str(tmp_path / "no-peers"), "--markdown", str(out)]
    assert main(args + [arg for kind in OURS for arg in ("--only", kind)]) == 0
    text = out.read_text()
    for kind in OURS:
        assert KINDS[kind] in text
    assert "stories/s" in text and "peak RSS" in text and "old table" not in text
    assert "| 30 |" in text and "| 60 |" in text and "time(60)/time(30)" in text  # the curve and its growth
    assert "constant feed rate" in text and text.count("time(60)/time(30)") == 2
    assert text.count("one run per size") == 2
    assert "MinHash stage >= 5x" in text and "apache_beam" in text and "ours: " in text
    assert "1,000,000 stories in < 15 min with < 8 GiB: not run" in text and "KiB per story from 30 to 60" in text
    assert "Where the memory goes (in-memory pipeline, 60 stories" in text
    # The larger-corpus comparison runs ours in both modes and lists the peers it could not run.
    assert "Side by side on larger corpora" in text and text.count("not installed (--setup_peers)") == len(PEERS)
    assert all(f"| 30 | {KINDS[kind]} |" in text for kind in ("pipeline", "pipeline_mp"))
    assert text.endswith("## Streaming\n\nkept\n")  # the streaming benchmark's section is kept


def test_peer_commands_are_built_for_their_own_virtualenvs(tmp_path):
    corpus = write(generate(20, seed=1), tmp_path / "c.jsonl")
    for kind in PEERS:
        with pytest.raises(RuntimeError, match="--setup_peers"):
            _peer_command(kind, corpus, tmp_path, tmp_path / "no-peers")
        (tmp_path / "peers" / kind / "bin").mkdir(parents=True)
        (tmp_path / "peers" / kind / "bin" / "python").touch()
    work = tmp_path / "work"
    work.mkdir()
    datatrove = _peer_command("datatrove", corpus, work, tmp_path / "peers")
    assert datatrove[1:3] == ["-m", "benchmarks.peers.datatrove_minhash"] and "--tasks" in datatrove
    assert sum(len(p.read_bytes().splitlines()) for p in (work / "input").glob("*.jsonl")) == 20
    text_dedup = _peer_command("text_dedup", corpus, tmp_path, tmp_path / "peers")
    assert text_dedup[1:3] == ["-m", "text_dedup.minhash"] and text_dedup[text_dedup.index("--num_proc") + 1] == "2"


@pytest.mark.parametrize("kind", sorted(PEERS))
def test_peer_runs_on_a_tiny_corpus_where_installed(kind, tmp_path):
    if not (PEERS_DIR / kind / "bin" / "python").exists():
        pytest.skip(f"{kind} not installed: python -m benchmarks.run --setup_peers")
    corpus = write(generate(60, seed=1), tmp_path / "c.jsonl")
    assert measure(kind, corpus)["stories"] == 60


def test_streaming_benchmark_runs_on_a_tiny_replay(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\nbatch table\n")
    assert streaming.main(["--stories", "200", "--per_file", "50", "--rates", "0,400", "--stop_after_idle", "3",
                           "--markdown", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nbatch table\n\n## Streaming: 200 stories over 30 days\n")
    assert "latency p99" in text and "200 / 0" in text and "| placed | elapsed | RSS |" in text
    # another size or span gets its own section; the same one again replaces its section
    for days in ("300", "30"):
        assert streaming.main(["--stories", "100", "--days", days, "--per_file", "50", "--rates", "0",
                               "--stop_after_idle", "3", "--markdown", str(out)]) == 0
    text = out.read_text()
    titles = [line for line in text.splitlines() if line.startswith("## ")]
    assert titles == ["## Streaming: 200 stories over 30 days", "## Streaming: 100 stories over 300 days",
                      "## Streaming: 100 stories over 30 days"]
    assert "100 generated stories over 300 days of event time" in text


def test_a_scale_point_killed_for_memory_is_reported_as_missed_not_lost(monkeypatch):
    from benchmarks import run

    def killed(kind, corpus, peers_dir=None):
        raise RuntimeError("pipeline failed with wait status 9 (SIGKILL: out of memory?)")

    monkeypatch.setattr(run, "_in_subprocess", killed)
    curve = run.scale_curve([20])
    assert curve == [{"stories": 20, "failed": "pipeline failed with wait status 9 (SIGKILL: out of memory?)"}]
    text = run.markdown({}, 20, 1, "cmd", curve)
    assert "| 20 | pipeline failed with wait status 9" in text and "20 stories: pipeline failed" in text


def test_peak_rss_is_the_measured_process_own_not_its_parents(tmp_path):
    corpus = write(generate(20, seed=1), tmp_path / "c.jsonl")
    parent = bytearray(800 * 2**20)  # the parent's peak, which Linux would carry into the child's wait4 figure
    parent[:: 4096] = b"\x01" * len(parent[:: 4096])
    result = _in_subprocess("ours_minhash", corpus)
    assert 0 < result["peak_rss_mib"] < 600


def test_memory_profile_names_the_data_the_runner_holds_between_stages(tmp_path):
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import execution, fn_runner

    from pipeline.engine import local_engine

    from benchmarks.memory import profile_memory, readable

    assert readable("((((StoryNodes/AttachGroup/CoGroup/CoGroupByKeyImpl/GroupByKey/Read)+(ref_AppliedPTransform_"
                    "StoryNodes-AttachGroup-CoGroup-CoGroupByKeyImpl-MapTuple-collect_values_140))") == \
        "StoryNodes/AttachGroup/CoGroup"
    assert readable("((ref_PCollection_PCollection_122/Read)+(ref_AppliedPTransform_StoryNodes-StoryNode_169))") == \
        "StoryNodes/StoryNode"
    local_engine(PipelineOptions([]))  # the engine's patches of the runner, which the recording wraps
    originals = (execution.ListBuffer.append, execution.GroupingBuffer.append, fn_runner.FnApiRunner._execute_bundle)
    # Every buffer: at 80 stories fixed-size ones (1 MiB key filters, the 4 MiB DF table) are the largest.
    result = profile_memory(write(generate(80, seed=2), tmp_path / "c.jsonl"), top=1000)
    assert (execution.ListBuffer.append, execution.GroupingBuffer.append,
            fn_runner.FnApiRunner._execute_bundle) == originals  # the runner is left as the engine made it
    assert result["stories"] == 80 and result["peak_rss_mib"] >= result["baseline_rss_mib"] > 0
    assert len(result["stages"]) > 20 and not any("ref_" in s["stage"] for s in result["stages"])
    held = dict(result["largest_held"])
    # Story terms wait in the shuffle that attaches variant groups; shingle sets in the one that verifies pairs.
    assert held["shuffle into `StoryNodes/AttachGroup/CoGroup`"] > 80 * 100
    assert held["shuffle into `VerifyVariants/AttachNodes/ByKey`"] > 80 * 100
    assert result["held_at_peak_total"] >= sum(size for _, size in result["held_at_peak"]) > 0


def test_large_corpus_benchmark_runs_both_modes_and_keeps_its_own_section(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\nbatch table\n\n## Streaming: 200 stories over 30 days\n\nkept\n")
    assert large.main(["--stories", "150", "--days", "3", "--markdown", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nbatch table\n\n## Streaming: 200 stories over 30 days\n\nkept\n\n"
                           "## Large corpus: 150 stories over 3 days\n")
    assert all(f"| {label} |" in text for label, _ in large.MODES.values())
    assert "Story records identical in every mode: yes." in text
    assert text.count("150 stories in < 15 min with < 8 GiB (issue 6)") == 2
    rows = {line.split(" | ")[0]: line.split(" | ") for line in text.splitlines() if line.startswith("| DirectRunner")}
    in_memory, two_workers = rows["| DirectRunner in memory"][4], rows["| DirectRunner multi_processing, 2 workers"][4]
    assert re.fullmatch(r"[\d,]+ / -", in_memory)  # the peak's parts: the runner alone
    assert re.fullmatch(r"[\d,]+ / [\d,]+(, [\d,]+)+", two_workers)  # the runner and its workers (and their helpers)
    # The top of the file is `benchmarks.run`'s; it keeps every appended section.
    replace_top(out, "# Benchmarks\n\nnew table\n")
    assert out.read_text() == text.replace("batch table", "new table")


def test_a_large_corpus_mode_that_fails_is_reported_as_missed_with_its_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(large.MODES, "in_memory", ("DirectRunner in memory", ["--num_shards=many"]))
    assert large.main(["--stories", "20", "--days", "1", "--modes", "in_memory"]) == 0
    captured = capsys.readouterr()
    assert "| DirectRunner in memory | failed: exit status" in captured.out and "**missed**" in captured.out
    assert "in_memory failed" in captured.err and "num_shards" in captured.err


def test_tree_rss_counts_a_process_and_its_children():
    touch_200_mib = "b = bytearray(200 << 20); b[::4096] = b'x' * 51200; import time; time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", touch_200_mib])
    try:
        time.sleep(1.5)
        assert tree_rss_mib(os.getpid()) >= tree_rss_mib(child.pid) + 100 > 200
        by_process = tree_rss_by_process(os.getpid())
        assert next(iter(by_process)) == os.getpid() and by_process[child.pid] > 190
        assert sum(by_process.values()) == pytest.approx(tree_rss_mib(os.getpid()), rel=0.05)
    finally:
        child.kill()
