"""The proxy study: how well does each cheap fitness signal rank architectures the way full training does?

`evohybrid study proxy` samples architectures spread over the parameter range, measures every proxy
and the ground truth (full training with the promotion recipe) for each, one JSON line per finished
measurement (so the study resumes like a search), then writes rank correlations and plots.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats

from .builder import build_model, count_flops, count_parameters
from .config import Config, config_from_dict
from .errors import ConfigError, RunDirError
from .evaluator import accuracy, evaluate, genome_seed, normalise
from .genome import Genome
from .promote import full_training, promotion_data
from .proxies import naswot_score, readout_accuracy, synflow_score
from .space import SearchSpace, load_space
from .store import append_jsonl, read_records

MEASUREMENTS_FILE = "measurements.jsonl"
STUDY_FILE = "study.json"
SUMMARY_FILE = "summary.json"
RECIPES_FILE = "recipes.jsonl"
RECIPES_SUMMARY_FILE = "recipes.json"
TRUTH = "truth"


def spread_sample(space: SearchSpace, n: int, seed: int, shape: tuple[int, int, int], classes: int) -> list[Genome]:
    """`n` distinct genomes at evenly spaced quantiles of log parameter count among many random samples."""
    rng = random.Random(seed)
    pool: dict[str, tuple[int, Genome]] = {}
    for _ in range(max(30 * n, 200)):
        genome = space.sample(rng)
        if genome.hash not in pool:
            pool[genome.hash] = (count_parameters(build_model(genome, in_channels=shape[0], num_classes=classes)), genome)
    ranked = sorted(pool.values(), key=lambda item: (item[0], item[1].hash))
    if len(ranked) < n:
        raise RunDirError(f"space '{space.name}' has only {len(ranked)} distinct genomes: use a smaller --n")
    picks = np.linspace(0, len(ranked) - 1, n).round().astype(int)
    return [ranked[i][1] for i in picks]


def _fitness_proxy(trainable: str) -> Callable[[Genome, dict[str, Any]], float]:
    def measure(genome: Genome, ctx: dict[str, Any]) -> float:
        cfg = replace(ctx["config"].fitness, trainable=trainable)
        record = evaluate(genome, ctx["split"], cfg, seed=ctx["config"].seed)
        return record["val_acc"] if record["status"] == "ok" else float("nan")
    return measure


def _fresh_model(genome: Genome, ctx: dict[str, Any]):
    split = ctx["split"]
    return build_model(genome, in_channels=split.image_shape[0], num_classes=split.num_classes,
                       seed=genome_seed(ctx["config"].seed, genome))


def _naswot(genome: Genome, ctx: dict[str, Any]) -> float:
    split = ctx["split"]
    return naswot_score(_fresh_model(genome, ctx), normalise(split.train_images[:128], split))


def _synflow(genome: Genome, ctx: dict[str, Any]) -> float:
    return math.log(max(synflow_score(_fresh_model(genome, ctx), ctx["split"].image_shape), 1e-300))


def _readout(genome: Genome, ctx: dict[str, Any]) -> float:
    return readout_accuracy(_fresh_model(genome, ctx), ctx["split"])


def _truth(genome: Genome, ctx: dict[str, Any]) -> float:
    model, _losses = full_training(genome, ctx["promotion"], epochs=ctx["truth_epochs"], lr=ctx["truth_lr"])
    split = ctx["promotion"].split
    return accuracy(model, split.val_images, split.val_labels, split, 1000)


PROXIES: dict[str, Callable[[Genome, dict[str, Any]], float]] = {
    "bn": _fitness_proxy("bn"),
    "bn+head": _fitness_proxy("bn+head"),
    "all (same steps)": _fitness_proxy("all"),
    "readout": _readout,
    "naswot": _naswot,
    "synflow": _synflow,
    TRUTH: _truth,
}
FREE = ("params", "flops")  # read off the architecture, no measurement needed


def run_study(out: str | Path, config: Config, *, n: int, truth_epochs: int, truth_lr: float = 0.1,
              truth_train_size: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every proxy for `n` genomes (resuming what `out` already holds), then analyse."""
    from .executors import load_search_split

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study = {"config": config.to_dict(), "n": n, "truth_epochs": truth_epochs, "truth_lr": truth_lr,
             "truth_train_size": truth_train_size}
    study_path = out / STUDY_FILE
    if study_path.exists() and json.loads(study_path.read_text()) != study:
        raise RunDirError(f"'{out}' holds a study with other settings: choose another --out")
    study_path.write_text(json.dumps(study, indent=2, sort_keys=True))
    split = load_search_split(config)
    ctx = {"config": config, "split": split, "promotion": promotion_data(config, truth_train_size),
           "truth_epochs": truth_epochs,
           "truth_lr": truth_lr}
    genomes = spread_sample(load_space(config.space), n, config.seed, split.image_shape, split.num_classes)
    done = {(m["hash"], m["proxy"]) for m in read_records(out / MEASUREMENTS_FILE)}
    for index, genome in enumerate(genomes):
        model = _fresh_model(genome, ctx)
        params, flops = count_parameters(model), count_flops(model, split.image_shape)
        for name, measure in PROXIES.items():
            if (genome.hash, name) in done:
                continue
            start = time.perf_counter()
            value = measure(genome, ctx)
            cost = time.perf_counter() - start
            value = value if math.isfinite(value) else None  # a diverged proxy: JSON has no NaN
            append_jsonl(out / MEASUREMENTS_FILE, {"hash": genome.hash, "genome": genome.to_dict(), "params": params,
                                                   "flops": flops, "proxy": name, "value": value, "cost_s": cost})
            log(f"[{index + 1}/{n}] {genome.describe():<40} {name:<16} {value if value is not None else float('nan'):9.4f}"
                f"  {cost:6.1f}s")
    summary = analyse(read_records(out / MEASUREMENTS_FILE))
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
    plot_study(read_records(out / MEASUREMENTS_FILE), summary, out)
    return summary


