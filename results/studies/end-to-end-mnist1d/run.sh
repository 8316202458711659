#!/usr/bin/env bash
# The end-to-end comparison on MNIST-1D, judged where a user picks a network: at a given size. For each seed, back to
# back and alone on the machine, every variant gets the same wall time: that of one budget-200 search of the config
# without its screen, as the study began (measured once, alone, into time_budget.txt). Each variant names its
# screening (`screen` is the config's default now, the others turn it off), so the study means the same whatever the
# default. Then each search's best network in each size band, by its own fitness (and random search's largest), is
# trained with the truth recipe, two seeds.
# Resumable: a finished search is kept (.done), a search that was stopped part-way is run again from scratch (its
# time budget is per command), and the truth continues where it stopped.
set -euo pipefail
R=results/studies/end-to-end-mnist1d
SEEDS=${SEEDS:-"0 1 2 3 4 5 6 7 8 9"}
if [ ! -s $R/time_budget.txt ]; then
  rm -rf $R/calibration
  evohybrid search --config mnist1d --no-screen --budget 200 --out $R/calibration --quiet
  python -c "from evohybrid.evolution.store import RunStore; print(round(RunStore.open('$R/calibration').wall_s()))" \
    > $R/time_budget.txt
fi
TIME=$(cat $R/time_budget.txt)
for seed in $SEEDS; do
  for variant in nsga2 noise ensemble screen random; do
    dir=$R/$variant-seed$seed
    [ -e "$dir/.done" ] && continue
    rm -rf "$dir"
    case $variant in
      nsga2) args=(--no-screen) ;;
      noise) args=(--selection noise --no-screen) ;;
      ensemble) args=(--selection ensemble --no-screen) ;;
      screen) args=(--screen-signal naswot --screen-factor 4) ;;
      random) args=(--algorithm random --no-screen) ;;
    esac
    evohybrid search --config mnist1d "${args[@]}" --seed "$seed" --budget 100000 --time-budget "$TIME" \
      --out "$dir" --quiet
    touch "$dir/.done"
  done
done
evohybrid study algorithms $R/*-seed* --out $R --bands 5000,15000,50000,150000 --reference "nsga2+screen(naswot x4)" \
  --true-hv-accuracy 0.9 --truth-epochs 20 --truth-seeds 2 --truth-val-size 800 --truth-lr 0.1
