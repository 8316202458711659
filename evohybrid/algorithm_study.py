"""Search efficiency: which algorithm finds a better accuracy-size front for the same number of evaluations?

`evohybrid study algorithms RUN...` reads finished searches (one per algorithm and seed, otherwise the
same settings), computes each run's hypervolume after every evaluation against one shared reference
point, pairs runs by seed (same seed: same data split and weights, so the same genome scores the same),
and measures the truth of each run's top architectures (full training at several seeds, on a pool of workers),
one JSON line per training.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from .config import config_from_dict
from .errors import RunDirError
from .genome import Genome
from .job_pool import PoolOptions, run_jobs
from .pareto import hypervolume_curve, reference_point
from .promote import select_records
from .store import RunStore, append_jsonl, read_records, write_json_atomic
from .truth import TruthSettings, truth_accuracy, truth_data

SUMMARY_FILE = "algorithms.json"
PROMOTED_FILE = "truth.jsonl"
TRUTH_SETTINGS_FILE = "truth.json"
FIGURE_FILE = "hypervolume.png"
BASELINE = "random"


def load_runs(run_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """Each run's algorithm, seed, config and records; the runs must differ in algorithm and seed only."""
    runs = []
    for path in run_dirs:
        store = RunStore.open(path)
        # Read through the current schema, so a run saved before a setting existed compares with its default.
        config = config_from_dict(store.read_config()["config"]).to_dict()
        runs.append({"path": store.path, "algorithm": config["search"]["algorithm"], "seed": config["seed"],
                     "config": config, "records": sorted(store.records(), key=lambda r: r["id"])})
    if not runs:
        raise RunDirError("no run given: pass the run directories of the searches to compare")
    for run in runs[1:]:
        for section in ("data", "fitness"):
            if run["config"][section] != runs[0]["config"][section]:
                raise RunDirError(f"'{run['path']}' and '{runs[0]['path']}' have different {section} settings: "
                                  "compare runs that differ in algorithm and seed only")
    keys = [(run["algorithm"], run["seed"]) for run in runs]
    if len(set(keys)) < len(keys):
        raise RunDirError("two runs have the same algorithm and seed: pass each search once")
    return runs


def evaluations_to_reach(curve: list[float], target: float) -> int | None:
    """The first evaluation count at which `curve` reaches `target`, or None if it never does."""
    return next((index + 1 for index, value in enumerate(curve) if value >= target - 1e-12), None)


def analyse_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Hypervolume curves over a common number of evaluations, per run and per algorithm."""
    budget = min(len(run["records"]) for run in runs)
    reference = reference_point(run["records"][:budget] for run in runs)
    per_run = []
    for run in runs:
        curve = hypervolume_curve(run["records"][:budget], reference)
        per_run.append({"run": run["path"].name, "algorithm": run["algorithm"], "seed": run["seed"],
                        "final_hypervolume": curve[-1], "curve": curve})
    baseline = {entry["seed"]: entry["final_hypervolume"] for entry in per_run if entry["algorithm"] == BASELINE}
    algorithms: dict[str, Any] = {}
    for name in sorted({entry["algorithm"] for entry in per_run}):
        entries = [entry for entry in per_run if entry["algorithm"] == name]
        finals = [entry["final_hypervolume"] for entry in entries]
        # Paired by seed: evaluations this algorithm needs to match random search's final hypervolume.
        reach = {entry["seed"]: evaluations_to_reach(entry["curve"], baseline[entry["seed"]])
                 for entry in entries if entry["seed"] in baseline}
        algorithms[name] = {"runs": len(entries), "mean_final_hypervolume": statistics.mean(finals),
                            "sd_final_hypervolume": statistics.stdev(finals) if len(finals) > 1 else 0.0,
                            "evaluations_to_reach_random": reach}
    return {"budget": budget, "reference": list(reference), "algorithms": algorithms, "runs": per_run}


def _truth_context(configs: dict[str, dict[str, Any]], truth: dict[str, Any]) -> dict[str, Any]:
    """A pool worker's state: the runs' configs, and each run seed's truth data once it is first needed."""
    return {"configs": configs, "truth": TruthSettings(**truth), "data": {}}


def _measure_truth(ctx: dict[str, Any], job: tuple[str, int, dict[str, Any], int]) -> float | None:
    run, _, genome, seed_index = job
    config = config_from_dict(ctx["configs"][run])
    if config.seed not in ctx["data"]:  # runs of one seed share one split
        ctx["data"][config.seed] = truth_data(config, ctx["truth"])
    return truth_accuracy(Genome.from_dict(genome), ctx["data"][config.seed], ctx["truth"], seed_index)


