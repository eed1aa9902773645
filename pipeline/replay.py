"""Replay JSON-lines stories into a watched folder in event-time order, at a chosen rate.

    python -m pipeline.replay --input data/sample/wire_sample.jsonl --into /tmp/wire-in --rate 2

Stories are sorted by `published_at` (lines without a readable one keep their place at the
front, so bad records reach the pipeline's dead letters too) and written `--per_file` at a time
as replay-NNNNNN.jsonl, each landing atomically (written under a hidden name, then renamed), at
`--rate` stories per second (0: as fast as possible).
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from collections.abc import Callable, Iterator

import orjson

from schemas.validate import Rejected, parse_timestamp


def _event_time(line: bytes) -> float:
    try:
        return parse_timestamp(orjson.loads(line)["published_at"]).timestamp()
    except (orjson.JSONDecodeError, Rejected, KeyError, TypeError, AttributeError):
        return float("-inf")


def event_ordered_lines(patterns: list[str]) -> list[bytes]:
    lines = [
        line
        for pattern in patterns
        for path in sorted(glob.glob(pattern))
        for line in open(path, "rb").read().splitlines()
        if line.strip()
    ]
    return sorted(lines, key=_event_time)  # stable: equal times keep input order


def batches(lines: list[bytes], per_file: int) -> Iterator[list[bytes]]:
    for start in range(0, len(lines), per_file):
        yield lines[start : start + per_file]


def replay(
    lines: list[bytes], into: str, per_file: int, rate: float,
    landed: Callable[[str, list[bytes], float], None] = lambda path, batch, at: None,
) -> int:
    """Write `lines` into `into`; calls `landed(path, lines, time)` after each file appears."""
    os.makedirs(into, exist_ok=True)
    started = time.time()
    written = 0
    for number, batch in enumerate(batches(lines, per_file)):
        if rate > 0:
            time.sleep(max(0.0, started + written / rate - time.time()))
        path = os.path.join(into, f"replay-{number:06d}.jsonl")
        hidden = os.path.join(into, f".replay-{number:06d}.tmp")
        with open(hidden, "wb") as handle:
            handle.write(b"\n".join(batch) + b"\n")
        os.rename(hidden, path)
        written += len(batch)
        landed(path, batch, time.time())
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", action="append", required=True, help="JSONL file glob; repeatable.")
    parser.add_argument("--into", required=True, help="Folder the streaming pipeline watches (--input_dir).")
    parser.add_argument("--rate", type=float, default=2.0, help="Stories per second (0: no pause). Default: 2.")
    parser.add_argument("--per_file", type=int, default=1, help="Stories per file. Default: 1.")
    args = parser.parse_args(argv)
    lines = event_ordered_lines(args.input)
    count = replay(
        lines, args.into, args.per_file, args.rate,
        lambda path, batch, at: print(f"{time.strftime('%H:%M:%S')} {os.path.basename(path)}: {len(batch)} stories"),
    )
    print(f"replayed {count} stories into {args.into}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