def run_recipe_study(study_dir: str | Path, variants: dict[str, Any], *,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure fitness recipes (overrides of the study's config) on the study's architectures, against its truth.

    One JSON line per (recipe, architecture) in recipes.jsonl, so an interrupted run resumes; the summary has
    the same statistics as the proxy study, one entry per recipe, and each recipe's tau difference from the
    first recipe (the baseline) with a paired bootstrap interval."""
    from .executors import load_search_split

    study_dir = Path(study_dir)
    study_path = study_dir / STUDY_FILE
    if not study_path.is_file():
        raise RunDirError(f"'{study_dir}' holds no proxy study ({STUDY_FILE}): run 'evohybrid study proxy' first")
    base = json.loads(study_path.read_text())["config"]
    measurements = read_records(study_dir / MEASUREMENTS_FILE)
    truth = [m for m in measurements if m["proxy"] == TRUTH and m["value"] is not None]
    configs = {name: _recipe_config(base, name, overrides) for name, overrides in variants.items()}
    done = {(m["proxy"], m["hash"]) for m in read_records(study_dir / RECIPES_FILE)}
    # Recipes that differ in fitness settings only share one loaded split.
    data_keys = {name: json.dumps(config.to_dict()["data"], sort_keys=True) + str(config.seed)
                 for name, config in configs.items()}
    splits: dict[str, Any] = {}
    # Architecture by architecture, every recipe back to back: a shared machine's slow drifts then cost
    # each recipe alike, so their seconds compare.
    for index, m in enumerate(truth):
        for name, config in configs.items():
            if (name, m["hash"]) in done:
                continue
            if data_keys[name] not in splits:
                splits[data_keys[name]] = load_search_split(config)
            start = time.perf_counter()
            record = evaluate(Genome.from_dict(m["genome"]), splits[data_keys[name]], config.fitness, seed=config.seed)
            cost = time.perf_counter() - start
            value = record["val_acc"] if record["status"] == "ok" else None
            append_jsonl(study_dir / RECIPES_FILE, {**{k: m[k] for k in ("hash", "genome", "params", "flops")},
                                                    "proxy": name, "value": value, "cost_s": cost})
            log(f"[{index + 1}/{len(truth)}] {name:<20} {value if value is not None else float('nan'):7.4f} "
                f"{cost:6.1f}s")
    recipes = [m for m in read_records(study_dir / RECIPES_FILE) if m["proxy"] in configs]
    summary = analyse(truth + recipes, baseline=next(iter(configs), None))
    summary["recipes"] = {name: overrides for name, overrides in variants.items()}
    (study_dir / RECIPES_SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
    plot_study(truth + recipes, summary, study_dir, prefix="recipes_")
    return summary


def _recipe_config(base: dict[str, Any], name: str, overrides: Any) -> Config:
    """The study's config with one recipe's overrides ({section: {key: value}}), validated like a config file."""
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ConfigError(f"recipe '{name}' must map sections to settings, e.g. {{fitness: {{steps: 80}}}}")
    raw = json.loads(json.dumps(base))
    for section, values in overrides.items():
        if section not in ("data", "fitness"):
            raise ConfigError(f"recipe '{name}' may change data and fitness only, not '{section}'")
        raw[section].update(values)
    try:
        return config_from_dict(raw)
    except ConfigError as error:
        raise ConfigError(f"recipe '{name}': {error}") from None


def _table(measurements: list[dict[str, Any]]) -> tuple[list[str], dict[str, dict[str, float]], dict[str, float]]:
    values: dict[str, dict[str, float]] = {}
    costs: dict[str, list[float]] = {}
    params: dict[str, float] = {}
    for m in measurements:
        values.setdefault(m["proxy"], {})[m["hash"]] = m["value"] if m["value"] is not None else math.nan
        costs.setdefault(m["proxy"], []).append(m["cost_s"])
        params[m["hash"]] = m["params"]
        values.setdefault("params", {})[m["hash"]] = m["params"]
        values.setdefault("flops", {})[m["hash"]] = m["flops"]
    hashes = sorted(h for h in values.get(TRUTH, {}) if all(h in values[p] for p in values))
    return hashes, values, {p: float(np.mean(c)) for p, c in costs.items()}


def _resample(n: int, statistic: Callable[[np.ndarray], float], rounds: int = 1000) -> np.ndarray:
    """`statistic` of each of `rounds` resamples (with replacement) of the n architectures. The resamples are
    the same on every call, so two proxies' samples pair up."""
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # resamples of one repeated point say nothing
        return np.array([statistic(rng.integers(0, n, n)) for _ in range(rounds)], dtype=float)


def _interval(samples: np.ndarray) -> list[float]:
    """The 95% interval of the finite samples."""
    finite = samples[np.isfinite(samples)]
    return [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))] if len(finite) else [math.nan] * 2


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.kendalltau(x, y)[0])


