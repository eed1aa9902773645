"""Hostile input, exact accounting, determinism, recovery and adversarial grouping (issue 5)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import orjson
import pytest

from benchmarks.hostile import (
    HOSTILE_CLASSES,
    boilerplate_corpus,
    chain_corpus,
    prose,
    story,
    vocabulary,
)
from pipeline.run import run
from tests.conftest import REJECTS, REPO, SAMPLE
from tests.helpers import read_jsonl, write_jsonl


def outcomes(out_dir) -> dict[tuple[str, int], str]:
    """(file, line) -> "variant" or the dead-letter reason, for everything the run wrote."""
    found = {}
    for record in read_jsonl(out_dir.glob("stories-*.jsonl")):
        for variant in record["variants"]:
            key = (variant["provenance"]["file"], variant["provenance"]["line"])
            assert key not in found, f"{key} written twice"
            found[key] = "variant"
    for dead in read_jsonl(out_dir.glob("dead_letters-*.jsonl")):
        key = (dead["file"], dead["line_number"])
        assert key not in found, f"{key} written twice"
        found[key] = dead["reason"]
    return found


def test_every_hostile_class_ends_as_expected_and_nothing_is_lost(tmp_path):
    expected = {}
    for index, (name, generate) in enumerate(HOSTILE_CLASSES.items()):
        lines, outcomes_wanted = generate(random.Random(index), 8)
        path = write_jsonl(tmp_path / f"class{index:02d}.jsonl", lines)
        expected.update({(str(path), n): want for n, want in enumerate(outcomes_wanted, start=1)})
    report = run(["--input", str(tmp_path / "class*.jsonl"), "--output", str(tmp_path / "out")])
    found = outcomes(tmp_path / "out")
    assert found.keys() == expected.keys()
    for key, want in expected.items():
        if want == "dead":
            assert found[key] != "variant", key
        else:
            assert found[key] == want, key
    assert report["accounting"]["balanced"] and all(f["balanced"] for f in report["accounting"]["by_file"].values())


def test_five_megabyte_body_is_sketched_truncated_and_written_whole(tmp_path):
    vocab = vocabulary(random.Random(3), 5000)
    body = prose(random.Random(4), vocab, 800_000)
    assert len(body.encode()) > 5_000_000
    path = write_jsonl(tmp_path / "big.jsonl", [story("huge", body), story("small", "One word")])
    report = run(["--input", str(path), "--output", str(tmp_path / "out"), "--max_record_bytes", str(8 << 20)])
    canonical = {r["canonical"]["id"]: r["canonical"]["body"] for r in read_jsonl((tmp_path / "out").glob("stories-*.jsonl"))}
    assert canonical == {"huge": body, "small": "One word"}
    assert report["limits"]["bodies_truncated_for_sketch"] == 1
    assert report["limits"]["max_sketch_chars"] == 200_000


def _mixed_file(path, rng: random.Random, n_lines: int, bad_every: int):
    """n_lines lines, every `bad_every`-th one taken from the hostile classes' dead-letter lines."""
    vocab = vocabulary(rng, 3000)
    bad_pool = [line for generate in HOSTILE_CLASSES.values() for line, want in zip(*generate(rng, 3))
                if want not in ("variant", "duplicate_id")]
    lines, bad = [], 0
    for i in range(1, n_lines + 1):
        if i % bad_every == 0:
            lines.append(rng.choice(bad_pool))
            bad += 1
        else:
            lines.append(orjson.dumps(story(f"{path.stem}-{i}", prose(rng, vocab, 80), source=f"S{i % 4}")))
    write_jsonl(path, lines)
    return n_lines - bad, bad


def test_accounting_balances_per_file_with_ten_percent_bad_lines(tmp_path):
    rng = random.Random(10)
    wanted = {}
    for name in ("feed_a", "feed_b", "feed_c"):
        path = tmp_path / f"{name}.jsonl"
        wanted[str(path)] = _mixed_file(path, rng, 60, 10)
    report = run(["--input", str(tmp_path / "feed_*.jsonl"), "--output", str(tmp_path / "out")])
    by_file = report["accounting"]["by_file"]
    assert set(by_file) == set(wanted)
    for path, (good, bad) in wanted.items():
        assert by_file[path] == {"read": 60, "variants": good, "dead_letters": bad, "balanced": True}
        assert bad == 6
    found = outcomes(tmp_path / "out")
    assert sum(v == "variant" for v in found.values()) == report["accounting"]["variants_written"] == 162
    assert report["accounting"]["records_read"] == 180 and report["accounting"]["balanced"]


