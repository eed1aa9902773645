"""The JSON run report: accounting from the output data, stage figures from Beam Metrics."""
from __future__ import annotations

from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from transforms.metrics import NAMESPACE
from transforms.summary import SIZE_BINS, size_bin

TIERS = ("variant", "story")


def metric_values(result) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    """Counters and distributions of our namespace, summed over the steps that report them."""
    queried = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    counters: dict[str, int] = {}
    for item in queried["counters"]:
        value = item.committed if item.committed is not None else item.attempted
        counters[item.key.metric.name] = counters.get(item.key.metric.name, 0) + (value or 0)
    distributions: dict[str, dict[str, float]] = {}
    for item in queried["distributions"]:
        value = item.committed if item.committed is not None else item.attempted
        if value is None or not value.count:
            continue
        current = distributions.setdefault(item.key.metric.name, {"count": 0, "sum": 0, "min": value.min, "max": value.max})
        current["count"] += value.count
        current["sum"] += value.sum
        current["min"] = min(current["min"], value.min)
        current["max"] = max(current["max"], value.max)
    for current in distributions.values():
        current["mean"] = round(current["sum"] / current["count"], 3)
    return counters, distributions


def _bucket_sizes(tier: str, counters: dict, distributions: dict) -> dict[str, float] | None:
    """LSH bucket size figures: the bucket steps count buckets and entries, and record the extremes."""
    buckets, extremes = counters.get(f"{tier}_buckets", 0), distributions.get(f"{tier}_bucket_size_extremes")
    if not buckets or extremes is None:
        return None
    entries = counters.get(f"{tier}_bucket_entries", 0)
    return {"count": buckets, "sum": entries, "min": extremes["min"], "max": extremes["max"],
            "mean": round(entries / buckets, 3)}


def build_report(summary: list, counters: dict, distributions: dict, wall_seconds: float, options: dict) -> dict[str, Any]:
    """The run report; `options` are the grouping options (their limits are echoed under "limits")."""
    by_file: dict[str, dict[str, int]] = {}
    dead_by_reason: dict[str, int] = {}
    relations: dict[str, int] = {}
    flags: dict[str, int] = {}
    histogram = {size_bin(n): 0 for n in SIZE_BINS}
    histogram[size_bin(SIZE_BINS[-1] + 1)] = 0
    totals = {"stories": 0, "variant_groups": 0}
    for key, count in summary:
        kind = key[0]
        if kind == "read":
            by_file.setdefault(key[1], {"read": 0, "variants": 0, "dead_letters": 0})["read"] += count
        elif kind == "variants":
            by_file.setdefault(key[1], {"read": 0, "variants": 0, "dead_letters": 0})["variants"] += count
        elif kind == "dead_letters":
            dead_by_reason[key[1]] = dead_by_reason.get(key[1], 0) + count
            if key[1] != "unreadable_file":  # a file-level failure, not a line
                by_file.setdefault(key[2], {"read": 0, "variants": 0, "dead_letters": 0})["dead_letters"] += count
        elif kind == "story_size":
            histogram[key[1]] += count
        elif kind == "relation":
            relations[key[1]] = count
        elif kind == "flag":
            flags[key[1]] = count
        else:
            totals[kind] += count
    for figures in by_file.values():
        figures["balanced"] = figures["read"] == figures["variants"] + figures["dead_letters"]
    read = sum(f["read"] for f in by_file.values())
    variants = sum(f["variants"] for f in by_file.values())
    dead_lines = sum(f["dead_letters"] for f in by_file.values())
    tiers = {}
    for tier in TIERS:
        verified = counters.get(f"{tier}_pairs_verified", 0)
        rejected = counters.get(f"{tier}_pairs_rejected", 0)
        tiers[tier] = {
            "candidate_pairs": verified + rejected,
            "pairs_verified": verified,
            "pairs_rejected": rejected,
            "buckets_capped": counters.get(f"{tier}_buckets_capped", 0),
            "bucket_size": _bucket_sizes(tier, counters, distributions),
            "component_size": distributions.get(f"{tier}_component_size"),
            "components_split": counters.get(f"{tier}_components_split", 0),
            "cc_unconverged_edges": counters.get(f"{tier}_cc_unconverged_edges", 0),
        }
    return {
        "accounting": {
            "records_read": read,
            "variants_written": variants,
            "dead_letters": dead_lines,
            "balanced": read == variants + dead_lines,
            "unreadable_files": dead_by_reason.get("unreadable_file", 0),
            "blank_lines_skipped": counters.get("blank_lines_skipped", 0),
            "by_file": dict(sorted(by_file.items())),
        },
        "dead_letters_by_reason": dict(sorted(dead_by_reason.items())),
        "stories": totals["stories"],
        "variant_groups": totals["variant_groups"],
        "variants": variants,
        "relations": dict(sorted(relations.items())),
        "limits": {
            "max_record_bytes": options.get("max_record_bytes"),
            "max_sketch_chars": options.get("max_sketch_chars"),
            "bodies_truncated_for_sketch": counters.get("bodies_truncated_for_sketch", 0),
            "max_variants_per_story": options.get("max_variants_per_story"),
            "stories_flagged": dict(sorted(flags.items())),
        },
        "story_size_histogram": histogram,
        "tiers": tiers,
        "seconds": {
            "wall": round(wall_seconds, 3),
            "processing_by_stage": {
                name[len("usecs_"):]: value / 1e6
                for name, value in sorted(counters.items())
                if name.startswith("usecs_")
            },
        },
        "options": options,
    }
