#!/usr/bin/env bash
# The end-to-end comparison on Fashion-MNIST, judged where a user picks a network: at a given size. For each seed,
# back to back and alone on the machine, every variant gets 300 s of wall time (about a default budget-200 search
# here): the default search when it began (selection on BN-only); the same with the BN + head recipe of 200 steps
# (bn-head-200.yaml); the ablation that selects on seeded noise; the rank ensemble of BN-only and NASWOT; random
# search. Then each search's best network in each size band, by its own fitness (and random search's largest), is
# trained with the proxy study's truth recipe (2 epochs, two seeds).
# The selections are named, so the study means the same whatever the default config selects on (the ensemble,
# since this study). Resumable: a finished search is kept (.done), a search that was stopped part-way is run again
# from scratch (its time budget is per command), and the truth continues where it stopped.
set -euo pipefail
R=results/studies/end-to-end-fashion-mnist
SEEDS=${SEEDS:-"0 1 2 3 4"}
for seed in $SEEDS; do
  for variant in nsga2 bn-head noise ensemble random; do
    dir=$R/$variant-seed$seed
    [ -e "$dir/.done" ] && continue
    rm -rf "$dir"
    case $variant in
      nsga2) args=(--selection fitness) ;;
      bn-head) args=(--config $R/bn-head-200.yaml) ;;
      noise) args=(--selection noise) ;;
      ensemble) args=(--selection ensemble) ;;
      random) args=(--algorithm random --selection fitness) ;;
    esac
    evohybrid search "${args[@]}" --seed "$seed" --budget 100000 --time-budget 300 --out "$dir" --quiet
    touch "$dir/.done"
  done
done
# The default search first: the others are compared with it, paired by seed.
evohybrid study algorithms $R/nsga2-seed* $R/bn-head-seed* $R/noise-seed* $R/ensemble-seed* $R/random-seed* --out $R \
  --bands 10000,30000,100000,300000 --true-hv-accuracy 0.7 --truth-epochs 2 --truth-seeds 2 "$@"
