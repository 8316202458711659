#!/usr/bin/env bash
# The MNIST-1D paper's CNN (three convolutions of 25 channels and a linear head, about 5.2k parameters) reaches 94%
# test. Does a default search find a network of no more parameters that does as well, once promoted? One default
# budget-200 search (seed 0), its best network of <= 5,200 parameters by its own fitness, promoted with all weights
# trained 60 epochs at two learning rates (the better on the validation slice kept), judged on the 1,000 test series.
# Resumable: a finished search is kept, a stopped promotion continues, a finished one is only shown.
set -euo pipefail
R=results/studies/mnist1d-at-5k
MAX_PARAMS=5200
[ -e $R/search/.done ] || { rm -rf $R/search; evohybrid search --config mnist1d --budget 200 --seed 0 --out $R/search \
  --quiet; touch $R/search/.done; }
if [ -e $R/search/promoted/summary.csv ]; then
  cat $R/search/promoted/summary.csv
elif [ -d $R/search/promoted ]; then
  evohybrid promote $R/search --resume
else
  id=$(evohybrid pareto $R/search --format json | python -c "import json, sys
front = [p for p in json.load(sys.stdin) if p['params'] <= $MAX_PARAMS]
print(max(front, key=lambda p: (p['val_acc'], -p['params']))['id'])")
  evohybrid promote $R/search --ids "$id" --epochs 60 --lr 0.1,0.03
fi
