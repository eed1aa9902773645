"""Write RELIABILITY.md: every hostile input class through the batch pipeline, and the fuzz runs.

    .venv/bin/python -m benchmarks.reliability --cases 200 --fuzz_profile deep --markdown RELIABILITY.md

Each class is run as its own input file through `pipeline.run`; the table counts what came out
(variants, dead letters by reason), checks every line against its expected outcome, and checks
that nothing was lost: every input line is in exactly one output, by file and line number.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import platform
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter

import orjson

from benchmarks import hostile
from pipeline.run import run

REPO = pathlib.Path(__file__).resolve().parents[1]


def _write(path: pathlib.Path, lines) -> pathlib.Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _jsonl(directory: pathlib.Path, kind: str) -> list[dict]:
    return [orjson.loads(line) for p in sorted(directory.glob(f"{kind}-*.jsonl")) for line in p.read_bytes().splitlines()]


def _outcomes(out: pathlib.Path) -> Counter:
    found: Counter = Counter()
    for record in _jsonl(out, "stories"):
        for variant in record["variants"]:
            found[(variant["provenance"]["file"], variant["provenance"]["line"], "variant")] += 1
    for dead in _jsonl(out, "dead_letters"):
        found[(dead["file"], dead["line_number"], dead["reason"])] += 1
    return found


def hostile_rows(cases: int, work: pathlib.Path) -> list[dict]:
    rows = []
    for index, (name, generate) in enumerate(hostile.HOSTILE_CLASSES.items()):
        lines, expected = generate(random.Random(index), cases)
        path = _write(work / f"class{index:02d}.jsonl", lines)
        row = {"class": name, "cases": len(lines)}
        try:
            report = run(["--input", str(path), "--output", str(work / f"out{index:02d}")])
        except Exception as err:  # noqa: BLE001 - the table must show a crash, not stop at it
            rows.append({**row, "outcome": f"CRASH {type(err).__name__}", "unexpected": "-", "lost": "-"})
            continue
        found = _outcomes(work / f"out{index:02d}")
        by_line = {(f, n): outcome for (f, n, outcome) in found}
        lost = sum(1 for n in range(1, len(lines) + 1) if (str(path), n) not in by_line)
        lost += sum(count - 1 for count in found.values())  # written twice counts as lost accounting
        unexpected = sum(
            1 for n, want in enumerate(expected, start=1)
            if (want == "dead" and by_line.get((str(path), n)) == "variant")
            or (want != "dead" and by_line.get((str(path), n)) != want)
        )
        counts = Counter(by_line.values())
        row["outcome"] = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (kv[0] != "variant", kv[0])))
        row["unexpected"] = unexpected
        row["lost"] = lost
        row["balanced"] = report["accounting"]["balanced"]
        rows.append(row)
    return rows


def big_body_row(work: pathlib.Path) -> dict:
    body = hostile.prose(random.Random(4), hostile.vocabulary(random.Random(3), 5000), 800_000)
    path = _write(work / "big.jsonl", [orjson.dumps(hostile.story("huge", body))])
    report = run(["--input", str(path), "--output", str(work / "out_big"), "--max_record_bytes", str(8 << 20)])
    written = _jsonl(work / "out_big", "stories")[0]["canonical"]["body"]
    return {
        "class": f"one body of {len(body.encode()) / 1e6:.1f} MB (--max_record_bytes 8 MiB)",
        "cases": 1,
        "outcome": f"variant 1; sketched on the first {report['limits']['max_sketch_chars']:,} chars, "
                   f"written whole: {written == body}",
        "unexpected": 0 if written == body else 1,
        "lost": 0,
        "balanced": report["accounting"]["balanced"],
    }


def grouping_rows(work: pathlib.Path, boilerplate_n: int, chain_n: int) -> list[dict]:
    corpus = hostile.boilerplate_corpus(random.Random(7), boilerplate_n)
    path = _write(work / "boilerplate.jsonl", [orjson.dumps(r) for r in corpus])
    report = run(["--input", str(path), "--output", str(work / "out_bp")])
    story_tier, variant_tier = report["tiers"]["story"], report["tiers"]["variant"]
    rows = [{
        "class": f"{boilerplate_n:,} unrelated stories sharing one boilerplate paragraph",
        "cases": boilerplate_n,
        "outcome": f"{report['stories']:,} stories; candidate pairs {variant_tier['candidate_pairs']:,} (variant) / "
                   f"{story_tier['candidate_pairs']:,} (story), i.e. {story_tier['candidate_pairs'] / boilerplate_n:.0f} "
                   f"per story; buckets capped {variant_tier['buckets_capped']} / {story_tier['buckets_capped']} "
                   f"(largest bucket {story_tier['bucket_size']['max']:,}); {report['seconds']['wall']:.0f} s",
        "unexpected": boilerplate_n - report["stories"],
        "lost": report["accounting"]["records_read"] - report["accounting"]["variants_written"],
        "balanced": report["accounting"]["balanced"],
    }]
    corpus = hostile.chain_corpus(random.Random(12), chain_n)
    path = _write(work / "chain.jsonl", [orjson.dumps(r) for r in corpus])
    report = run(["--input", str(path), "--output", str(work / "out_chain")])
    position = {r["id"]: i for i, r in enumerate(corpus)}
    spans = [max(position[v["id"]] for v in r["variants"]) - min(position[v["id"]] for v in r["variants"])
             for r in _jsonl(work / "out_chain", "stories")]
    rows.append({
        "class": f"a chain of {chain_n} stories, each 15 % of words changed from the previous",
        "cases": chain_n,
        "outcome": f"{len(spans)} stories; the longest spans {max(spans) + 1} consecutive links",
        "unexpected": int(max(spans) >= chain_n // 2),
        "lost": report["accounting"]["records_read"] - report["accounting"]["variants_written"],
        "balanced": report["accounting"]["balanced"],
    })
    return rows


_STATS_TEST = re.compile(r"^tests/test_fuzz.py::(\w+):")
_STATS_COUNT = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid")


def fuzz_rows(profile: str) -> list[dict]:
    """Run the hypothesis properties under `profile` and read their example counts."""
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py",
         f"--hypothesis-profile={profile}", "--hypothesis-show-statistics"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    rows, test = [], None
    for line in completed.stdout.splitlines():
        if match := _STATS_TEST.match(line.strip()):
            test = match.group(1)
        elif test and (match := _STATS_COUNT.search(line)):
            passing, failing, _ = map(int, match.groups())
            rows.append({"property": test, "examples": passing + failing, "failing": failing})
            test = None
    rows.append({"property": "pytest exit status", "examples": "", "failing": completed.returncode})
    return rows


def markdown(rows, fuzz, command: str) -> str:
    total_cases = sum(r["cases"] for r in rows)
    out = [
        "# Reliability",
        "",
        f"Generated by `{command}` on {dt.date.today().isoformat()} "
        f"({platform.python_version()}, {os.cpu_count()} cores). Inputs come from `benchmarks/hostile.py`",
        "(seeded); the same classes run in CI at a smaller count (`tests/test_reliability.py`).",
        "",
        "## Hostile input classes through the batch pipeline",
        "",
        "*unexpected*: lines whose outcome differs from the class's expected one (a kept story, or a named",
        "dead-letter reason). *lost*: lines missing from both outputs or written twice.",
        "",
        "| input class | cases | outcome | unexpected | lost | accounting balanced |",
        "|---|---:|---|---:|---:|---|",
    ]
    out += [f"| {r['class']} | {r['cases']:,} | {r['outcome']} | {r['unexpected']} | {r['lost']} | {r.get('balanced', '-')} |"
            for r in rows]
    out += ["", f"{total_cases:,} hostile cases in all; lost: {sum(r['lost'] for r in rows if r['lost'] != '-')}.", ""]
    if fuzz:
        out += [
            "## Property-based fuzzing (hypothesis, `tests/test_fuzz.py`)",
            "",
            "Random bytes, any JSON value, any object with missing/mistyped/empty fields, story-shaped records",
            "with every Unicode category but lone surrogates in every field (NUL, controls, bidi, combining marks,",
            "emoji, all scripts), bodies up to 5,000 code points, zoned timestamps from year 1 to 9999 and",
            "whole-pipeline corpora mixing all of these. Each example must end as a story variant that",
            "serialises, or a dead letter with a known reason; the pipeline property checks every line by",
            "file and line number and the report's accounting.",
            "",
            "| property | examples | failing |",
            "|---|---:|---:|",
        ]
        out += [f"| {r['property']} | {r['examples']} | {r['failing']} |" for r in fuzz]
        out.append("")
    out += [
        "## Limits",
        "",
        "| limit | default | what happens beyond it |",
        "|---|---|---|",
        "| record size (`--max_record_bytes`) | 2 MiB | the line is dead-lettered as `oversize`, kept whole in the dead letter |",
        "| body length sketched (`--max_sketch_chars`) | 200,000 characters | the body is truncated for sketching only; the output keeps it whole; counted as `limits.bodies_truncated_for_sketch` |",
        "| variants per story (`--max_variants_per_story`) | 1,000 | the story is kept whole and flagged `too_many_variants`; counted in `limits.stories_flagged` |",
        "| nesting of unknown fields | 254 levels (orjson's encoder) | dead-lettered as `too_deeply_nested`; the parser refuses more than 1,024 levels as `malformed_json` |",
        "| LSH bucket size (`--max_bucket_size`) | 100 | members are paired with 5 anchors only; counted per tier as `buckets_capped` |",
        "| connected component size (`--max_component_size`) | 500 | clustered in time windows of this size; counted as `components_split` |",
        "",
        "Timestamps must carry a zone and lie within years 1–9999 once in UTC; leap seconds (`:60`) are",
        "refused as `bad_timestamp` (Python's datetime has no leap seconds).",
        "",
    ]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200, help="lines per hostile class")
    parser.add_argument("--boilerplate", type=int, default=10_000, help="stories sharing one paragraph")
    parser.add_argument("--chain", type=int, default=40, help="links of the gradual chain")
    parser.add_argument("--fuzz_profile", choices=["ci", "deep", "none"], default="deep")
    parser.add_argument("--markdown", help="write the report here (default: print it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        rows = hostile_rows(args.cases, work) + [big_body_row(work)] + grouping_rows(work, args.boilerplate, args.chain)
    fuzz = fuzz_rows(args.fuzz_profile) if args.fuzz_profile != "none" else []
    command = "python -m benchmarks.reliability " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(rows, fuzz, command.strip())
    if args.markdown:
        pathlib.Path(args.markdown).write_text(text)
    else:
        print(text)
    failed = any(r["unexpected"] or r["lost"] for r in rows) or any(r["failing"] for r in fuzz)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
