"""The proxy study: how well does each cheap fitness signal rank architectures the way full training does?

`evohybrid study proxy` samples architectures spread over the parameter range and measures, for each, every
signal (at two weight seeds, for their repeatability) and the truth (full training at several seeds), on a pool of
workers; one JSON line per finished measurement, so a long study accumulates over several runs. The analysis is in
study_analysis.py. `evohybrid study recipe` measures fitness recipes against an existing study's truth.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import Config, config_from_dict
from ..data import SearchSplit
from ..distributed.job_pool import PoolOptions, run_jobs
from ..errors import ConfigError, RunDirError
from ..evolution.store import append_jsonl, read_records, write_json_atomic
from ..fitness.evaluator import evaluate
from ..fitness.proxies import readout_accuracy
from ..fitness.signals import ZERO_COST, zero_cost_signal
from ..spaces.builder import build_model, count_flops, count_parameters, genome_seed
from ..spaces.genome import Genome
from ..spaces.space import SearchSpace, load_space
from ..training.trainer import TrainingData
from .analysis import TRUTH, analyse, plot_study
from .truth import TruthSettings, truth_accuracy, truth_data

MEASUREMENTS_FILE = "measurements.jsonl"
STUDY_FILE = "study.json"
SUMMARY_FILE = "summary.json"
RECIPES_FILE = "recipes.jsonl"
RECIPES_SUMMARY_FILE = "recipes.json"


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


def _bn_only(genome: Genome, ctx: StudyContext, seed: int) -> dict[str, float | None]:
    """BN-only accuracy, and BN-NAS's mean |gamma| from the same run."""
    record = evaluate(genome, ctx.split, ctx.config.fitness, seed=ctx.config.seed + seed)
    ok = record["status"] == "ok"
    return {"bn": record["val_acc"] if ok else None, "bn-nas": record.get("bn_gamma") if ok else None}


def _fitness_proxy(name: str, trainable: str) -> Callable[[Genome, StudyContext, int], dict[str, float | None]]:
    """The fitness recipe with another trainable set, as the signal `name`."""
    def measure(genome: Genome, ctx: StudyContext, seed: int) -> dict[str, float | None]:
        cfg = replace(ctx.config.fitness, trainable=trainable)
        record = evaluate(genome, ctx.split, cfg, seed=ctx.config.seed + seed)
        return {name: record["val_acc"] if record["status"] == "ok" else None}
    return measure


def _fresh_model(genome: Genome, ctx: StudyContext, seed: int):
    split = ctx.split
    return build_model(genome, in_channels=split.input_shape[0], num_classes=split.num_classes,
                       seed=genome_seed(ctx.config.seed + seed, genome))


def _zero_cost(name: str) -> Callable[[Genome, StudyContext, int], dict[str, float | None]]:
    """A registered zero-cost signal of the network at its initial weights, as the signal `name`."""
    def measure(genome: Genome, ctx: StudyContext, seed: int) -> dict[str, float | None]:
        return {name: zero_cost_signal(name, _fresh_model(genome, ctx, seed), ctx.split)}
    return measure


def _readout(genome: Genome, ctx: StudyContext, seed: int) -> dict[str, float | None]:
    return {"readout": readout_accuracy(_fresh_model(genome, ctx, seed), ctx.split)}


def _truth(genome: Genome, ctx: StudyContext, seed: int) -> dict[str, float | None]:
    return {TRUTH: truth_accuracy(genome, ctx.truth_data, ctx.truth, seed)}


# A measurement may give several signals (the BN-only run also gives BN-NAS's indicator); it is named after its first.
MEASUREMENTS: dict[str, Callable[[Genome, StudyContext, int], dict[str, float | None]]] = {
    TRUTH: _truth,
    "bn": _bn_only,
    "bn+head": _fitness_proxy("bn+head", "bn+head"),
    "all (same steps)": _fitness_proxy("all (same steps)", "all"),
    "readout": _readout,
    **{name: _zero_cost(name) for name in ZERO_COST},
}
SIGNALS = ("bn", "bn-nas", "bn+head", "all (same steps)", "readout", *ZERO_COST)  # what they give
MIN_ARCHITECTURES = 10


