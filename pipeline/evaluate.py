"""`python -m pipeline.evaluate --labeled FILE.jsonl [--labeled ...] [--json] [--sweep] [pipeline options]`

Runs the real pipeline on labeled JSONL (input schema plus gold `cluster`, optionally
`variant_cluster`) and scores each tier: pairwise and B-cubed precision/recall/F1, adjusted Rand
index, predicted vs gold cluster counts, and the worst merges and splits. Without `--json` it also
scores two baselines side by side (near-duplicate MinHash and TF-IDF average-link at its best
threshold) and prints a Markdown report (`--markdown PATH` writes it, `--json_out PATH` writes the
JSON). With `--json` it prints one JSON object: {"story": {...}, "variant": {...}} for the first
labeled file. `--sweep` varies the main thresholds and reports each setting.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import pathlib
import sys
import tempfile
from collections import Counter

import orjson

from dedup.baselines import near_dup_minhash, tfidf_average_link, tfidf_similarities
from dedup.metrics import all_metrics
from pipeline.options import argument_parser
from pipeline.run import run
from schemas.validate import parse_timestamp

METRIC_KEYS = ("bcubed_precision", "bcubed_recall", "bcubed_f1", "pairwise_precision", "pairwise_recall",
               "pairwise_f1", "ari", "n_pred", "n_gold")
TFIDF_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
SWEEP = {
    "story_threshold": ("0.2", "0.25", "0.27", "0.3", "0.33", "0.35"),
    "story_edge_threshold": ("0.15", "0.2", "0.25"),
    "story_neighbours": ("0", "5", "10", "15"),
    "story_top_k": ("40", "80", "150"),
    "story_signature_terms": ("20", "30", "50", "80"),
    "variant_threshold": ("0.3", "0.5", "0.7"),
    "shingle_size": ("3", "4", "5"),
    "num_perm": ("64", "128", "256"),
    "horizon_hours": ("24", "72", "0"),
}
WORST = 5


def load_labeled(path: str) -> list[dict]:
    return [orjson.loads(line) for line in pathlib.Path(path).read_bytes().splitlines() if line.strip()]


def predict(path: str, pipeline_args: list[str]) -> tuple[dict, dict, dict]:
    """Run the pipeline; return (story label, variant group label) per (source, id), and the report."""
    with tempfile.TemporaryDirectory() as out:
        report = run(["--input", path, "--output", out, *pipeline_args])
        story, variant = {}, {}
        for shard in sorted(pathlib.Path(out).glob("stories-*.jsonl")):
            for line in shard.read_bytes().splitlines():
                record = orjson.loads(line)
                for v in record["variants"]:
                    story[(v["source"], v["id"])] = record["story_id"]
                    variant[(v["source"], v["id"])] = v["variant_group"]
    return story, variant, report


def _complete(pred: dict, keys) -> dict:
    """Dead-lettered or missing items count as singletons."""
    return {key: pred.get(key, ("missing",) + key) for key in keys}


def worst_errors(pred: dict, gold: dict, headlines: dict) -> dict:
    by_pred, by_gold = {}, {}
    for key in gold:
        by_pred.setdefault(pred[key], []).append(key)
        by_gold.setdefault(gold[key], []).append(key)
    merges = []
    for label, keys in by_pred.items():
        golds = Counter(gold[k] for k in keys)
        if len(golds) > 1:
            merges.append({"predicted": str(label), "gold_clusters": dict(golds.most_common()),
                           "examples": [{"id": k[1], "gold": gold[k], "headline": headlines[k][:90]}
                                        for k in sorted(keys, key=lambda k: (gold[k], k))[:6]]})
    splits = []
    for label, keys in by_gold.items():
        preds = Counter(pred[k] for k in keys)
        if len(preds) > 1:
            splits.append({"gold": str(label), "predicted_sizes": sorted(preds.values(), reverse=True),
                           "stray": [{"id": k[1], "headline": headlines[k][:90]}
                                     for k in sorted(keys) if preds[pred[k]] == min(preds.values())][:4]})
    merges.sort(key=lambda m: (-sum(m["gold_clusters"].values()) + max(m["gold_clusters"].values()), m["predicted"]))
    splits.sort(key=lambda s: (-(sum(s["predicted_sizes"]) - s["predicted_sizes"][0]), s["gold"]))
    return {"worst_merges": merges[:WORST], "worst_splits": splits[:WORST]}


def evaluate_file(path: str, pipeline_args: list[str], baselines: bool) -> dict:
    rows = load_labeled(path)
    keys = [(r["source"], r["id"]) for r in rows]
    headlines = {(r["source"], r["id"]): r.get("headline") or r["body"][:90] for r in rows}
    story_pred, variant_pred, report = predict(path, pipeline_args)
    result = {"file": path, "n_items": len(rows), "seconds": report["seconds"]["wall"]}
    gold = {(r["source"], r["id"]): r["cluster"] for r in rows}
    story_pred = _complete(story_pred, keys)
    result["story"] = all_metrics(story_pred, gold)
    result["story_errors"] = worst_errors(story_pred, gold, headlines)
    if all("variant_cluster" in r for r in rows):
        variant_gold = {(r["source"], r["id"]): r["variant_cluster"] for r in rows}
        variant_pred = _complete(variant_pred, keys)
        result["variant"] = all_metrics(variant_pred, variant_gold)
        result["variant_errors"] = worst_errors(variant_pred, variant_gold, headlines)
    if baselines:
        result["baselines"] = score_baselines(rows, gold, pipeline_args)
    return result


def score_baselines(rows: list[dict], gold: dict, pipeline_args: list[str]) -> dict:
    keys = [(r["source"], r["id"]) for r in rows]
    horizon = _horizon_seconds(pipeline_args)
    near = near_dup_minhash([r["body"] for r in rows])
    out = {"near_dup_minhash_5gram_t0.7": all_metrics({keys[i]: near[i] for i in near}, gold)}
    times = [parse_timestamp(r["published_at"]).timestamp() for r in rows]
    sim = tfidf_similarities([f"{r.get('headline', '')}\n{r['body']}" for r in rows], times, horizon)
    best = None
    for threshold in TFIDF_THRESHOLDS:
        labels = tfidf_average_link(sim, threshold)
        scores = all_metrics({keys[i]: labels[i] for i in labels}, gold)
        if best is None or scores["bcubed_f1"] > best[1]["bcubed_f1"]:
            best = (threshold, scores)
    out[f"tfidf_average_link_best_t{best[0]}"] = best[1]
    if any("variant_cluster" in r for r in rows) and all("variant_cluster" in r for r in rows):
        variant_gold = {(r["source"], r["id"]): r["variant_cluster"] for r in rows}
        out["near_dup_minhash_5gram_t0.7_variant_tier"] = all_metrics({keys[i]: near[i] for i in near}, variant_gold)
    return out


def _horizon_seconds(pipeline_args: list[str]) -> float | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--horizon_hours", type=float, default=72.0)
    hours = parser.parse_known_args(pipeline_args)[0].horizon_hours
    return hours * 3600 if hours > 0 else None


def sweep(path: str, pipeline_args: list[str]) -> list[dict]:
    rows = []
    for option, values in SWEEP.items():
        for value in values:
            result = evaluate_file(path, [*pipeline_args, f"--{option}", value], baselines=False)
            rows.append({"option": option, "value": value, "story": result["story"], "variant": result.get("variant")})
    return rows


def _row(name: str, m: dict) -> str:
    return f"| {name} | " + " | ".join(str(m[k]) for k in METRIC_KEYS) + " |"


def markdown(results: list[dict], command: str, sweeps: dict) -> str:
    header = "| method | " + " | ".join(METRIC_KEYS) + " |\n|---|" + "---|" * len(METRIC_KEYS)
    lines = ["# Evaluation", "", f"Produced by `{command}`.", ""]
    for result in results:
        lines += [f"## {result['file']} ({result['n_items']} stories, pipeline {result['seconds']:.1f} s)", "",
                  "### Story tier", "", header, _row("ours (story tier)", result["story"])]
        for name, scores in result.get("baselines", {}).items():
            if not name.endswith("_variant_tier"):
                lines.append(_row(name, scores))
        if "variant" in result:
            lines += ["", "### Variant tier", "", header, _row("ours (variant tier)", result["variant"])]
            for name, scores in result.get("baselines", {}).items():
                if name.endswith("_variant_tier"):
                    lines.append(_row(name.removesuffix("_variant_tier"), scores))
        for tier in ("story", "variant"):
            errors = result.get(f"{tier}_errors")
            if not errors:
                continue
            lines += ["", f"Worst {tier} merges:", ""]
            lines += [f"- {m['gold_clusters']}: " + "; ".join(f"`{e['id']}` ({e['gold']}) {e['headline']!r}" for e in m["examples"])
                      for m in errors["worst_merges"]] or ["- none"]
            lines += ["", f"Worst {tier} splits:", ""]
            lines += [f"- {s['gold']} split {s['predicted_sizes']}; stray: " + "; ".join(f"`{e['id']}` {e['headline']!r}" for e in s["stray"])
                      for s in errors["worst_splits"]] or ["- none"]
        lines.append("")
    if sweeps:
        defaults = {a.dest: a.default for a in argument_parser()._actions if a.dest in SWEEP}
        lines += ["## Chosen defaults", "", "The pipeline's defaults for the swept options (each sweep row "
                  "changes one of them): " + ", ".join(f"`--{k} {v}`" for k, v in defaults.items()) + ".", ""]
    for path, rows in sweeps.items():
        lines += [f"## Sweep on {path}", "", "| option | value | story B3 F1 | story pairwise F1 | story ARI | variant pairwise F1 |",
                  "|---|---|---|---|---|---|"]
        for row in rows:
            variant = row["variant"]["pairwise_f1"] if row["variant"] else "-"
            lines.append(f"| {row['option']} | {row['value']} | {row['story']['bcubed_f1']} | "
                         f"{row['story']['pairwise_f1']} | {row['story']['ari']} | {variant} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__.split("\n\n")[1],
                                     epilog="Other options are passed to the pipeline (python -m pipeline --help).")
    parser.add_argument("--labeled", action="append", required=True, help="Labeled JSONL file. Repeatable.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object with both tiers' metrics.")
    parser.add_argument("--sweep", action="store_true", help="Vary the main thresholds and report each.")
    parser.add_argument("--markdown", help="Write the Markdown report to this path.")
    parser.add_argument("--json_out", help="Write the full JSON results to this path.")
    args, pipeline_args = parser.parse_known_args(argv)
    quiet = contextlib.redirect_stderr(io.StringIO())
    if args.json:
        with quiet:
            result = evaluate_file(args.labeled[0], pipeline_args, baselines=False)
        out = {"story": {k: result["story"][k] for k in METRIC_KEYS}}
        if "variant" in result:
            out["variant"] = {k: result["variant"][k] for k in METRIC_KEYS}
        print(orjson.dumps(out).decode())
        return 0
    with quiet:
        results = [evaluate_file(path, pipeline_args, baselines=True) for path in args.labeled]
        sweeps = {path: sweep(path, pipeline_args) for path in args.labeled} if args.sweep else {}
    command = "python -m pipeline.evaluate " + " ".join(argv)
    report = markdown(results, command, sweeps)
    print(report)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(report + "\n", encoding="utf-8")
    if args.json_out:
        pathlib.Path(args.json_out).write_bytes(orjson.dumps({"results": results, "sweeps": sweeps}, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
