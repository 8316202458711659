"""Search speed: wall time against budget, and what packing several evaluations per GPU buys.

Runs the same search once per `--packing` value (GPUs per evaluation: 1 runs one evaluation per
GPU, 0.25 packs four) through Ray, samples GPU utilisation with nvidia-smi while the workers are
up, and prints the wall time at budgets 50/100/200, evaluations per minute once the workers are
up, worker utilisation (busy over wall time) and mean GPU utilisation. Without a GPU, use
`--packing 0` and `--workers` to time CPU workers instead.

    python benchmarks/search_speed.py --config cifar10-gpu --dataset synthetic-cifar10 --packing 1:40,0.25 --budget 200
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import sys
import tempfile
import time

import evohybrid
from evohybrid import stop_signals
from evohybrid.distributed.ray_executor import RayExecutor, RayOptions

MILESTONES = (50, 100, 200)


class GpuSampler:
    """nvidia-smi's utilisation.gpu (percent of time a kernel ran), sampled every 200 ms in the background."""

    def __init__(self) -> None:
        self.process = None
        if shutil.which("nvidia-smi"):
            self.process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=timestamp,utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 "-lms", "200"], stdout=subprocess.PIPE, text=True)

    def stop(self) -> list[tuple[float, float, float]]:
        """(unix time, utilisation %, memory MiB) samples of the first GPU."""
        if self.process is None:
            return []
        self.process.terminate()
        out, _ = self.process.communicate()
        samples = []
        for line in out.splitlines():
            parts = [part.strip() for part in line.split(",")]
            if len(parts) == 3 and parts[1].isdigit():
                stamp = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()  # local time
                samples.append((stamp, float(parts[1]), float(parts[2])))
        return samples


def run(config: evohybrid.Config, packing: float, workers: int | None, cpus: float, out: str) -> dict:
    ready = {}

    def executor(cfg):
        pool = RayExecutor(cfg, RayOptions(workers=workers, cpus_per_eval=cpus, gpus_per_eval=packing))
        ready["at"] = time.time()  # workers up, data resident: evaluations start now
        return pool

    sampler = GpuSampler()
    start = time.time()
    result = evohybrid.search(config, out=out, progress=False, executor_factory=executor)
    samples = sampler.stop()
    if result.interrupted:  # the rows printed so far are whole; this one is not
        print(f"search_speed: stopped by {stop_signals.signal_name()}", file=sys.stderr)
        sys.exit(stop_signals.exit_code())
    finished = sorted(record["finished_at"] for record in result.records)
    steady = [(util, memory) for stamp, util, memory in samples if ready["at"] <= stamp <= finished[-1]]
    return {"packing": packing, "budget": len(finished), "workers": result.executor_stats["workers"], "wall_s": time.time() - start,
            "startup_s": ready["at"] - start, "at": {m: finished[m - 1] - start for m in MILESTONES if m <= len(finished)},
            "evals_per_min": 60 * (len(finished) - 1) / max(finished[-1] - finished[0], 1e-9),
            "utilisation": result.executor_stats["utilisation"],
            "gpu_util": sum(u for u, _ in steady) / len(steady) if steady else None,
            "gpu_mem_mib": max((m for _, m in steady), default=None),
            "eval_s": sum(r["train_s"] + r["eval_s"] for r in result.records) / len(result.records),
            "failed": sum(r["status"] != "ok" for r in result.records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cifar10-gpu")
    parser.add_argument("--dataset", help="override the config's data set, e.g. synthetic-cifar10")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--packing", default="1:40,0.25",
                        help="GPUs per evaluation, one search each, comma separated; GPUS:BUDGET gives that search "
                             "its own budget (default 1:40,0.25)")
    parser.add_argument("--workers", type=int, help="workers per search (default: what the packing allows)")
    parser.add_argument("--cpus-per-eval", type=float, default=1.0)
    parser.add_argument("--keep", help="keep the run directories under this folder")
    args = parser.parse_args()
    stop_signals.install()  # a timeout's SIGTERM ends the search like Ctrl-C, not with Ray's stack dump
    config = evohybrid.load_config(args.config).override("data", dataset=args.dataset)
    config = config.override("search", budget=args.budget)
    print(f"config={args.config} dataset={config.data.dataset} budget={args.budget} (unless the packing names one) "
          f"algorithm={config.search.algorithm} steps={config.fitness.steps} batch={config.fitness.batch_size}")
    print(f"{'gpus/eval':>9} {'budget':>6} {'workers':>7} {'wall_s':>7} {'start_s':>7} "
          + " ".join(f"{'at ' + str(m):>7}" for m in MILESTONES)
          + f" {'evals/min':>9} {'eval_s':>7} {'busy':>5} {'gpu_util':>8} {'gpu_MiB':>8} {'failed':>6}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for index, part in enumerate(args.packing.split(",")):
            packing, _, budget = part.partition(":")
            row = run(config.override("search", budget=int(budget) if budget else None), float(packing), args.workers,
                      args.cpus_per_eval, f"{args.keep or tmp}/{index + 1}-packing-{packing}")
            print(format_row(row), flush=True)


def format_row(row: dict) -> str:
    at = " ".join(f"{row['at'][m]:>7.0f}" if m in row["at"] else f"{'-':>7}" for m in MILESTONES)
    gpu = f"{row['gpu_util']:>7.0f}%" if row["gpu_util"] is not None else f"{'-':>8}"
    memory = f"{row['gpu_mem_mib']:>8.0f}" if row["gpu_mem_mib"] is not None else f"{'-':>8}"
    return (f"{row['packing']:>9g} {row['budget']:>6} {row['workers']:>7} {row['wall_s']:>7.0f} {row['startup_s']:>7.1f} "
            f"{at} {row['evals_per_min']:>9.1f} {row['eval_s']:>7.2f} {row['utilisation']:>5.0%} {gpu} {memory} "
            f"{row['failed']:>6}")

if __name__ == "__main__":
    main()
