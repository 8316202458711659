"""Search efficiency: which algorithm finds a better accuracy-size front for the same number of evaluations?

`evohybrid study algorithms RUN...` reads finished searches (one per algorithm and seed, otherwise the
same settings), computes each run's hypervolume after every evaluation against one shared reference
point, pairs runs by seed (same seed: same data split and weights, so the same genome scores the same),
and trains each run's top architectures with the promotion recipe, one JSON line per trained model.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from .config import config_from_dict
from .errors import RunDirError
from .evaluator import accuracy
from .genome import Genome
from .pareto import hypervolume_curve, reference_point
from .promote import full_training, promotion_data, select_records
from .store import RunStore, append_jsonl, read_records

SUMMARY_FILE = "algorithms.json"
PROMOTED_FILE = "promoted.jsonl"
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


def promote_top(runs: list[dict[str, Any]], out: Path, top: int, *, epochs: int, lr: float,
                train_size: int | None, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Train each run's `top` architectures of highest proxy accuracy with the promotion recipe (resumable)."""
    done = {(m["run"], m["id"]) for m in read_records(out / PROMOTED_FILE)}
    for run in runs:
        best = select_records(run["records"], run["path"], top=top)
        todo = [record for record in best if (run["path"].name, record["id"]) not in done]
        if not todo:
            continue
        data = promotion_data(config_from_dict(run["config"]), train_size)
        for record in todo:
            start = time.perf_counter()
            model, _ = full_training(Genome.from_dict(record["genome"]), data, epochs=epochs, lr=lr)
            split = data.split
            val = accuracy(model, split.val_images, split.val_labels, split, data.eval_batch_size)
            test = accuracy(model, data.test_images, data.test_labels, split, data.eval_batch_size)
            entry = {"run": run["path"].name, "algorithm": run["algorithm"], "seed": run["seed"], "id": record["id"],
                     "params": record["params"], "proxy_val_acc": record["val_acc"], "val_acc": val, "test_acc": test,
                     "train_s": time.perf_counter() - start}
            append_jsonl(out / PROMOTED_FILE, entry)
            log(f"{entry['run']:<16} id {record['id']:>4} {record['params']:>9,} params  proxy {record['val_acc']:.3f}"
                f"  full training {val:.4f} val / {test:.4f} test  {entry['train_s']:.0f}s")
    return read_records(out / PROMOTED_FILE)


def study_algorithms(run_dirs: list[str | Path], out: str | Path, *, top: int = 0, epochs: int = 1, lr: float = 0.1,
                     train_size: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Analyse the runs, train their top architectures, write algorithms.json and hypervolume.png into `out`."""
    runs = load_runs(run_dirs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = analyse_runs(runs)
    promoted = promote_top(runs, out, top, epochs=epochs, lr=lr, train_size=train_size, log=log) if top else []
    summary["promotion"] = {"top": top, "epochs": epochs, "lr": lr, "train_size": train_size}
    for name, entry in summary["algorithms"].items():
        tests = [m["test_acc"] for m in promoted if m["algorithm"] == name]
        entry["promoted_mean_test_acc"] = statistics.mean(tests) if tests else None
        entry["promoted_best_test_acc"] = max(tests) if tests else None
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
    lines = [f"{'algorithm':<14} {'runs':>4} {'hypervolume':>18} {'evals to reach random':>22} {'promoted test acc':>18}"]
    for name, entry in summary["algorithms"].items():
        reach = entry["evaluations_to_reach_random"]
        reach_text = ", ".join("never" if value is None else str(value) for _, value in sorted(reach.items())) or "-"
        promoted = entry["promoted_mean_test_acc"]
        lines.append(f"{name:<14} {entry['runs']:>4} {entry['mean_final_hypervolume']:>10.4f} ± "
                     f"{entry['sd_final_hypervolume']:<5.4f} {reach_text:>22} "
                     f"{'-' if promoted is None else f'{promoted:.4f}':>18}")
    lines.append(f"(budget {summary['budget']} evaluations; 'evals to reach random': per seed, the evaluations "
                 f"needed to match random search's final hypervolume on the same seed)")
    return "\n".join(lines)