@dataclass(frozen=True)
class StudyContext:
    """What a study worker holds: the search's split for the signals, the truth's data for full training."""

    config: Config
    split: SearchSplit
    truth: TruthSettings
    truth_data: TrainingData


def study_context(config: dict[str, Any], truth: dict[str, Any]) -> StudyContext:
    """Built once in each worker, from plain settings (each worker loads the data set itself)."""
    from ..evolution.executors import load_search_split

    parsed = config_from_dict(config)
    settings = TruthSettings(**truth)
    return StudyContext(parsed, load_search_split(parsed), settings, truth_data(parsed, settings))


def measure_job(ctx: StudyContext, job: tuple[dict[str, Any], str, int]) -> dict[str, float | None]:
    """One measurement of one genome at one seed: {signal: value}, None for a failed or diverged value."""
    genome, name, seed = job
    values = MEASUREMENTS[name](Genome.from_dict(genome), ctx, seed)
    return {key: value if value is None or math.isfinite(value) else None for key, value in values.items()}


def run_study(out: str | Path, config: Config, *, n: int, truth: TruthSettings = TruthSettings(),
              proxy_seeds: int = 2, measure: tuple[str, ...] = tuple(MEASUREMENTS), pool: PoolOptions = PoolOptions(),
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every signal (at `proxy_seeds` weight seeds) and the truth (at `truth.seeds` training seeds) for
    `n` architectures spread over the parameter range, on a pool of workers, resuming what `out` already holds;
    then analyse. Architectures are measured in a shuffled order, so a study stopped early is a fair subsample.
    `measure` names the measurements to make this time (e.g. the truth alone, on a GPU machine)."""
    from ..evolution.executors import load_search_split

    unknown = [name for name in measure if name not in MEASUREMENTS]
    if unknown or not measure:
        raise ConfigError(f"unknown measurement {', '.join(map(repr, unknown)) or '(none)'}: choose from "
                          f"{', '.join(MEASUREMENTS)}")
    if n < MIN_ARCHITECTURES:
        raise ConfigError(f"--n {n} is too few to rank: use at least {MIN_ARCHITECTURES} architectures")
    if proxy_seeds < 1:
        raise ConfigError(f"--proxy-seeds must be at least 1, got {proxy_seeds}")
    truth.check(config)
    out = Path(out)
    study = {"config": config.to_dict(), "n": n, "truth": truth.recipe()}
    study_path = out / STUDY_FILE
    saved = json.loads(study_path.read_text()) if study_path.exists() else None
    if saved is not None and _comparable(saved) != _comparable(study):
        raise RunDirError(f"'{out}' holds a study with other settings: choose another --out")
    # A study grows: --n above what it holds adds architectures to those it has; it never shrinks.
    sizes = saved.get("sizes", [saved["n"]]) if saved is not None else []
    if sizes and n < sizes[-1]:
        raise RunDirError(f"'{out}' holds a study of {sizes[-1]} architectures: --n may grow it, not shrink it")
    if not sizes or n > sizes[-1]:
        sizes = [*sizes, n]
    split = load_search_split(config)  # also checks the data set before anything is written
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(study_path, {**study, "sizes": sizes, "truth_seeds": truth.seeds, "proxy_seeds": proxy_seeds})
    genomes = study_genomes(load_space(config.space), sizes, config.seed, split.input_shape, split.num_classes)
    measures = {}
    for genome in genomes:
        model = build_model(genome, in_channels=split.input_shape[0], num_classes=split.num_classes)
        measures[genome.hash] = (count_parameters(model), count_flops(model, split.input_shape))
    done = {(m["hash"], m["proxy"], m.get("seed", 0)) for m in read_records(out / MEASUREMENTS_FILE)}
    jobs = [(genome.to_dict(), name, seed) for genome in genomes for name in MEASUREMENTS if name in measure
            for seed in range(truth.seeds if name == TRUTH else proxy_seeds) if (genome.hash, name, seed) not in done]
    log(f"{len(jobs)} measurements to make ({len(done)} already in {out / MEASUREMENTS_FILE})")
    for count, (job, values, seconds) in enumerate(run_jobs(jobs, study_context, (config.to_dict(), asdict(truth)),
                                                              measure_job, pool), start=1):
        genome = Genome.from_dict(job[0])
        params, flops = measures[genome.hash]
        append_jsonl(out / MEASUREMENTS_FILE, *({"hash": genome.hash, "genome": job[0], "params": params,
                                                 "flops": flops, "proxy": signal, "seed": job[2], "value": value,
                                                 "cost_s": seconds} for signal, value in values.items()))
        shown = ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} failed" for k, v in values.items())
        log(f"[{count}/{len(jobs)}] {genome.describe():<40} seed {job[2]}  {shown}  {seconds:6.1f}s")
    return write_study_summary(out, truth_seeds=truth.seeds)


def study_genomes(space: SearchSpace, sizes: list[int], seed: int, shape: tuple[int, ...],
                  classes: int) -> list[Genome]:
    """A study's architectures in the order they are measured. The first `sizes[0]` are spread over the parameter
    range and shuffled; each growth to `sizes[k]` adds, shuffled, the architectures of a spread over `sizes[k]` that
    the study does not hold yet. Any prefix is a fair subsample, and a grown study keeps what it measured."""
    genomes: list[Genome] = []
    for step, size in enumerate(sizes):
        held = {genome.hash for genome in genomes}
        new = [genome for genome in spread_sample(space, size, seed, shape, classes) if genome.hash not in held]
        random.Random(seed + step).shuffle(new)  # step 0: the order of a study that never grew
        genomes += new[:size - len(genomes)]
    return genomes


def _comparable(study: dict[str, Any]) -> dict[str, Any]:
    """What fixes a study's measurements: read through the current config schema (a study saved before a setting
    existed compares with its default), and without the search settings, which no measurement uses, or the number
    of architectures, which may grow."""
    try:
        config = config_from_dict(study.get("config")).to_dict()
    except ConfigError:
        config = study.get("config")
    return {"config": {key: value for key, value in (config or {}).items() if key != "search"},
            "truth": study.get("truth")}


def write_study_summary(out: Path, truth_seeds: int | None = None) -> dict[str, Any]:
    """Analyse a study folder's measurements into summary.json, scatter.png and tau_vs_cost.png."""
    measurements = read_records(Path(out) / MEASUREMENTS_FILE)
    summary = analyse(measurements, truth_seeds=truth_seeds)
    (Path(out) / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
    plot_study(measurements, summary, Path(out))
    return summary


def run_recipe_study(study_dir: str | Path, variants: dict[str, Any], *,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure fitness recipes (overrides of the study's config) on the study's architectures, against its truth.

    One JSON line per (recipe, architecture) in recipes.jsonl, so an interrupted run resumes; the summary has
    the same statistics as the proxy study, one entry per recipe, with the first recipe as the default that the
    others are compared with (paired bootstrap differences)."""
    from ..evolution.executors import load_search_split

    study_dir = Path(study_dir)
    study_path = study_dir / STUDY_FILE
    if not study_path.is_file():
        raise RunDirError(f"'{study_dir}' holds no proxy study ({STUDY_FILE}): run 'evohybrid study proxy' first")
    base = json.loads(study_path.read_text())["config"]
    measurements = read_records(study_dir / MEASUREMENTS_FILE)
    truth = [m for m in measurements if m["proxy"] == TRUTH]
    architectures = list({m["hash"]: m for m in truth if m["value"] is not None}.values())
    configs = {name: _recipe_config(base, name, overrides) for name, overrides in variants.items()}
    done = {(m["proxy"], m["hash"]) for m in read_records(study_dir / RECIPES_FILE)}
    # Recipes that differ in fitness settings only share one loaded split.
    data_keys = {name: json.dumps(config.to_dict()["data"], sort_keys=True) + str(config.seed)
                 for name, config in configs.items()}
    splits: dict[str, Any] = {}
    # Architecture by architecture, every recipe back to back: a shared machine's slow drifts then cost
    # each recipe alike, so their seconds compare.
    for index, m in enumerate(architectures):
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
            log(f"[{index + 1}/{len(architectures)}] {name:<20} {value if value is not None else float('nan'):7.4f} "
                f"{cost:6.1f}s")
    recipes = [m for m in read_records(study_dir / RECIPES_FILE) if m["proxy"] in configs]
    summary = analyse(truth + recipes, default=next(iter(configs), None),
                      truth_seeds=json.loads(study_path.read_text()).get("truth_seeds"))
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
