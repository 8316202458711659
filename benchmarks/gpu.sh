#!/usr/bin/env bash
# The GPU figures of the performance page (docs/performance.md) in one go (about seven minutes on one GPU): the GPU tests, the
# evaluator against the DataLoader reference, search wall time and GPU packing, CUDA graphs and
# torch.compile per architecture, a promotion and a small proxy study on the GPU.
# Logs go to $LOGS (default: gpu-logs/), run folders to $KEEP (default: $LOGS/runs). Each step has
# a time limit; a failing step does not stop the rest.
#   bash benchmarks/gpu.sh            # synthetic CIFAR-10-shaped data, no download
#   DATASET=cifar10 bash benchmarks/gpu.sh
# The tests and the proxy study read Fashion-MNIST (the offline default, or EVOHYBRID_DATA).
set -u
LOGS=${LOGS:-gpu-logs}
KEEP=${KEEP:-$LOGS/runs}
DATASET=${DATASET:-synthetic-cifar10}
PYTHON=${PYTHON:-python}
mkdir -p "$LOGS" "$KEEP"
export PYTHONUNBUFFERED=1
EVOHYBRID=("$PYTHON" -c "from evohybrid.cli import main; main()")

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    echo "   exit $? after ${SECONDS}s total"
    tail -n 14 "$LOGS/$name.log"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# The GPU tests, and the CPU tests of the evaluator and full training, which run on the GPU where there is one.
step tests 90 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_evaluator.py \
    tests/test_learning.py tests/test_training.py
step evaluator 60 "$PYTHON" benchmarks/evaluator_speed.py --config cifar10-gpu --dataset "$DATASET" --device cuda \
    --genomes 4 --threads 4 --loader-workers 4 --ablate
# Four per GPU first: the budget-200 search the README quotes; then one and eight per GPU.
PACKING=${PACKING:-0.25:200,1:24,0.125:64}
FIRST=${PACKING%%,*}  # the first search's folder is 1-packing-<its GPUs per evaluation>: that run is promoted
step search 150 "$PYTHON" benchmarks/search_speed.py --config cifar10-gpu --dataset "$DATASET" \
    --packing "$PACKING" --keep "$KEEP"
step promote 45 "${EVOHYBRID[@]}" promote "$KEEP/1-packing-${FIRST%%:*}" --top 2 --epochs 2 --train-size 20000 \
    --batch-size 256
step proxy 40 "${EVOHYBRID[@]}" study proxy --config smoke --n 10 --truth-epochs 1 --truth-seeds 1 \
    --proxy-seeds 1 --truth-val-size 1000 --truth-train-size 4000 --out "$KEEP/proxy"
step capture 50 "$PYTHON" benchmarks/step_capture.py --config cifar10-gpu --dataset "$DATASET" --genomes 4 \
    --compile 1 --repeats 30
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
