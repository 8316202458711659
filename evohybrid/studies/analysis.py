"""Judging fitness signals the way a Pareto search uses them: rank agreement with the truth overall and among
networks of similar size, against the truth's own noise ceiling, with bootstrap intervals; tables and plots.

Measurements are JSON lines {hash, genome, params, flops, proxy, seed, value, cost_s}: `proxy` names the signal
(`truth` for full training), `seed` the weight seed (0 when absent). A signal's value is its seed-0 value; the truth
is the mean over its seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..evolution.algorithms.selection import aggregate_ranks
from ..rank_stats import (interval, kendall_tau, out_of_fold_fit, partial_tau, resample, spearman_rho,
                         tau_within_groups)

TRUTH = "truth"
FREE = ("params", "flops")  # read off the architecture, no measurement needed
# Combined signals: a linear fit of these signals (parameters as log10) to the truth, scored out of fold.
COMBINED = {"combined (bn, params, naswot)": ("bn", "params", "naswot"),
            "combined (bn, params)": ("bn", "params")}
# Ensembles: each signal's ranks among the study's architectures, aggregated as a search's ensemble selection does
# (AZ-NAS's sum of log ranks): nothing fitted, so no fold is needed.
ENSEMBLES = {"ensemble (bn, naswot)": ("bn", "naswot"),
             "ensemble (bn, naswot, zico, depth)": ("bn", "naswot", "zico", "depth"),
             "ensemble (bn, naswot, zico, depth, params)": ("bn", "naswot", "zico", "depth", "params")}
# A signal averaged over its two weight seeds: what fitness.repeats 2 gives a search.
SEED_MEANS = {"bn (mean of 2 seeds)": "bn"}
QUINTILES = 5


@dataclass
class Table:
    """Architectures with a complete truth, and every signal's values over them."""

    hashes: list[str]
    truth: np.ndarray  # mean over seeds
    truth_seeds: np.ndarray  # architectures x seeds
    signals: dict[str, np.ndarray]  # seed-0 values, NaN where missing
    repeats: dict[str, np.ndarray]  # seed-1 values of stochastic signals, NaN where missing
    costs: dict[str, float]  # mean seconds per architecture at one seed


def measurement_table(measurements: list[dict[str, Any]], truth_seeds: int | None = None) -> Table:
    """The architectures whose truth has `truth_seeds` seeds (default: as many as any architecture has) and every
    signal measured on all of them."""
    by_seed: dict[str, dict[int, dict[str, float]]] = {}
    costs: dict[str, dict[str, float]] = {}
    sizes: dict[str, tuple[float, float]] = {}
    for m in measurements:
        seed = m.get("seed", 0)
        by_seed.setdefault(m["proxy"], {}).setdefault(seed, {})[m["hash"]] = (
            m["value"] if m["value"] is not None else math.nan)
        if seed == 0:
            costs.setdefault(m["proxy"], {})[m["hash"]] = m["cost_s"]
        sizes[m["hash"]] = (m["params"], m["flops"])
    truth_by_seed = by_seed.pop(TRUTH, {})
    seeds = truth_seeds or len(truth_by_seed)
    # A truth that diverged under some seed leaves its architecture out: it has no accuracy to rank.
    complete = [h for h in sizes if all(math.isfinite(truth_by_seed.get(s, {}).get(h, math.nan))
                                        for s in range(seeds))] if seeds else []
    hashes = sorted(h for h in complete if all(h in values.get(0, {}) for values in by_seed.values()))
    signals = {name: np.array([values[0][h] for h in hashes], dtype=float) for name, values in by_seed.items()}
    signals["params"] = np.array([sizes[h][0] for h in hashes], dtype=float)
    signals["flops"] = np.array([sizes[h][1] for h in hashes], dtype=float)
    repeats = {name: np.array([values[1].get(h, math.nan) for h in hashes], dtype=float)
               for name, values in by_seed.items() if 1 in values}
    truth_matrix = np.array([[truth_by_seed[s][h] for s in range(seeds)] for h in hashes], dtype=float)
    truth_matrix = truth_matrix.reshape(len(hashes), seeds)
    return Table(hashes, truth_matrix.mean(axis=1) if seeds else np.array([]), truth_matrix, signals, repeats,
                 # over the architectures analysed: those still missing a signal (measured elsewhere) stay out
                 {name: float(np.mean([by_hash[h] for h in hashes if h in by_hash]))
                  for name, by_hash in costs.items() if any(h in by_hash for h in hashes)})


