"""`python -m pipeline --input GLOB [--input GLOB2 ...] --output DIR [beam options]` (batch), or
`python -m pipeline --streaming --input_dir DIR --output OUT [--stop_after_idle SECONDS]`."""
from __future__ import annotations

import logging
import sys

from pipeline.options import argument_parser
from pipeline.run import UsageError, run
from pipeline.streaming import run_streaming
from transforms.metrics import PROGRESS_LOGGER


def summary_lines(report: dict) -> list[str]:
    accounting = report["accounting"]
    reasons = ", ".join(f"{k} {v}" for k, v in report["dead_letters_by_reason"].items()) or "none"
    relations = report["relations"]
    return [
        f"read {accounting['records_read']} records from {len(accounting['by_file'])} file(s)",
        f"{report['stories']} stories from {report['variants']} variants in {report['variant_groups']} variant groups "
        f"({relations.get('reprint', 0)} reprints, {relations.get('rewrite', 0)} rewrites)",
        f"{accounting['dead_letters']} dead letters: {reasons}",
        f"accounting {'balanced' if accounting['balanced'] else 'NOT BALANCED'}: "
        f"read = variants + dead letters; {report['seconds']['wall']:.1f} s",
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if "--quiet" not in argv:
        PROGRESS_LOGGER.setLevel(logging.INFO)
    if "--help" in argv or "-h" in argv:
        argument_parser().print_help()
        return 0
    if "--streaming" in argv:
        try:
            finished = run_streaming(argv)
        except UsageError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"streaming job drained after {finished['seconds']:.1f} s; upserts in {finished['output']}")
        return 0
    try:
        report = run(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in summary_lines(report):
        print(line)
    return 0 if report["accounting"]["balanced"] else 1


if __name__ == "__main__":
    sys.exit(main())
