#!/usr/bin/env bash
# Set up a virtualenv (first run only), install the project, and run the batch pipeline on the
# bundled sample corpus. Extra arguments go to the pipeline, e.g. ./run_local.sh --num_shards 2
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import pipeline, apache_beam, datasketch" >/dev/null 2>&1 \
   || [ setup.py -nt .venv/.installed ]; then
  echo "installing into .venv (log: .venv/install.log) ..."
  if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e ".[test]"; } \
       > .venv/install.log 2>&1; then
    tail -n 30 .venv/install.log >&2
    exit 1
  fi
  touch .venv/.installed
fi
OUT=${OUT:-output/sample}
.venv/bin/python -m pipeline --input 'data/sample/*.jsonl' --output "$OUT" "$@" 2> >(grep -v "apitools not found" >&2)
echo "outputs: $(ls "$OUT" | tr '\n' ' ')"
echo "first story: $(head -c 300 "$OUT"/stories-00000-of-*.jsonl)..."
