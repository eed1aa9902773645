"""Side-by-side benchmarks on one generated corpus; writes BENCHMARKS.md.

    .venv/bin/python -m benchmarks.run --stories 10000 --repeats 3 --markdown BENCHMARKS.md

Every measurement runs in its own subprocess (so its peak RSS is its own) and is repeated;
the table reports the median time. Measured here:
- MinHash stage, cleaned tokens -> 128-permutation signatures of word 5-grams (shingling and
  hashing included, text cleaning not): datasketch's per-shingle `MinHash.update` loop,
  datasketch's `update_batch`, and ours (`dedup.shingles.shingle_hashes` + `dedup.minhash.signatures`,
  one numpy pass over a batch of 256 stories);
- near-duplicate baseline end to end with datasketch: MinHash + `MinHashLSH` insert and query
  (one tier, no merge);
- our pipeline end to end (both tiers, merge, write) on the DirectRunner, in memory and with
  `--direct_running_mode=multi_processing --direct_num_workers=2`;
- the tools users would pick instead, each in its own virtualenv under `--peers_dir` (created by
  `--setup_peers`, from the package index): datatrove's local 4-stage MinHash dedup (2 tasks) and
  text-dedup's MinHash script (`--num_proc 2`, offline). Both do one near-duplicate tier and no merge.
Also: `--scale 10000,100000` times our pipeline at each size (the cost curve; `--scale_constant_rate`
adds the same sizes at a constant feed rate, their event-time span growing with the size) and `--profile`
writes where the in-memory pipeline's time goes (cProfile, by package), `--memory_profile 100000` where its
memory goes (`benchmarks.memory`: peak RSS by stage, data held between stages). `--compare_at 100000` runs our
pipeline (both modes), text-dedup and datatrove again on corpora of those sizes, where fixed costs weigh
less; the ratios there use the faster of our two modes.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.markdown import command_line, publish, replace_top

REPO = pathlib.Path(__file__).resolve().parents[1]
SHINGLE = 5
NUM_PERM = 128
THRESHOLD = 0.7


def _shingle_strings(tokens: list[str]) -> list[bytes]:
    return list({" ".join(tokens[i : i + SHINGLE]).encode() for i in range(max(len(tokens) - SHINGLE + 1, 1))})


def _tokens(corpus: pathlib.Path) -> list[list[str]]:
    """Cleaned word tokens per story: the common input of every MinHash variant (not timed)."""
    import orjson

    from dedup.text import clean_body, words

    return [words(clean_body(orjson.loads(line)["body"])) for line in corpus.read_bytes().splitlines()]


PEERS = {
    "datatrove": ["datatrove==0.10.1", "spacy", "regex", "tokenizers", "orjson", "xxhash<4"],
    "text_dedup": ["text-dedup==0.4.0"],
}
PEERS_DIR = REPO / ".peers"


def setup_peers(peers_dir: pathlib.Path) -> None:
    for name, requirements in PEERS.items():
        venv = peers_dir / name
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True)


def _peer_command(kind: str, corpus: pathlib.Path, work: pathlib.Path, peers_dir: pathlib.Path) -> list[str]:
    python = peers_dir / kind / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"{python} missing: run `python -m benchmarks.run --setup_peers` first")
    if kind == "datatrove":
        inputs = work / "input"  # two files, so that its 2 tasks each read one
        inputs.mkdir()
        lines = corpus.read_bytes().splitlines(keepends=True)
        half = len(lines) // 2
        (inputs / "part-0.jsonl").write_bytes(b"".join(lines[:half]))
        (inputs / "part-1.jsonl").write_bytes(b"".join(lines[half:]))
        from dedup.lsh import band_params

        bands, rows = band_params(THRESHOLD, NUM_PERM)
        return [str(python), "-m", "benchmarks.peers.datatrove_minhash", str(inputs), str(work / "datatrove"),
                "--tasks", "2", "--buckets", str(bands), "--rows", str(rows)]
    return [str(python), "-m", "text_dedup.minhash", "--path", "json", "--data_files", str(corpus), "--split", "train",
            "--column", "body", "--num_perm", str(NUM_PERM), "--threshold", str(THRESHOLD), "--ngram", str(SHINGLE),
            "--num_proc", "2", "--output", str(work / "deduplicated"), "--cache_dir", str(work / "cache")]


def measure(kind: str, corpus: pathlib.Path, peers_dir: pathlib.Path = PEERS_DIR) -> dict:
    """Run one measurement in this process (peers: in their own child process); return seconds and stories."""
    if kind in PEERS:
        with tempfile.TemporaryDirectory() as work:
            command = _peer_command(kind, corpus, pathlib.Path(work), peers_dir)
            started = time.perf_counter()
            subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(REPO)})
            return {"seconds": time.perf_counter() - started, "stories": sum(1 for _ in corpus.open("rb"))}
    if kind.startswith("pipeline"):
        from pipeline.run import run

        with tempfile.TemporaryDirectory() as out:
            extra = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"] if kind == "pipeline_mp" else []
            started = time.perf_counter()
            report = run(["--input", str(corpus), "--output", out, "--quiet", *extra])
            return {"seconds": time.perf_counter() - started, "stories": report["accounting"]["records_read"],
                    "stages": report["seconds"]["processing_by_stage"]}
    stories = _tokens(corpus)
    started = time.perf_counter()
    if kind == "ours_minhash":
        from dedup.minhash import signatures
        from dedup.shingles import shingle_hashes

        for start in range(0, len(stories), 256):
            signatures([shingle_hashes(tokens, SHINGLE) for tokens in stories[start : start + 256]], NUM_PERM, 1)
    else:
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM) if kind.endswith("_lsh") else None
        for index, tokens in enumerate(stories):
            shingles = _shingle_strings(tokens)
            minhash = MinHash(num_perm=NUM_PERM, seed=1)
            if kind.startswith("datasketch_loop"):
                for shingle in shingles:
                    minhash.update(shingle)
            else:
                minhash.update_batch(shingles)
            if lsh is not None:
                lsh.query(minhash)
                lsh.insert(str(index), minhash)
    return {"seconds": time.perf_counter() - started, "stories": len(stories)}


def _in_subprocess(kind: str, corpus: pathlib.Path, peers_dir: pathlib.Path = PEERS_DIR) -> dict:
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.run", "--measure", kind, "--corpus", str(corpus),
                                "--peers_dir", str(peers_dir)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    output = process.stdout.read()
    status = process.wait()
    if status != 0:
        signal_note = " (SIGKILL: out of memory?)" if status == -9 else ""
        raise RuntimeError(f"{kind} failed with exit status {status}{signal_note}")
    return json.loads(output.decode().strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """The peak RSS of this process or of any child it waited for, in MiB, as the process itself sees it.

    Not its parent's `wait4` figure: Linux carries a process's peak across fork and exec, so a child
    of a large process reports at least the parent's size at the fork (`python -c pass` started from
    a 1.5 GiB parent: 1.5 GiB by `wait4`, 13 MiB by its own VmHWM).
    """
    with open("/proc/self/status") as status:
        own_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return max(own_kib, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


KINDS = {
    "datasketch_loop": "datasketch `MinHash.update` per shingle",
    "datasketch_batch": "datasketch `MinHash.update_batch`",
    "ours_minhash": "ours: `dedup.minhash.signatures`, batches of 256",
    "datasketch_loop_lsh": "datasketch loop + `MinHashLSH` query/insert (t=0.7; one tier, no merge)",
    "datasketch_batch_lsh": "datasketch `update_batch` + `MinHashLSH` query/insert (one tier, no merge)",
    "pipeline": "our pipeline end to end, DirectRunner in memory (both tiers, merge, write)",
    "pipeline_mp": "our pipeline end to end, DirectRunner multi_processing, 2 workers",
    "datatrove": "datatrove 0.10.1 local 4-stage MinHash, 2 tasks (one tier, no merge)",
    "text_dedup": "text-dedup 0.4.0 `python -m text_dedup.minhash --num_proc 2` (one tier, no merge)",
}


def _corpus(stories: int, days: int = 30) -> pathlib.Path:
    from benchmarks.corpus import generate, write

    return write(generate(stories, seed=0, days=days), pathlib.Path(tempfile.mkdtemp()) / f"wire-{stories}.jsonl")


def benchmark(stories: int, repeats: int, kinds: list[str], peers_dir: pathlib.Path = PEERS_DIR
              ) -> tuple[dict, pathlib.Path]:
    corpus = _corpus(stories)
    results = {}
    for kind in kinds:
        runs = [_in_subprocess(kind, corpus, peers_dir) for _ in range(repeats)]
        seconds = statistics.median(r["seconds"] for r in runs)
        results[kind] = {"seconds": seconds, "stories_per_s": stories / seconds,
                         "peak_rss_mib": max(r["peak_rss_mib"] for r in runs), "stages": runs[0].get("stages")}
    return results, corpus


def _taking_turns(corpora: dict[int, pathlib.Path], kinds: list[str], repeats: int,
                  peers_dir: pathlib.Path = PEERS_DIR) -> dict[tuple[int, str], dict]:
    """Each (size, kind) `repeats` times, every pair once per round: median seconds, largest peak RSS.

    Taking turns means a machine drifting during the runs shifts every size and kind alike, rather
    than the ratios between them. A pair that fails (e.g. killed for memory) is a result, reported
    as `failed`, not a reason to lose the others; it is not run again.
    """
    runs: dict[tuple[int, str], list[dict]] = {(n, kind): [] for n in corpora for kind in kinds}
    failed: dict[tuple[int, str], str] = {}
    for _ in range(repeats):
        for stories, corpus in corpora.items():
            for kind in kinds:
                if (stories, kind) in failed:
                    continue
                try:
                    runs[stories, kind].append(_in_subprocess(kind, corpus, peers_dir))
                except RuntimeError as failure:
                    failed[stories, kind] = str(failure)
    results = {}
    for (stories, kind), done in runs.items():
        if (stories, kind) in failed:
            results[stories, kind] = {"stories": stories, "failed": failed[stories, kind]}
            continue
        seconds = statistics.median(r["seconds"] for r in done)
        results[stories, kind] = {"stories": stories, "seconds": seconds, "stories_per_s": stories / seconds,
                                  "peak_rss_mib": max(r["peak_rss_mib"] for r in done), "runs": len(done)}
    return results


def scale_curve(sizes: list[int], constant_rate: bool = False, repeats: int = 1) -> list[dict]:
    """Our pipeline (in memory) `repeats` times per corpus size, the sizes taking turns.

    By default every corpus spans 30 days, so 10x the stories is also 10x the feed rate (10x the
    stories within a story's time horizon). With `constant_rate`, the span grows with the size
    instead (30 days for the smallest), so the stories per day stay the same.
    """
    corpora = {n: _corpus(n, days=30 * n // min(sizes) if constant_rate else 30) for n in sizes}
    try:
        results = _taking_turns(corpora, ["pipeline"], repeats)
    finally:
        for corpus in corpora.values():
            corpus.unlink()
    return [results[n, "pipeline"] for n in sizes]


COMPARED = ["pipeline", "pipeline_mp", "text_dedup", "datatrove"]
OURS = ("pipeline", "pipeline_mp")


def _best_ours(compared: dict[tuple[int, str], dict], stories: int) -> float | None:
    """Our faster mode's stories/s at one size: users pick the mode that suits their machine."""
    return max(filter(None, (compared[stories, kind].get("stories_per_s") for kind in OURS)), default=None)


def compare_at(sizes: list[int], repeats: int, peers_dir: pathlib.Path = PEERS_DIR) -> dict[tuple[int, str], dict]:
    """Our pipeline (both DirectRunner modes) and the two peer tools on larger corpora (30 days each), all taking turns.

    The main table's corpus is small enough to repeat every measurement; there, fixed costs (imports,
    graph construction, worker start-up) weigh more than they do at the sizes users run.
    """
    installed = [k for k in COMPARED if k not in PEERS or (peers_dir / k / "bin" / "python").exists()]
    corpora = {n: _corpus(n) for n in sizes}
    try:
        results = _taking_turns(corpora, installed, repeats, peers_dir)
    finally:
        for corpus in corpora.values():
            corpus.unlink()
    missing = {(n, k): {"stories": n, "failed": "not installed (--setup_peers)"} for n in sizes for k in COMPARED
               if k not in installed}
    return {(n, k): results.get((n, k)) or missing[n, k] for n in sizes for k in COMPARED}


def _compared_table(compared: dict[tuple[int, str], dict]) -> list[str]:
    if not compared:
        return []
    runs = max(r.get("runs", 1) for r in compared.values())
    how = f"median of {runs} runs" if runs > 1 else "one run"
    lines = ["", f"### Side by side on larger corpora (30 days each; {how} per tool and size, taking turns)", "",
             "| stories | what | seconds | stories/s | ours (faster mode) ÷ this | peak RSS MiB |", "|---:|---|---:|---:|---:|---:|"]
    for (stories, kind), r in compared.items():
        if "failed" in r:
            lines.append(f"| {stories:,} | {KINDS[kind]} | {r['failed']} | - | - | - |")
            continue
        ours = _best_ours(compared, stories)
        ratio = f"{ours / r['stories_per_s']:.2f}" if ours and kind not in OURS else "-"
        lines.append(f"| {stories:,} | {KINDS[kind]} | {r['seconds']:.1f} | {r['stories_per_s']:,.0f} | {ratio} | "
                     f"{r['peak_rss_mib']:,.0f} |")
    return lines


def _package(filename: str) -> str:
    if "/apache_beam/" in filename:
        return "apache_beam (runner, coders, shuffles)"
    for ours in ("dedup", "transforms", "pipeline", "schemas"):
        if filename.startswith(str(REPO / ours)):
            return f"ours: {ours}/"
    if "/numpy/" in filename:
        return "numpy (Python side)"
    if filename == "~" or filename.startswith("<"):
        return "C builtins (pickling, hashing, numpy kernels, ...)"
    return "other Python (stdlib, orjson, datasketch, ...)"


def profile(stories: int, top: int = 12) -> dict:
    """cProfile of the in-memory pipeline (the runner executes bundles in this thread)."""
    import cProfile
    import pstats

    corpus = _corpus(stories)
    profiler = cProfile.Profile()
    profiler.enable()
    measure("pipeline", corpus)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    by_package: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_, _, own, _, _) in stats.items():
        package = _package(filename)
        by_package[package] = by_package.get(package, 0.0) + own
        where = f"{pathlib.Path(filename).name}:{line}" if filename != "~" else "builtin"
        functions.append((own, f"{name} ({where})", package))
    functions.sort(reverse=True)
    return {"stories": stories, "by_package": dict(sorted(by_package.items(), key=lambda kv: -kv[1])),
            "top": functions[:top]}


