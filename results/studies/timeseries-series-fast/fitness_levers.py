"""Cheaper fitnesses for full-length networks: each one's cost and its rank agreement with the fitness a search of
../timeseries-series committed, on n of that search's genomes spread over its fitness values. Two workers of one
thread each, as the search. Run from the repository root:
    python results/studies/timeseries-series-fast/fitness_levers.py results/studies/timeseries-series/GunPoint/search 20
"""
import dataclasses
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path
import torch
from scipy.stats import kendalltau

VARIANTS = {
    "same, seed 1": ({}, 1),
    "batch 16": ({"batch_size": 16}, 0),
    "2 folds": ({"folds": 2}, 0),
    "20 steps": ({"steps": 20}, 0),
}

def job(args):
    run_dir, genome_dict, overrides, seed = args
    torch.set_num_threads(1)
    from evohybrid.config import config_from_dict
    from evohybrid.evolution.executors import load_search_split
    from evohybrid.fitness.evaluator import evaluate
    from evohybrid.spaces.genome import Genome
    config = config_from_dict(json.loads((Path(run_dir) / "config.json").read_text())["config"])
    if _cache.get("key") != run_dir:  # the split once per worker
        _cache.update(key=run_dir, split=load_search_split(config))
    fitness = dataclasses.replace(config.fitness, **overrides)
    start = time.perf_counter()
    record = evaluate(Genome.from_dict(genome_dict), _cache["split"], fitness, seed=seed)
    return record["val_acc"], time.perf_counter() - start

_cache = {}

def main(run_dir, n):
    rows = [json.loads(l) for l in open(Path(run_dir) / "evaluations.jsonl")]
    rows = [r for r in rows if r["status"] == "ok"]
    rows.sort(key=lambda r: r["val_acc"])
    picked = [rows[round(i * (len(rows) - 1) / (n - 1))] for i in range(n)]
    base = [r["val_acc"] for r in picked]
    base_s = [r["train_s"] + r["eval_s"] for r in picked]
    out = {"base": base, "base_s": base_s}
    with Pool(2) as pool:
        for name, (overrides, seed) in VARIANTS.items():
            start = time.perf_counter()
            res = pool.map(job, [(run_dir, r["genome"], overrides, seed) for r in picked], chunksize=1)
            out[name] = res
            accs = [a for a, _ in res]; secs = [s for _, s in res]
            tau = kendalltau(base, accs).statistic
            print(f"{Path(run_dir).parent.name:12s} {name:14s} tau vs committed {tau:5.2f}  "
                  f"s/eval {sum(secs)/len(secs):6.2f}  wall {time.perf_counter()-start:6.0f}s", flush=True)
    print(f"{Path(run_dir).parent.name:12s} committed s/eval {sum(base_s)/len(base_s):6.2f}", flush=True)
    json.dump(out, open(Path(__file__).parent / f"fitness-levers-{Path(run_dir).parent.name}.json", "w"))

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
