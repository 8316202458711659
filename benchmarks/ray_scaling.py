"""Ray scaling: the same fixed search with 1 worker and with N workers, in one run.

Prints the speed-up (wall time of 1 worker over N workers) and the driver plus Ray overhead
(1 - busy time / (wall time x workers)). Random search proposes the same genomes whatever the
worker count, so both runs do the same work.

    python benchmarks/ray_scaling.py --budget 20 --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import evohybrid
from evohybrid.distributed.ray_executor import RayExecutor, RayOptions


def timed_search(config: evohybrid.Config, workers: int, out: str) -> tuple[float, dict]:
    start = time.perf_counter()
    result = evohybrid.search(config, out=out, progress=False,
                              executor_factory=lambda cfg: RayExecutor(cfg, RayOptions(workers=workers)))
    return time.perf_counter() - start, result.executor_stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    config = evohybrid.load_config(args.config).override("search", algorithm="random", budget=args.budget)
    config = config.override("fitness", threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(workers, *timed_search(config, workers, f"{tmp}/w{workers}")) for workers in (1, args.workers)]
    base = rows[0][1]
    print(f"config={args.config} budget={args.budget} algorithm=random cpus={os.cpu_count()} python={sys.version.split()[0]}")
    print(f"{'workers':>7}  {'wall_s':>7}  {'speedup':>7}  {'utilisation':>11}  {'overhead':>8}")
    for workers, wall, stats in rows:
        # Overhead counts everything outside evaluate(): Ray start, data loading in workers, scheduling, the driver.
        overhead = 1 - stats["busy_s"] / (wall * workers)
        print(f"{workers:>7}  {wall:>7.1f}  {base / wall:>7.2f}  {stats['utilisation']:>11.1%}  {overhead:>8.1%}")


if __name__ == "__main__":
    main()
