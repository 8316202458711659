#!/usr/bin/env bash
# The equal-time comparison: the default search, random search and the multi-fidelity search, three seeds
# each, every search given 600 s of wall time on the same machine; then up to 8 members of each front are
# trained fully (the truth recipe) and compared by true hypervolume and best true accuracy at <= 100k params.
# Resumable: a finished search is skipped, the truth continues where it stopped.
set -euo pipefail
R=results/studies/equal-time-fashion-mnist
for seed in 0 1 2; do
  for variant in nsga2 random multi-fidelity; do
    dir=$R/$variant-seed$seed
    [ -e "$dir" ] && continue
    case $variant in
      multi-fidelity) args=(--config multi-fidelity) ;;
      *) args=(--algorithm "$variant" --selection fitness) ;;  # BN-only, the default's selection when it ran
    esac
    evohybrid search "${args[@]}" --seed "$seed" --budget 100000 --time-budget 600 --out "$dir" --quiet
  done
done
evohybrid study algorithms $R/nsga2-seed* $R/random-seed* $R/multi-fidelity-seed* --out $R --promote-front 8
