#!/usr/bin/env bash
# The Fashion-MNIST proxy study, grown from its first 60 architectures to 120 (the first 60 are kept, with every
# measurement they have; 60 more are spread over the parameter range). Truth: every weight trained 2 epochs with the
# promotion recipe on the 50,000 other training images at 16 px, two seeds, validated on 10,000 held-out images.
# About 3 hours of two cores for the new truths. Resumable: run it again to continue.
set -euo pipefail
R=results/studies/fashion-mnist-60
evohybrid study proxy --config $R/config.yaml --n 120 --truth-epochs 2 --truth-seeds 2 --truth-val-size 10000 \
  --proxy-seeds 2 --out $R "$@"
