"""datatrove's local MinHash deduplication (its 4 stages), as its own example runs it.

    PEER_PYTHON -m benchmarks.peers.datatrove_minhash INPUT_DIR WORK_DIR --tasks 2 --buckets B --rows R

Run with the datatrove virtualenv's python (not ours): datatrove pins its own dependencies.
Prints the number of documents kept, as one JSON line.
"""
from __future__ import annotations

import argparse
import gzip
import json
import pathlib

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("input_dir")
    parser.add_argument("work_dir")
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--buckets", type=int, required=True)
    parser.add_argument("--rows", type=int, required=True)
    args = parser.parse_args()
    work = pathlib.Path(args.work_dir)
    config = MinhashConfig(n_grams=5, num_buckets=args.buckets, hashes_per_bucket=args.rows)

    def read():
        return JsonlReader(args.input_dir, text_key="body", id_key="id", glob_pattern="*.jsonl")

    def run(steps, tasks, name):
        LocalPipelineExecutor(pipeline=steps, tasks=tasks, workers=args.tasks,
                              logging_dir=str(work / "logs" / name)).run()

    run([read(), MinhashDedupSignature(output_folder=str(work / "signatures"), config=config)], args.tasks, "signatures")
    run([MinhashDedupBuckets(input_folder=str(work / "signatures"), output_folder=str(work / "buckets"),
                             config=config)], config.num_buckets, "buckets")
    run([MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"),
                             config=config)], 1, "clusters")
    run([read(), MinhashDedupFilter(input_folder=str(work / "remove_ids")),
         JsonlWriter(str(work / "deduplicated"))], args.tasks, "filter")
    kept = sum(1 for path in (work / "deduplicated").rglob("*.jsonl.gz") for _ in gzip.open(path))
    print(json.dumps({"kept": kept}))


if __name__ == "__main__":
    main()