def memory_profile(stories: int) -> dict:
    """`benchmarks.memory` on a generated corpus, in its own process (so that RSS is the pipeline's alone)."""
    corpus = _corpus(stories)
    output = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--corpus", str(corpus), "--json"],
                            cwd=REPO, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return json.loads(output.decode().strip().splitlines()[-1])


def _targets(results: dict, curve: list[dict], rate_curve: list[dict] = (), compared: dict | None = None) -> list[str]:
    def rate(kind):
        return results.get(kind, {}).get("stories_per_s")

    def check(ok):
        return "met" if ok else "**missed**"

    lines = ["## Targets (issue 6)", ""]
    loop, batch, ours = rate("datasketch_loop"), rate("datasketch_batch"), rate("ours_minhash")
    if loop and batch and ours:
        lines.append(f"- MinHash stage >= 5x the datasketch loop and faster than `update_batch`: "
                     f"{ours / loop:.1f}x the loop, {ours / batch:.1f}x update_batch — "
                     f"{check(ours >= 5 * loop and ours > batch)}.")
    best = max(filter(None, (rate("pipeline"), rate("pipeline_mp"))), default=None)
    if best and rate("text_dedup"):
        lines.append(f"- End to end at least as fast as text-dedup (which does one tier and no merge): ours "
                     f"{best:,.0f} stories/s vs {rate('text_dedup'):,.0f} = {best / rate('text_dedup'):.2f}x — "
                     f"{check(best >= rate('text_dedup'))}.")
    if best and rate("datatrove"):
        lines.append(f"- End to end >= 3x datatrove (one tier, no merge): {best / rate('datatrove'):.2f}x — "
                     f"{check(best >= 3 * rate('datatrove'))}.")
    for stories in sorted({n for n, _ in compared or {}}):
        ours = _best_ours(compared, stories)
        text_dedup, datatrove = (compared[stories, k].get("stories_per_s") for k in ("text_dedup", "datatrove"))
        if ours and text_dedup:
            lines.append(f"- The same at {stories:,} stories, vs text-dedup: ours (faster mode) {ours:,.0f} vs {text_dedup:,.0f} stories/s "
                         f"= {ours / text_dedup:.2f}x — {check(ours >= text_dedup)}.")
        if ours and datatrove:
            lines.append(f"- The same at {stories:,} stories, vs datatrove: {ours / datatrove:.2f}x — "
                         f"{check(ours >= 3 * datatrove)}.")
    by_size = {point["stories"]: point for point in curve if "failed" not in point}
    lines += [f"- {point['stories']:,} stories: {point['failed']} — **missed**." for point in curve if "failed" in point]
    for label, points in (("30-day corpora", curve), ("constant feed rate", rate_curve)):
        sizes = {point["stories"]: point for point in points if "failed" not in point}
        if len(sizes) >= 2:
            small, large = min(sizes), max(sizes)
            growth, allowed = sizes[large]["seconds"] / sizes[small]["seconds"], 1.2 * large / small
            lines.append(f"- Cost ~linear, {label} (the issue's bar: time(100k)/time(10k) <= 12, i.e. 1.2x the size "
                         f"ratio): time({large:,})/time({small:,}) = {growth:.1f} for {large / small:.0f}x the "
                         f"stories, bar {allowed:.1f} — {check(growth <= allowed)}.")
    if 1_000_000 in by_size:
        million = by_size[1_000_000]
        lines.append(f"- 1,000,000 stories in < 15 min with < 8 GiB: {million['seconds'] / 60:.1f} min, "
                     f"{million['peak_rss_mib'] / 1024:.1f} GiB — "
                     f"{check(million['seconds'] < 900 and million['peak_rss_mib'] < 8192)}.")
    elif by_size:
        largest = max(by_size)
        minutes = by_size[largest]["seconds"] * 1_000_000 / largest / 60
        line = (f"- 1,000,000 stories in < 15 min with < 8 GiB: not run by this command (`python -m benchmarks.large` "
                f"runs it: \"Large corpus\" below, where there is one); extrapolated: at "
                f"{by_size[largest]['stories_per_s']:,.0f} stories/s it would take ~{minutes:.0f} min")
        if len(by_size) >= 2:
            small = min(by_size)
            slope = (by_size[largest]["peak_rss_mib"] - by_size[small]["peak_rss_mib"]) / (largest - small)
            gib = (by_size[largest]["peak_rss_mib"] + slope * (1_000_000 - largest)) / 1024
            line += (f"; peak RSS grows by {slope * 1024:,.1f} KiB per story from {small:,} to {largest:,} stories, "
                     f"so ~{gib:,.0f} GiB")
            minutes = max(minutes, 15 * gib / 8)  # either bar missed is a miss
        lines.append(line + f") — {check(minutes < 15)}.")
    return lines


