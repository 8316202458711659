#!/usr/bin/env bash
# The Fashion-MNIST proxy study, grown from its first 60 architectures to 120, then 200 (each growth keeps what the
# study measured and adds architectures spread over the parameter range). Truth: every weight trained 2 epochs with
# the promotion recipe on the 50,000 other training images at 16 px, two seeds, validated on 10,000 held-out images.
# The truths of the 140 added architectures were trained on one GPU by the same command with
# `--measure truth --executor local --workers 12` (16 s a training there, 189 s on a CPU core); the signals are
# measured on CPUs, about 100 s of a core per architecture. Resumable: run it again to continue.
set -euo pipefail
R=results/studies/fashion-mnist-60
evohybrid study proxy --config $R/config.yaml --n 200 --truth-epochs 2 --truth-seeds 2 --truth-val-size 10000 \
  --proxy-seeds 2 --out $R "$@"