def _add_combined(table: Table) -> None:
    """The derived signals: seed means, rank ensembles and the out-of-fold linear combinations."""
    for name, part in SEED_MEANS.items():
        if part in table.repeats and np.isfinite(table.repeats[part]).all():
            table.signals[name] = (table.signals[part] + table.repeats[part]) / 2
            table.costs[name] = 2 * table.costs.get(part, 0.0)
    for name, parts in ENSEMBLES.items():
        if len(table.hashes) >= 3 and all(part in table.signals for part in parts):
            # Smaller is better for size: its ranks enter reversed.
            rows = np.column_stack([-table.signals[p] if p in FREE else table.signals[p] for p in parts])
            rows = [tuple(None if not math.isfinite(v) else float(v) for v in row) for row in rows]
            table.signals[name] = np.array(aggregate_ranks(rows))
            table.costs[name] = sum(table.costs.get(part, 0.0) for part in parts)
    for name, parts in COMBINED.items():
        if len(table.hashes) >= 10 and all(part in table.signals for part in parts):
            features = np.column_stack([np.log10(table.signals[p]) if p in FREE else table.signals[p] for p in parts])
            if np.isfinite(features).all():
                table.signals[name] = out_of_fold_fit(features, table.truth)
                table.costs[name] = sum(table.costs.get(part, 0.0) for part in parts)


