#!/usr/bin/env bash
# The README's GPU figures in one run (see scripts/bench_gpu.py), stopped after 8 minutes.
# Usage: scripts/bench_gpu.sh [--smoke] [--device cuda:1] [--repeats N]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"
python="${PYTHON:-python}"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
exec timeout 480 "${python}" "${root}/scripts/bench_gpu.py" "$@"
