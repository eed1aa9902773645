"""Smoke tests: the benchmark and corpus scripts run end to end on a tiny corpus (no timings asserted)."""
from __future__ import annotations

from benchmarks.corpus import generate
from benchmarks.run import KINDS, main


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


def test_benchmark_script_runs_every_measurement_on_a_tiny_corpus(tmp_path, capsys):
    out = tmp_path / "BENCHMARKS.md"
    assert main(["--stories", "40", "--repeats", "1", "--markdown", str(out)]) == 0
    text = out.read_text()
    for label in KINDS.values():
        assert label in text
    assert "stories/s" in text and "peak RSS" in text
