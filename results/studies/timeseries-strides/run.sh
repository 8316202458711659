#!/usr/bin/env bash
# The fast time-series protocol (../timeseries-series-fast/run.sh) on the space whose every stage chooses its stride
# (search_spaces/series-strides.yaml): does letting the search halve the length where it pays close the gap to
# MiniRocket? Resumable set by set; each search alone on the machine (its time is a target). The candidates are the
# best by fitness of at most 1M parameters: OSULeaf's first by fitness had 8.35M, a cross-validation of hours of CPU.
set -euo pipefail
evohybrid study timeseries --out results/studies/timeseries-strides --space series-strides \
  --fitness-folds 2 --fitness-batch 16 --promote-top 5 --cv-folds 5 --ensemble 3 --refit-seeds 3 --max-params 1000000 --seed-ensemble 3 "$@"
