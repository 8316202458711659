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

import numpy as np

from ..config import config_from_dict
from ..distributed.job_pool import PoolOptions, run_jobs
from ..errors import RunDirError
from ..evolution.store import RunStore, append_jsonl, read_records, write_json_atomic
from ..evolution.pareto import chance_level, hypervolume, hypervolume_curve, pareto_front, reference_point
from ..spaces.genome import Genome
from ..training.promoted import select_records
from ..rank_stats import interval, resample
from .size_bands import best_in_bands, fitness_values, largest_in_bands
from .truth import TruthSettings, truth_accuracy, truth_data

SUMMARY_FILE = "algorithms.json"
PROMOTED_FILE = "truth.jsonl"
TRUTH_SETTINGS_FILE = "truth.json"
FIGURE_FILE = "hypervolume.png"
TRUE_FRONTS_FILE = "true_fronts.png"
BASELINE = "random"
SMALL_PARAMS = 100_000  # "the best network at this size or below", the deployable end of the front


def load_runs(run_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """Each run's label, seed, config and records. The runs must share their data settings (the same split for each
    seed); fitness recipes may differ, and the labels then say how."""
    runs = []
    for path in run_dirs:
        store = RunStore.open(path)
        # Read through the current schema, so a run saved before a setting existed compares with its default.
        config = config_from_dict(store.read_config()["config"]).to_dict()
        runs.append({"path": store.path, "seed": config["seed"], "config": config,
                     "records": sorted(store.records(), key=lambda r: r["id"])})
    if not runs:
        raise RunDirError("no run given: pass the run directories of the searches to compare")
    for run in runs[1:]:
        if run["config"]["data"] != runs[0]["config"]["data"]:
            raise RunDirError(f"'{run['path']}' and '{runs[0]['path']}' have different data settings: "
                              "compare searches of the same data")
    if len({run["config"]["search"]["time_budget"] for run in runs}) > 1:
        raise RunDirError("the runs had different --time-budget: compare runs given the same time")
    varying = sorted(key for key in runs[0]["config"]["fitness"] if key not in FITNESS_NOT_A_RECIPE
                     and len({json.dumps(run["config"]["fitness"][key]) for run in runs}) > 1)
    for run in runs:
        run["algorithm"] = search_label(run["config"], varying)
    keys = [(run["algorithm"], run["seed"]) for run in runs]
    if len(set(keys)) < len(keys):
        raise RunDirError("two runs have the same algorithm, fitness and seed: pass each search once")
    return runs


# Fitness settings that say where or how fast a recipe runs, or that an ensemble sets itself, not what it measures.
FITNESS_NOT_A_RECIPE = ("signals", "threads", "device", "val_batch_size")


def search_label(config: dict[str, Any], fitness_keys: list[str] = ()) -> str:
    """What tells two searches apart in a comparison: the algorithm, marked when it used fitness rungs, another
    selection or screening, and the values of `fitness_keys` (the fitness settings the compared runs differ in)."""
    search = config["search"]
    label = search["algorithm"] + ("+rungs" if search["rungs"] else "")
    if search.get("selection", "fitness") != "fitness":
        label += f"+{search['selection']}"
    if search.get("screen_signal"):
        label += f"+screen({search['screen_signal']} x{search['screen_factor']})"
    if fitness_keys:
        label += " [" + ", ".join(f"{key} {config['fitness'][key]}" for key in fitness_keys) + "]"
    return label


def evaluations_to_reach(curve: list[float], target: float) -> int | None:
    """The first evaluation count at which `curve` reaches `target`, or None if it never does."""
    return next((index + 1 for index, value in enumerate(curve) if value >= target - 1e-12), None)


def analyse_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Hypervolume curves per run and per algorithm: over a common number of evaluations, or, for runs given the
    same wall time (`--time-budget`), over everything each run evaluated in that time."""
    equal_time = runs[0]["config"]["search"]["time_budget"] is not None
    budget = min(len(run["records"]) for run in runs)
    for run in runs:
        run["compared"] = run["records"] if equal_time else run["records"][:budget]
    reference = reference_point(run["compared"] for run in runs)
    per_run = []
    for run in runs:
        curve = hypervolume_curve(run["compared"], reference)
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
    return {"budget": budget, "equal_time": equal_time, "reference": list(reference), "algorithms": algorithms,
            "runs": per_run}


def _truth_context(configs: dict[str, dict[str, Any]], truth: dict[str, Any]) -> dict[str, Any]:
    """A pool worker's state: the runs' configs, and each run seed's truth data once it is first needed."""
    return {"configs": configs, "truth": TruthSettings(**truth), "data": {}}


def _measure_truth(ctx: dict[str, Any], job: tuple[str, int, dict[str, Any], int]) -> float | None:
    run, _, genome, seed_index = job
    config = config_from_dict(ctx["configs"][run])
    if config.seed not in ctx["data"]:  # runs of one seed share one split
        ctx["data"][config.seed] = truth_data(config, ctx["truth"])
    return truth_accuracy(Genome.from_dict(genome), ctx["data"][config.seed], ctx["truth"], seed_index)


def front_sample(records: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Up to `count` members of the run's Pareto front, evenly spread along it from the smallest to the largest."""
    front = pareto_front(records)
    if len(front) <= count:
        return front
    return [front[index] for index in sorted(set(np.linspace(0, len(front) - 1, count).round().astype(int)))]


def band_choices(run: dict[str, Any], limits: tuple[int, ...]) -> dict[str, dict[int, dict[str, Any] | None]]:
    """What a user takes from the run at each size limit: its best by its own fitness, and, from random search,
    also its largest network (a pick by size alone, which a fitness must beat)."""
    values = fitness_values(run["compared"], run["config"]["search"])
    choices = {run["algorithm"]: best_in_bands(run["compared"], values, limits)}
    if run["config"]["search"]["algorithm"] == BASELINE:
        choices[f"{run['algorithm']} (largest)"] = largest_in_bands(run["compared"], limits)
    return choices


def chosen_records(run: dict[str, Any], top: int, front: int, bands: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """The run's `top` architectures by proxy accuracy, up to `front` of its front and its picks in each size band,
    without repeats."""
    chosen = select_records(run["compared"], run["path"], top=top) if top else []
    chosen += front_sample(run["compared"], front) if front else []
    if bands:
        chosen += [pick for picks in band_choices(run, bands).values() for pick in picks.values() if pick]
    return list({record["id"]: record for record in chosen}.values())


def promote(runs: list[dict[str, Any]], out: Path, top: int, front: int, *, truth: TruthSettings,
            pool: PoolOptions, log: Callable[[str], None], measure: bool = True,
            bands: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """The truth of each run's chosen architectures (`chosen_records`): full training at every truth seed, on the
    pool, one JSON line per (run, id, seed), resumable; returns every line. Without `measure`, trains nothing and
    returns the lines measured so far."""
    settings_path = out / TRUTH_SETTINGS_FILE
    if settings_path.exists() and json.loads(settings_path.read_text()) != truth.recipe():
        raise RunDirError(f"'{out}' holds a truth with other settings: choose another --out")
    if not measure:
        return read_records(out / PROMOTED_FILE)
    write_json_atomic(settings_path, truth.recipe())
    lines = read_records(out / PROMOTED_FILE)
    done = {(m["run"], m["id"], m["truth_seed"]) for m in lines}
    per_run = [[(run, record) for record in chosen_records(run, top, front, bands)] for run in runs]
    # Round-robin over the runs, so a study stopped part-way holds the same share of every run's choice.
    chosen = {(run["path"].name, record["id"]): (run, record)
              for rank in range(max(map(len, per_run), default=0)) for picks in per_run if rank < len(picks)
              for run, record in [picks[rank]]}
    # Runs of one seed share the split and the weights: a network two of them chose has one truth per truth seed.
    network = {(run["path"].name, record["id"]): (run["seed"], record["hash"]) for run in runs
               for record in run["records"] if "hash" in record}
    known = {(*network[(m["run"], m["id"])], m["truth_seed"]): m for m in lines if (m["run"], m["id"]) in network}
    sharing: dict[tuple, list[tuple[str, int, int]]] = {}  # the runs waiting for the same training
    jobs = []
    for (name, eval_id), picked in chosen.items():
        for seed in range(truth.seeds):
            key = (*network[(name, eval_id)], seed)
            if (name, eval_id, seed) in done:
                continue
            if key in known:
                trained = known[key].get("same_as", known[key])
                _record_truth(out, picked, seed, known[key]["val_acc"], 0.0, trained, log)
            elif key in sharing:
                sharing[key].append((name, eval_id, seed))
            else:
                sharing[key] = []
                jobs.append((name, eval_id, picked[1]["genome"], seed))
    configs = {run["path"].name: run["config"] for run in runs}
    for job, value, seconds in run_jobs(jobs, _truth_context, (configs, asdict(truth)), _measure_truth, pool):
        name, eval_id, _, seed = job
        measured = _record_truth(out, chosen[(name, eval_id)], seed, value, seconds, None, log)
        for other, other_id, _ in sharing[(*network[(name, eval_id)], seed)]:
            _record_truth(out, chosen[(other, other_id)], seed, value, 0.0, measured, log)
    return read_records(out / PROMOTED_FILE)


def _record_truth(out: Path, chosen: tuple[dict[str, Any], dict[str, Any]], seed: int, value: float | None,
                  seconds: float, same_as: dict[str, Any] | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Append one truth line (a run's chosen architecture at one truth seed) and log it; `same_as`: the line of
    another run whose training of the same network it repeats."""
    run, record = chosen
    entry = {"run": run["path"].name, "algorithm": run["algorithm"], "seed": run["seed"], "id": record["id"],
             "truth_seed": seed, "params": record["params"], "proxy_val_acc": record["val_acc"], "val_acc": value,
             "train_s": seconds}
    if same_as is not None:
        entry["same_as"] = {"run": same_as["run"], "id": same_as["id"]}
    append_jsonl(out / PROMOTED_FILE, entry)
    shared = f" (the network of {same_as['run']} id {same_as['id']})" if same_as is not None else f"  {seconds:.0f}s"
    log(f"{entry['run']:<16} id {record['id']:>4} {record['params']:>9,} params  proxy {record['val_acc']:.3f}"
        f"  truth seed {seed}: {'failed' if value is None else f'{value:.4f}'}{shared}")
    return entry


def study_algorithms(run_dirs: list[str | Path], out: str | Path, *, top: int = 0, front: int = 0,
                     truth: TruthSettings = TruthSettings(), pool: PoolOptions = PoolOptions(),
                     log: Callable[[str], None] = print, measure: bool = True, bands: tuple[int, ...] = (),
                     reference: str | None = None, hv_accuracy: float | None = None) -> dict[str, Any]:
    """Analyse the runs; measure the truth of each run's `top` architectures by proxy, of up to `front` members
    of its front and of its picks in each size band of `bands` (without `measure`, use only the truth measured so
    far); write algorithms.json and hypervolume.png (and true_fronts.png with `front`). The band picks and the true
    hypervolumes are compared with the `reference` search (default: the first run's), paired by seed; true
    hypervolumes are also given from accuracy `hv_accuracy` up."""
    runs = load_runs(run_dirs)
    labels = [run["algorithm"] for run in runs]
    reference = reference or labels[0]
    if reference not in labels:
        raise RunDirError(f"--reference '{reference}' names none of the runs: use one of {sorted(set(labels))}")
    for run in runs:
        truth.check(config_from_dict(run["config"]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = analyse_runs(runs)
    promoted = promote(runs, out, top, front, truth=truth, pool=pool, log=log, measure=measure, bands=bands) \
        if top or front or bands else []
    summary["promotion"] = {"top": top, "front": front, "bands": list(bands), **truth.recipe(), "seeds": truth.seeds}
    summary["reference_search"] = reference
    means = _true_means(promoted, truth.seeds)
    levels = {"0": 0.0, "chance": chance_level(runs[0]["config"]["data"]["dataset"]),
              **({f"{hv_accuracy:g}": hv_accuracy} if hv_accuracy is not None else {})}
    _true_fronts(runs, means, summary, front, bands, levels)
    if bands:
        summary["bands"] = band_summary(runs, means, bands, reference)
    for name, entry in summary["algorithms"].items():
        values = [value for (run, _), value in means.items() if _algorithm_of(summary, run) == name]
        entry["promoted_mean_val_acc"] = statistics.mean(values) if values else None
        entry["promoted_best_val_acc"] = max(values) if values else None
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
    plot_hypervolume(summary, out / FIGURE_FILE)
    if front or bands:
        plot_true_fronts(summary, out / TRUE_FRONTS_FILE)
    return summary


def _true_means(promoted: list[dict[str, Any]], seeds: int) -> dict[tuple[str, int], float]:
    """Each promoted architecture's truth, the mean over its seeds; one with a failed or missing seed is left out."""
    values: dict[tuple[str, int], list[float | None]] = {}
    for m in promoted:
        if m["truth_seed"] < seeds:
            values.setdefault((m["run"], m["id"]), []).append(m["val_acc"])
    return {key: statistics.mean(v) for key, v in values.items() if len(v) == seeds and None not in v}


def _algorithm_of(summary: dict[str, Any], run_name: str) -> str:
    return next(entry["algorithm"] for entry in summary["runs"] if entry["run"] == run_name)


def band_summary(runs: list[dict[str, Any]], means: dict[tuple[str, int], float], limits: tuple[int, ...],
                 reference: str) -> dict[str, Any]:
    """Per size limit and search, the true accuracy of its pick on each seed, their mean, and the paired difference
    from the `reference` search with its 95% bootstrap interval over seeds."""
    truths: dict[int, dict[str, dict[int, float]]] = {limit: {} for limit in limits}
    picks: dict[int, dict[str, dict[int, dict[str, Any]]]] = {limit: {} for limit in limits}
    for run in runs:
        for label, chosen in band_choices(run, limits).items():
            for limit, record in chosen.items():
                if record is not None and (run["path"].name, record["id"]) in means:
                    truths[limit].setdefault(label, {})[run["seed"]] = means[(run["path"].name, record["id"])]
                    picks[limit].setdefault(label, {})[run["seed"]] = {"id": record["id"], "params": record["params"]}
    summary: dict[str, Any] = {}
    for limit in limits:
        base = truths[limit].get(reference, {})
        entries = {}
        for label, by_seed in sorted(truths[limit].items()):
            entry = {"true_val_acc": {str(seed): value for seed, value in sorted(by_seed.items())},
                     "picks": {str(seed): pick for seed, pick in sorted(picks[limit][label].items())},
                     "mean_true_val_acc": statistics.mean(by_seed.values())}
            paired = sorted(set(by_seed) & set(base))
            if label != reference and paired:
                differences = np.array([base[seed] - by_seed[seed] for seed in paired])
                entry[f"{reference} minus this"] = float(differences.mean())
                entry[f"{reference} minus this, ci95"] = interval(resample(len(differences),
                                                                          lambda i: float(differences[i].mean())))
                entry[f"seeds where {reference} is ahead"] = [seed for seed in paired if base[seed] > by_seed[seed]]
            entries[label] = entry
        summary[str(limit)] = entries
    return summary


def _offered(run: dict[str, Any], front: int, bands: tuple[int, ...]) -> list[dict[str, Any]]:
    """What a search offers a user: members of its front and its picks by its own fitness in each band (never random
    search's picks by size alone, a baseline of their own)."""
    offered = front_sample(run["compared"], front) if front else []
    if bands:
        offered += [pick for pick in band_choices(run, bands)[run["algorithm"]].values() if pick]
    return list({record["id"]: record for record in offered}.values())


def _true_fronts(runs: list[dict[str, Any]], means: dict[tuple[str, int], float], summary: dict[str, Any],
                 front: int, bands: tuple[int, ...], levels: dict[str, float]) -> None:
    """Per run, the front of its promoted architectures by their truth, its true hypervolume (one reference point
    for all runs) and its best true accuracy at SMALL_PARAMS parameters or fewer; per algorithm, their means and
    the seeds on which it beats random search's true hypervolume."""
    if not front and not bands:
        return
    chosen = {run["path"].name: _offered(run, front, bands) for run in runs}
    points = {name: [{"id": record["id"], "genome": record["genome"], "status": "ok", "params": record["params"],
                      "val_acc": means[(name, record["id"])]} for record in records if (name, record["id"]) in means]
              for name, records in chosen.items()}
    reference = reference_point(points.values())
    for entry in summary["runs"]:
        mine = points[entry["run"]]
        small = [p["val_acc"] for p in mine if p["params"] <= SMALL_PARAMS]
        entry["truth_measured"], entry["truth_chosen"] = len(mine), len(chosen[entry["run"]])
        entry["true_front"] = sorted(({"id": p["id"], "params": p["params"], "val_acc": p["val_acc"]}
                                      for p in pareto_front(mine)), key=lambda p: p["params"])
        entry["true_hypervolume"] = hypervolume(mine, reference)
        # From a given accuracy up: the part of the front a user would consider at all.
        entry["true_hypervolume_from"] = {name: hypervolume(mine, (-level, reference[1]))
                                          for name, level in levels.items()}
        entry["best_true_val_acc_small"] = max(small) if small else None
    random_hv = {e["seed"]: e["true_hypervolume"] for e in summary["runs"] if e["algorithm"] == BASELINE}
    base = {(e["seed"], name): value for e in summary["runs"] if e["algorithm"] == summary["reference_search"]
            for name, value in e["true_hypervolume_from"].items()}
    for name, entry in summary["algorithms"].items():
        mine = [e for e in summary["runs"] if e["algorithm"] == name]
        entry["mean_true_hypervolume"] = statistics.mean(e["true_hypervolume"] for e in mine)
        entry["truth_measured"] = sum(e["truth_measured"] for e in mine)
        entry["truth_chosen"] = sum(e["truth_chosen"] for e in mine)
        small = [e["best_true_val_acc_small"] for e in mine if e["best_true_val_acc_small"] is not None]
        entry["mean_best_true_val_acc_small"] = statistics.mean(small) if small else None
        entry["seeds_beating_random_true_hypervolume"] = sorted(
            e["seed"] for e in mine if e["seed"] in random_hv and e["true_hypervolume"] > random_hv[e["seed"]])
        entry["mean_true_hypervolume_from"] = {name: statistics.mean(e["true_hypervolume_from"][name] for e in mine)
                                               for name in levels}
        entry["seeds_where_reference_has_more_true_hypervolume_from"] = {
            name: sorted(e["seed"] for e in mine if (e["seed"], name) in base
                         and base[(e["seed"], name)] > e["true_hypervolume_from"][name]) for name in levels}
    summary["true_reference"] = list(reference)
    summary["small_params"] = SMALL_PARAMS


def plot_hypervolume(summary: dict[str, Any], path: Path) -> None:
    """Mean hypervolume against evaluations per algorithm, with the range over seeds shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name in summary["algorithms"]:
        curves = [entry["curve"] for entry in summary["runs"] if entry["algorithm"] == name]
        columns = list(zip(*curves))  # as far as every seed's run went
        steps = range(1, len(columns) + 1)
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


def plot_true_fronts(summary: dict[str, Any], path: Path) -> None:
    """One panel per seed: each search's promoted front by the truth (full-training accuracy against parameters)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = sorted({entry["seed"] for entry in summary["runs"]})
    figure, axes = plt.subplots(1, len(seeds), figsize=(5 * len(seeds), 4), squeeze=False)
    for axis, seed in zip(axes[0], seeds):
        for entry in (e for e in summary["runs"] if e["seed"] == seed and e["true_front"]):
            front = entry["true_front"]
            axis.step([p["params"] for p in front], [p["val_acc"] for p in front], where="post", marker="o",
                      label=f"{entry['algorithm']} (HV {entry['true_hypervolume']:.3f})")
        axis.axvline(summary["small_params"], color="grey", linestyle=":", linewidth=1)
        axis.set_xscale("log")
        axis.set_xlabel("parameters")
        axis.set_ylabel("truth: full-training val acc")
        axis.set_title(f"seed {seed}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def format_algorithms(summary: dict[str, Any]) -> str:
    """The algorithms as a text table: proxy hypervolume, pairing with random search, and the truth of what they found."""
    width = max([len("algorithm"), *map(len, summary["algorithms"])])  # a label names its config's differences
    lines = [f"{'algorithm':<{width}} {'runs':>4} {'hypervolume':>18} {'evals to reach random':>22} {'truth, mean':>11}"
             + (f" {'true HV':>8} {'best <=100k':>11} {'beats random':>12} {'measured':>9}"
                if "true_reference" in summary else "")]
    for name, entry in summary["algorithms"].items():
        reach = entry["evaluations_to_reach_random"]
        reach_text = ", ".join("never" if value is None else str(value) for _, value in sorted(reach.items())) or "-"
        line = (f"{name:<{width}} {entry['runs']:>4} {entry['mean_final_hypervolume']:>10.4f} ± "
                f"{entry['sd_final_hypervolume']:<5.4f} {reach_text:>22} {_text(entry['promoted_mean_val_acc']):>11}")
        if "true_reference" in summary:
            beats = ",".join(map(str, entry["seeds_beating_random_true_hypervolume"])) or "-"
            line += (f" {entry['mean_true_hypervolume']:>8.4f} {_text(entry['mean_best_true_val_acc_small']):>11} "
                     f"{beats:>12} {entry['truth_measured']:>4}/{entry['truth_chosen']:<4}")
        lines.append(line)
    count = "everything each run evaluated in the same time" if summary["equal_time"] else \
        f"{summary['budget']} evaluations"
    lines.append(f"(hypervolume over {count}; 'evals to reach random': per seed, the evaluations needed to match "
                 "random search's final hypervolume on the same seed; truth: full-training validation accuracy of "
                 "the promoted architectures; measured: front members with their truth, of those chosen)")
    return "\n".join(lines)


def format_bands(summary: dict[str, Any]) -> str:
    """Per size band, each search's pick: mean true accuracy over seeds and the paired difference from the reference."""
    reference = summary["reference_search"]
    bands = summary.get("bands", {})
    width = max([len("search"), *(len(label) for entries in bands.values() for label in entries)])
    lines = [f"{'parameters <=':>13}  {'search':<{width}} {'seeds':>5} {'true acc':>8}  {reference} minus this"]
    for limit, entries in bands.items():
        for label, entry in entries.items():
            difference = entry.get(f"{reference} minus this")
            text = "" if difference is None else (
                f"{difference:+.4f} [{entry[f'{reference} minus this, ci95'][0]:+.4f}, "
                f"{entry[f'{reference} minus this, ci95'][1]:+.4f}]")
            lines.append(f"{int(limit):>13,}  {label:<{width}} {len(entry['true_val_acc']):>5} "
                         f"{entry['mean_true_val_acc']:>8.4f}  {text}".rstrip())
    return "\n".join(lines)


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
