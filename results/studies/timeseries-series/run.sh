#!/usr/bin/env bash
# The time-series study again, with what the first one lacked: the series space (full-length networks of every
# block type, FCN, ResNet-1D and InceptionTime among them), the fitness over three folds of each set's search
# slices, the winner among the five best chosen by five-fold cross-validation of full training on the training
# split, and an ensemble of the three best beside it; both refit on the whole training split with three seeds, as
# MiniRocket. Resumable set by set; each search alone on the machine (its time is a target).
set -euo pipefail
evohybrid study timeseries --out results/studies/timeseries-series --space series --fitness-folds 3 \
  --promote-top 5 --cv-folds 5 --ensemble 3 --refit-seeds 3 "$@"
