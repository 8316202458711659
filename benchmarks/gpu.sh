#!/usr/bin/env bash
# The GPU figures of the README in one go: GPU tests, evaluator against the naive reference,
# search wall time and GPU packing, CUDA graphs and torch.compile per architecture.
# Logs go to $LOGS (default: gpu-logs/). Each step has a time limit; a failing step does not stop the rest.
#   bash benchmarks/gpu.sh            # synthetic CIFAR-10-shaped data, no download
#   DATASET=cifar10 bash benchmarks/gpu.sh
set -u
LOGS=${LOGS:-gpu-logs}
DATASET=${DATASET:-synthetic-cifar10}
PYTHON=${PYTHON:-python}
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    echo "   exit $? after ${SECONDS}s total"
    tail -n 14 "$LOGS/$name.log"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
step evaluator 120 "$PYTHON" benchmarks/evaluator_speed.py --config cifar10-gpu --dataset "$DATASET" --device cuda \
    --genomes 6 --threads 4 --ablate
step search 230 "$PYTHON" benchmarks/search_speed.py --config cifar10-gpu --dataset "$DATASET" \
    --packing "${PACKING:-1:40,0.25:200,0.125:80}"
step capture 100 "$PYTHON" benchmarks/step_capture.py --config cifar10-gpu --dataset "$DATASET" --genomes 4 --compile 1
step tests 60 "$PYTHON" -m pytest -q tests/test_gpu.py