def _all_lines(out_dir, kind):
    return sorted(line for path in out_dir.glob(f"{kind}-*.jsonl") for line in path.read_bytes().splitlines())


def test_output_is_identical_across_input_file_order_and_shard_counts(tmp_path):
    hostile = write_jsonl(tmp_path / "hostile.jsonl", [
        line for generate in HOSTILE_CLASSES.values() for line in generate(random.Random(5), 3)[0]
        if len(line) < 100_000
    ])
    inputs = [a for p in (SAMPLE, REJECTS, hostile) for a in ("--input", str(p))]
    reversed_inputs = [a for p in (hostile, REJECTS, SAMPLE) for a in ("--input", str(p))]
    run([*inputs, "--output", str(tmp_path / "one")])
    run([*inputs, "--output", str(tmp_path / "three"), "--num_shards", "3"])
    run([*reversed_inputs, "--output", str(tmp_path / "three_reversed"), "--num_shards", "3",
         "--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    for kind in ("stories", "dead_letters"):
        shards = sorted((tmp_path / "three").glob(f"{kind}-*.jsonl"))
        assert len(shards) == 3
        # The same records whatever the shard count, and the same shard files whatever the order.
        assert _all_lines(tmp_path / "one", kind) == _all_lines(tmp_path / "three", kind)
        assert [p.read_bytes() for p in shards] == [
            (tmp_path / "three_reversed" / p.name).read_bytes() for p in shards
        ]


def _start(args, log):
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=REPO, stdout=log, stderr=log,
                            start_new_session=True)


def test_a_run_killed_part_way_leaves_the_previous_output_and_a_rerun_completes(tmp_path):
    rng = random.Random(11)
    vocab = vocabulary(rng, 20_000)
    big = write_jsonl(tmp_path / "big.jsonl", [story(f"k{i}", prose(rng, vocab, 150), source=f"S{i % 9}")
                                               for i in range(1000)])
    out = tmp_path / "out"
    run(["--input", str(SAMPLE), "--output", str(out)])
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    with open(tmp_path / "killed.log", "wb") as log:
        process = _start(["--input", str(big), "--output", str(out)], log)
        deadline = time.monotonic() + 120
        while not list(out.glob(".staging-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert process.poll() is None, "the run finished before it could be killed; use a larger corpus"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    after_kill = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after_kill == before  # the previous complete output, untouched

    report = run(["--input", str(big), "--output", str(out)])
    fresh = run(["--input", str(big), "--output", str(tmp_path / "fresh")])
    assert not list(out.glob(".staging-*"))
    assert _all_lines(out, "stories") == _all_lines(tmp_path / "fresh", "stories")
    assert report["accounting"] == {**fresh["accounting"]} and report["accounting"]["variants_written"] == 1000


@pytest.mark.parametrize("n", [10_000])
def test_shared_boilerplate_neither_merges_stories_nor_goes_quadratic(tmp_path, n):
    path = write_jsonl(tmp_path / "boilerplate.jsonl", boilerplate_corpus(random.Random(7), n))
    report = run(["--input", str(path), "--output", str(tmp_path / "out")])
    assert report["stories"] == n  # unrelated stories stay apart
    cap = report["options"]["max_bucket_size"]
    variant, story = report["tiers"]["variant"], report["tiers"]["story"]
    assert variant["buckets_capped"] > 0  # the boilerplate made hot buckets, and they were capped
    assert variant["bucket_size"]["max"] > cap
    # The story MinHash covers each story's heaviest terms only, which the shared boilerplate's
    # (common) words are not: no story bucket needs the cap, and any that did would have it.
    assert story["buckets_capped"] > 0 or story["bucket_size"]["max"] <= cap
    for figures in (variant, story):
        assert figures["candidate_pairs"] <= 50 * n  # linear, not n^2 / 2 = 5e7


def test_a_gradually_changing_chain_does_not_collapse_into_one_story(tmp_path):
    corpus = chain_corpus(random.Random(12), 40)
    path = write_jsonl(tmp_path / "chain.jsonl", corpus)
    run(["--input", str(path), "--output", str(tmp_path / "out")])
    position = {r["id"]: i for i, r in enumerate(corpus)}
    stories = [sorted(position[v["id"]] for v in r["variants"]) for r in read_jsonl((tmp_path / "out").glob("stories-*.jsonl"))]
    assert len(stories) > 1
    # Neighbours in the chain may group, but no story spans the chain: its ends share no words.
    assert max(s[-1] - s[0] for s in stories) < len(corpus) // 2