def analyse(measurements: list[dict[str, Any]], baseline: str | None = None) -> dict[str, Any]:
    """Kendall tau and Spearman rho against the truth (bootstrap 95% intervals), tau within parameter-count
    halves, the top-10% hit rate and the mean cost of every proxy, over genomes measured by all of them.
    With a `baseline` proxy, also each proxy's tau minus the baseline's, with a paired bootstrap interval
    (the same resampled architectures for both), which says whether a difference is more than noise."""
    hashes, values, costs = _table(measurements)
    truth = np.array([values[TRUTH][h] for h in hashes])
    params = np.array([values["params"][h] for h in hashes])
    halves = [params <= np.median(params), params > np.median(params)]
    top = max(1, round(0.1 * len(hashes)))
    true_top = set(np.argsort(-truth)[:top])
    summary: dict[str, Any] = {"n": len(hashes), "proxies": {}}
    tau_samples: dict[str, np.ndarray] = {}  # per proxy, on the same resamples: paired differences need them
    for name in [p for p in values if p != TRUTH]:
        proxy = np.array([values[name][h] for h in hashes], dtype=float)
        if len(hashes) < 3:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)  # a constant proxy ranks nothing: NaN says so
            tau, rho = _tau(proxy, truth), stats.spearmanr(proxy, truth)[0]
            within = [_tau(proxy[h], truth[h]) if h.sum() >= 3 else math.nan for h in halves]
        tau_samples[name] = _resample(len(hashes), lambda i: _tau(proxy[i], truth[i]))
        summary["proxies"][name] = {
            "kendall_tau": tau, "kendall_tau_ci95": _interval(tau_samples[name]),
            "spearman_rho": float(rho),
            "spearman_rho_ci95": _interval(_resample(len(hashes), lambda i: stats.spearmanr(proxy[i], truth[i])[0])),
            "kendall_tau_lower_half": within[0], "kendall_tau_upper_half": within[1],
            "top10_hit_rate": len(true_top & set(np.argsort(-proxy)[:top])) / top,
            "cost_s": costs.get(name, 0.0), "mean_value": float(np.nanmean(proxy)),
        }
    if baseline is not None:
        summary["baseline"] = baseline
    if baseline in summary["proxies"]:
        base_tau = summary["proxies"][baseline]["kendall_tau"]
        for name, entry in summary["proxies"].items():
            if name != baseline:
                entry["kendall_tau_minus_baseline"] = entry["kendall_tau"] - base_tau
                entry["kendall_tau_minus_baseline_ci95"] = _interval(tau_samples[name] - tau_samples[baseline])
    summary["truth"] = {"mean_val_acc": float(truth.mean()) if len(truth) else math.nan,
                        "cost_s": costs.get(TRUTH, math.nan)}
    return summary