def _curve_table(title: str, curve: list[dict]) -> list[str]:
    if not curve:
        return []
    runs = max(p.get("runs", 1) for p in curve)
    title += f", median of {runs} runs per size, the sizes taking turns" if runs > 1 else ", one run per size"
    lines = ["", f"### {title}", "", "| stories | seconds | stories/s | peak RSS MiB |", "|---:|---:|---:|---:|"]
    return lines + [f"| {p['stories']:,} | {p['seconds']:.1f} | {p['stories_per_s']:,.0f} | {p['peak_rss_mib']:,.0f} |"
                    if "failed" not in p else f"| {p['stories']:,} | {p['failed']} | - | - |" for p in curve]


def markdown(results: dict, stories: int, repeats: int, command: str, curve: list[dict] = (),
             profiled: dict | None = None, rate_curve: list[dict] = (), compared: dict | None = None,
             memory: dict | None = None) -> str:
    base = results.get("datasketch_loop", {}).get("seconds")
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {dt.date.today().isoformat()}: {platform.machine()}, "
        f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}. Corpus: `benchmarks/corpus.py`, {stories:,} stories (seed 0; "
        f"300-900-word originals, ~30 % reprints, ~10 % with shared boilerplate). Median of {repeats} runs, "
        "each in its own process, side by side in one invocation; word 5-grams, 128 permutations.",
        "",
        "| what | seconds | stories/s | × datasketch loop | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, figures in results.items():
        ratio = f"{base / figures['seconds']:.1f}" if base else "-"
        lines.append(f"| {KINDS[kind]} | {figures['seconds']:.2f} | {figures['stories_per_s']:,.0f} | {ratio} | "
                     f"{figures['peak_rss_mib']:,.0f} |")
    for kind in ("pipeline", "pipeline_mp"):
        if results.get(kind, {}).get("stages"):
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in results[kind]["stages"].items())
            lines += ["", f"Processing seconds by stage ({kind}, summed over workers): {stages}."]
    lines += _curve_table("Scale curve (our pipeline, DirectRunner in memory; every corpus spans 30 days, so the "
                          "feed rate grows with the size)", curve)
    lines += _curve_table("Scale curve at a constant feed rate (the event-time span grows with the size: 30 days "
                          "for the smallest corpus)", rate_curve)
    lines += _compared_table(compared or {})
    lines += [""] + _targets(results, list(curve), list(rate_curve), compared)
    if profiled:
        total = sum(profiled["by_package"].values())
        lines += ["", f"### Where the time goes (cProfile, in-memory pipeline, {profiled['stories']:,} stories, "
                      "own time by package)", "", "| package | seconds | share |", "|---|---:|---:|"]
        lines += [f"| {name} | {secs:.1f} | {secs / total:.0%} |" for name, secs in profiled["by_package"].items()]
        lines += ["", "Top functions by own time:", "", "| seconds | function | package |", "|---:|---|---|"]
        lines += [f"| {secs:.2f} | `{name}` | {package} |" for secs, name, package in profiled["top"]]
    if memory:
        from benchmarks.memory import markdown_lines

        lines += markdown_lines(memory)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", action="append", choices=sorted(KINDS), help="measure only these (repeatable)")
    parser.add_argument("--markdown", help="write the table here (default: print it)")
    parser.add_argument("--scale", default="", help="comma-separated corpus sizes for the cost curve, e.g. 10000,100000")
    parser.add_argument("--scale_repeats", type=int, default=1,
                        help="runs per size of the cost curve (median; sizes take turns)")
    parser.add_argument("--scale_constant_rate", action="store_true",
                        help="also time the sizes of --scale at a constant feed rate (event-time span grows with size)")
    parser.add_argument("--compare_at", default="",
                        help="comma-separated larger corpus sizes at which to run our pipeline and both peers again")
    parser.add_argument("--compare_repeats", type=int, default=1, help="runs per tool and size of --compare_at")
    parser.add_argument("--profile", action="store_true", help="add a cProfile breakdown of the in-memory pipeline")
    parser.add_argument("--memory_profile", type=int, default=0, metavar="STORIES",
                        help="add where the in-memory pipeline's memory goes on a corpus this size (benchmarks.memory)")
    parser.add_argument("--peers_dir", default=str(PEERS_DIR), help="virtualenvs of the peer tools (default: .peers)")
    parser.add_argument("--setup_peers", action="store_true", help="create/update the peer virtualenvs, then exit")
    parser.add_argument("--measure", choices=sorted(KINDS), help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    peers_dir = pathlib.Path(args.peers_dir)
    if args.setup_peers:
        setup_peers(peers_dir)
        return 0
    if args.measure:
        print(json.dumps({**measure(args.measure, pathlib.Path(args.corpus), peers_dir), "peak_rss_mib": peak_rss_mib()}))
        return 0
    results, _ = benchmark(args.stories, args.repeats, args.only or list(KINDS), peers_dir)
    sizes = [int(n) for n in args.scale.split(",") if n]
    curve = scale_curve(sizes, repeats=args.scale_repeats)
    rate_curve = scale_curve(sizes, constant_rate=True, repeats=args.scale_repeats) if args.scale_constant_rate else []
    compare_sizes = [int(n) for n in args.compare_at.split(",") if n]
    compared = compare_at(compare_sizes, args.compare_repeats, peers_dir) if compare_sizes else None
    profiled = profile(args.stories) if args.profile else None
    memory = memory_profile(args.memory_profile) if args.memory_profile else None
    command = command_line("benchmarks.run", argv)
    text = markdown(results, args.stories, args.repeats, command, curve, profiled, rate_curve, compared, memory)
    return publish(text, args.markdown, replace_top)


if __name__ == "__main__":
    sys.exit(main())
