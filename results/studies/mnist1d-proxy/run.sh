#!/usr/bin/env bash
# The MNIST-1D proxy study: 200 architectures of the mnist1d space spread over its parameter range; every signal
# at two weight seeds; the truth is every weight trained with the promotion recipe (SGD 0.1, cosine, 20 epochs)
# under four seeds, validated on the 800 series the search holds out. Resumable: run it again to continue.
set -euo pipefail
R=results/studies/mnist1d-proxy
evohybrid study proxy --config $R/config.yaml --n 200 --truth-epochs 20 --truth-seeds 4 --truth-val-size 800 \
  --truth-lr 0.1 --proxy-seeds 2 --out $R "$@"