def plot_study(measurements: list[dict[str, Any]], summary: dict[str, Any], out: Path, prefix: str = "") -> None:
    """`scatter.png`: each proxy against the truth; `tau_vs_cost.png`: rank correlation against seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hashes, values, _ = _table(measurements)
    names = list(summary["proxies"])
    if not hashes or not names:
        return
    truth = [values[TRUTH][h] for h in hashes]
    columns = 4
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.4 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names):
        axis.scatter([values[name][h] for h in hashes], truth, s=14)
        axis.set_title(f"{name}: tau {summary['proxies'][name]['kendall_tau']:.2f}")
        axis.set_xlabel(name)
        axis.set_ylabel("full-training val acc")
        if name in FREE:
            axis.set_xscale("log")
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(out / f"{prefix}scatter.png", dpi=110)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(6, 4))
    for name in names:
        entry = summary["proxies"][name]
        axis.scatter(max(entry["cost_s"], 1e-3), entry["kendall_tau"])
        axis.annotate(name, (max(entry["cost_s"], 1e-3), entry["kendall_tau"]), fontsize=8)
    axis.set_xscale("log")
    axis.set_xlabel("cost per architecture (s, log)")
    axis.set_ylabel("Kendall tau vs full training")
    figure.tight_layout()
    figure.savefig(out / f"{prefix}tau_vs_cost.png", dpi=110)
    plt.close(figure)


def format_summary(summary: dict[str, Any]) -> str:
    baseline = summary.get("baseline")
    header = f"{'proxy':<17} {'tau':>6} {'95% interval':>16} {'rho':>6} {'tau low/high half':>18} {'top10%':>7} {'cost_s':>7}"
    lines = [header + (f"  tau - {baseline} [95%]" if baseline else "")]
    for name, e in sorted(summary["proxies"].items(), key=lambda item: -item[1]["kendall_tau"]):
        interval = f"[{e['kendall_tau_ci95'][0]:.2f}, {e['kendall_tau_ci95'][1]:.2f}]"
        halves = f"{e['kendall_tau_lower_half']:.2f} / {e['kendall_tau_upper_half']:.2f}"
        line = (f"{name:<17} {e['kendall_tau']:>6.2f} {interval:>16} {e['spearman_rho']:>6.2f} {halves:>18} "
                f"{e['top10_hit_rate']:>7.2f} {e['cost_s']:>7.2f}")
        if "kendall_tau_minus_baseline" in e:
            low, high = e["kendall_tau_minus_baseline_ci95"]
            line += f"  {e['kendall_tau_minus_baseline']:+.2f} [{low:+.2f}, {high:+.2f}]"
        lines.append(line)
    return "\n".join(lines)