def promote_top(runs: list[dict[str, Any]], out: Path, top: int, *, truth: TruthSettings, pool: PoolOptions,
                log: Callable[[str], None]) -> list[dict[str, Any]]:
    """The truth of each run's `top` architectures of highest proxy accuracy: full training at every truth seed,
    on the pool, one JSON line per (run, id, seed), resumable; returns every line."""
    settings_path = out / TRUTH_SETTINGS_FILE
    if settings_path.exists() and json.loads(settings_path.read_text()) != truth.recipe():
        raise RunDirError(f"'{out}' holds a truth with other settings: choose another --out")
    write_json_atomic(settings_path, truth.recipe())
    done = {(m["run"], m["id"], m["truth_seed"]) for m in read_records(out / PROMOTED_FILE)}
    chosen = {(run["path"].name, record["id"]): (run, record) for run in runs
              for record in select_records(run["records"], run["path"], top=top)}
    jobs = [(name, eval_id, record["genome"], seed) for (name, eval_id), (_, record) in chosen.items()
            for seed in range(truth.seeds) if (name, eval_id, seed) not in done]
    configs = {run["path"].name: run["config"] for run in runs}
    for job, value, seconds in run_jobs(jobs, _truth_context, (configs, asdict(truth)), _measure_truth, pool):
        name, eval_id, _, seed = job
        run, record = chosen[(name, eval_id)]
        entry = {"run": name, "algorithm": run["algorithm"], "seed": run["seed"], "id": record["id"],
                 "truth_seed": seed, "params": record["params"], "proxy_val_acc": record["val_acc"], "val_acc": value,
                 "train_s": seconds}
        append_jsonl(out / PROMOTED_FILE, entry)
        log(f"{name:<16} id {record['id']:>4} {record['params']:>9,} params  proxy {record['val_acc']:.3f}"
            f"  truth seed {seed}: {'failed' if value is None else f'{value:.4f}'}  {seconds:.0f}s")
    return read_records(out / PROMOTED_FILE)


def study_algorithms(run_dirs: list[str | Path], out: str | Path, *, top: int = 0,
                     truth: TruthSettings = TruthSettings(), pool: PoolOptions = PoolOptions(),
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Analyse the runs, measure the truth of their top architectures, write algorithms.json and hypervolume.png."""
    runs = load_runs(run_dirs)
    for run in runs:
        truth.check(config_from_dict(run["config"]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = analyse_runs(runs)
    promoted = promote_top(runs, out, top, truth=truth, pool=pool, log=log) if top else []
    summary["promotion"] = {"top": top, **truth.recipe(), "seeds": truth.seeds}
    for name, entry in summary["algorithms"].items():
        # An architecture's truth is its mean over every seed; one with a failed or missing seed is left out.
        values: dict[tuple[str, int], list[float | None]] = {}
        for m in promoted:
            if m["algorithm"] == name and m["truth_seed"] < truth.seeds:
                values.setdefault((m["run"], m["id"]), []).append(m["val_acc"])
        means = [statistics.mean(v) for v in values.values() if len(v) == truth.seeds and None not in v]
        entry["promoted_mean_val_acc"] = statistics.mean(means) if means else None
        entry["promoted_best_val_acc"] = max(means) if means else None
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
    plot_hypervolume(summary, out / FIGURE_FILE)
    return summary


def plot_hypervolume(summary: dict[str, Any], path: Path) -> None:
    """Mean hypervolume against evaluations per algorithm, with the range over seeds shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name in summary["algorithms"]:
        curves = [entry["curve"] for entry in summary["runs"] if entry["algorithm"] == name]
        steps = range(1, summary["budget"] + 1)
        columns = list(zip(*curves))
        axis.plot(steps, [statistics.mean(c) for c in columns], label=f"{name} ({len(curves)} seeds)")
        axis.fill_between(steps, [min(c) for c in columns], [max(c) for c in columns], alpha=0.2)
    axis.set_xlabel("evaluations")
    axis.set_ylabel("hypervolume (accuracy x decades of parameters)")
    axis.set_title("search front quality: mean over seeds, range shaded")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def format_algorithms(summary: dict[str, Any]) -> str:
    lines = [f"{'algorithm':<14} {'runs':>4} {'hypervolume':>18} {'evals to reach random':>22} {'top truth val acc':>18}"]
    for name, entry in summary["algorithms"].items():
        reach = entry["evaluations_to_reach_random"]
        reach_text = ", ".join("never" if value is None else str(value) for _, value in sorted(reach.items())) or "-"
        promoted = entry["promoted_mean_val_acc"]
        lines.append(f"{name:<14} {entry['runs']:>4} {entry['mean_final_hypervolume']:>10.4f} ± "
                     f"{entry['sd_final_hypervolume']:<5.4f} {reach_text:>22} "
                     f"{'-' if promoted is None else f'{promoted:.4f}':>18}")
    lines.append(f"(budget {summary['budget']} evaluations; 'evals to reach random': per seed, the evaluations "
                 f"needed to match random search's final hypervolume on the same seed)")
    return "\n".join(lines)
