#!/usr/bin/env bash
# The second time-series protocol (../timeseries-series/run.sh) with a fitness at about a quarter of its cost:
# BN-only over two folds of each set's search slices instead of three, in batches of 16 series instead of up to
# 128, so that a budget-100 search of full-length networks fits in 10 minutes. Everything after the search (five
# best by five-fold cross-validation, the ensemble of three, refits with three seeds) is unchanged. Resumable set
# by set; each search alone on the machine (its time is a target).
set -euo pipefail
evohybrid study timeseries --out results/studies/timeseries-series-fast --space series --fitness-folds 2 \
  --fitness-batch 16 --promote-top 5 --cv-folds 5 --ensemble 3 --refit-seeds 3 "$@"