def _signal_entry(name: str, table: Table, top: int, true_top: set[int]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every statistic of one signal, and its bootstrap samples (paired differences need them)."""
    x, truth, params = table.signals[name], table.truth, table.signals["params"]
    n = len(truth)
    samples = {"tau": resample(n, lambda i: kendall_tau(x[i], truth[i])),
               "partial": resample(n, lambda i: partial_tau(x[i], truth[i], params[i]))}
    quintiles = tau_within_groups(x, truth, params, QUINTILES)
    halves = tau_within_groups(x, truth, params, 2)
    entry = {
        "kendall_tau": kendall_tau(x, truth), "kendall_tau_ci95": interval(samples["tau"]),
        "spearman_rho": spearman_rho(x, truth),
        "spearman_rho_ci95": interval(resample(n, lambda i: spearman_rho(x[i], truth[i]))),
        "partial_tau_params": partial_tau(x, truth, params), "partial_tau_params_ci95": interval(samples["partial"]),
        "kendall_tau_quintiles": quintiles,
        "kendall_tau_within_quintiles": float(np.nanmean(quintiles)) if np.isfinite(quintiles).any() else math.nan,
        "kendall_tau_lower_half": halves[0], "kendall_tau_upper_half": halves[1],
        "top10_hit_rate": len(true_top & set(np.argsort(-x, kind="stable")[:top].tolist())) / top,
        "cost_s": table.costs.get(name, 0.0), "mean_value": float(np.nanmean(x)),
    }
    repeat = table.repeats.get(name)
    if repeat is not None and np.isfinite(repeat).sum() >= 3:
        both = np.isfinite(repeat) & np.isfinite(x)
        entry["repeatability"] = kendall_tau(x[both], repeat[both])  # the same signal under another weight seed
        entry["repeatability_n"] = int(both.sum())
    return entry, samples


def analyse(measurements: list[dict[str, Any]], *, default: str | None = "bn",
            truth_seeds: int | None = None) -> dict[str, Any]:
    """Per signal, against the mean truth: Kendall tau and Spearman rho, partial tau given parameter count, tau
    within parameter quintiles and halves, the top-10% hit rate, cost and repeatability; the paired bootstrap
    difference of tau (and partial tau) from parameter count and from the `default` signal; and the truth's
    noise ceiling (tau between its seeds 0 and 1)."""
    table = measurement_table(measurements, truth_seeds)
    _add_combined(table)
    n = len(table.hashes)
    summary: dict[str, Any] = {"n": n, "proxies": {}, "default": default, "truth_seeds": table.truth_seeds.shape[1],
                               "noise_ceiling": None}
    if n < 3:
        return summary
    top = max(1, int(0.1 * n + 0.5))  # rounds half up: the top 10% of 25 is 3, not banker's 2
    true_top = set(np.argsort(-table.truth, kind="stable")[:top].tolist())
    samples: dict[str, dict[str, np.ndarray]] = {}
    for name in table.signals:
        summary["proxies"][name], samples[name] = _signal_entry(name, table, top, true_top)
    for reference, label in (("params", "params"), (default, "default")):
        if reference not in samples:
            continue
        for name, entry in summary["proxies"].items():
            if name == reference:
                continue
            for statistic, key in (("tau", "kendall_tau"), ("partial", "partial_tau_params")):
                if reference == "params" and statistic == "partial":
                    continue  # parameter count has no partial tau given itself
                entry[f"{key}_minus_{label}"] = entry[key] - summary["proxies"][reference][key]
                entry[f"{key}_minus_{label}_ci95"] = interval(samples[name][statistic] - samples[reference][statistic])
    if table.truth_seeds.shape[1] >= 2:
        a, b = table.truth_seeds[:, 0], table.truth_seeds[:, 1]
        ceiling = kendall_tau(a, b)
        for entry in summary["proxies"].values():  # how much of what can be judged at all a signal reaches
            entry["kendall_tau_share_of_ceiling"] = entry["kendall_tau"] / ceiling if ceiling > 0 else math.nan
        summary["noise_ceiling"] = {"kendall_tau": ceiling,
                                    "kendall_tau_ci95": interval(resample(n, lambda i: kendall_tau(a[i], b[i]))),
                                    "partial_tau_params": partial_tau(a, b, table.signals["params"]),
                                    "mean_abs_seed_difference": float(np.mean(np.abs(a - b))),
                                    "simulated_tau_by_seeds": ceiling_by_seeds(a, b)}
    summary["truth"] = {"mean_val_acc": float(table.truth.mean()), "min_val_acc": float(table.truth.min()),
                        "max_val_acc": float(table.truth.max()), "cost_s": table.costs.get(TRUTH, math.nan)}
    return summary


def ceiling_by_seeds(a: np.ndarray, b: np.ndarray, seeds: tuple[int, ...] = (1, 2, 4, 8),
                     rounds: int = 300) -> dict[str, float]:
    """What a stronger truth would buy: the expected tau between two independent truths that are each the mean of k
    seeds, simulated from the measured seed-to-seed noise (Gaussian, its variance half the mean squared difference
    of two seeds) around each architecture's measured mean. k = 1 should come out near the measured ceiling."""
    rng = np.random.default_rng(0)
    noise, centre = math.sqrt(float(np.mean((a - b) ** 2)) / 2), (a + b) / 2
    simulated = {}
    for k in seeds:
        draws = [kendall_tau(centre + rng.normal(0, noise, (k, len(centre))).mean(axis=0),
                             centre + rng.normal(0, noise, (k, len(centre))).mean(axis=0)) for _ in range(rounds)]
        simulated[str(k)] = float(np.nanmean(draws))
    return simulated


def plot_study(measurements: list[dict[str, Any]], summary: dict[str, Any], out: Path, prefix: str = "") -> None:
    """`scatter.png`: each signal against the truth; `tau_vs_cost.png`: tau and partial tau against seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = measurement_table(measurements, summary.get("truth_seeds"))
    _add_combined(table)
    names = [name for name in summary["proxies"] if name in table.signals]
    if not table.hashes or not names:
        return
    columns = 4
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.4 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names):
        entry = summary["proxies"][name]
        axis.scatter(table.signals[name], table.truth, s=14)
        axis.set_title(f"{name}: tau {entry['kendall_tau']:.2f}, partial {entry['partial_tau_params']:.2f}",
                       fontsize=9)
        axis.set_xlabel(name)
        axis.set_ylabel("truth: full-training val acc")
        if name in FREE:
            axis.set_xscale("log")
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(out / f"{prefix}scatter.png", dpi=110)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for key, marker in (("kendall_tau", "o"), ("partial_tau_params", "x")):
        costs = [max(summary["proxies"][name]["cost_s"], 1e-3) for name in names]
        axis.scatter(costs, [summary["proxies"][name][key] for name in names], marker=marker,
                     label="tau" if key == "kendall_tau" else "partial tau given parameters")
    for name in names:
        entry = summary["proxies"][name]
        axis.annotate(name, (max(entry["cost_s"], 1e-3), entry["kendall_tau"]), fontsize=7)
    ceiling = summary.get("noise_ceiling")
    if ceiling:
        axis.axhline(ceiling["kendall_tau"], color="grey", linestyle="--", label="noise ceiling (truth seed A vs B)")
    axis.set_xscale("log")
    axis.set_xlabel("cost per architecture (s, log)")
    axis.set_ylabel("Kendall tau vs the truth")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / f"{prefix}tau_vs_cost.png", dpi=110)
    plt.close(figure)


def format_summary(summary: dict[str, Any]) -> str:
    """The signals as a text table, best tau first, with the noise ceiling underneath."""
    default = summary.get("default")
    header = (f"{'signal':<30} {'tau':>5} {'95% interval':>14} {'partial|params':>20} {'quintiles':>9} "
              f"{'top10%':>6} {'repeat':>6} {'cost_s':>7}  {'tau - params':>20}")
    if default:
        header += f"  {'tau - ' + default:>20}"
    lines = [header]
    for name, e in sorted(summary["proxies"].items(), key=lambda item: -np.nan_to_num(item[1]["kendall_tau"], nan=-9)):
        partial = f"{e['partial_tau_params']:.2f} {_fmt_interval(e['partial_tau_params_ci95'])}"
        line = (f"{name:<30} {e['kendall_tau']:>5.2f} {_fmt_interval(e['kendall_tau_ci95']):>14} {partial:>20} "
                f"{e['kendall_tau_within_quintiles']:>9.2f} {e['top10_hit_rate']:>6.2f} "
                f"{e.get('repeatability', math.nan):>6.2f} {e['cost_s']:>7.2f}  {_difference(e, 'params'):>20}")
        if default:
            line += f"  {_difference(e, 'default'):>20}"
        lines.append(line)
    ceiling = summary.get("noise_ceiling")
    if ceiling:
        lines.append(f"noise ceiling (truth seed 0 vs seed 1): tau {ceiling['kendall_tau']:.2f} "
                     f"{_fmt_interval(ceiling['kendall_tau_ci95'])}, mean |difference| "
                     f"{ceiling['mean_abs_seed_difference']:.4f}; simulated tau between two truths of k seeds each: "
                     + ", ".join(f"k={k} {v:.2f}" for k, v in ceiling["simulated_tau_by_seeds"].items()))
    return "\n".join(lines)


def _fmt_interval(bounds: list[float]) -> str:
    return f"[{bounds[0]:.2f}, {bounds[1]:.2f}]"


def _difference(entry: dict[str, Any], label: str) -> str:
    key = f"kendall_tau_minus_{label}"
    return f"{entry[key]:+.2f} {_fmt_interval(entry[key + '_ci95'])}" if key in entry else ""
