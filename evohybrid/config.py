"""Configuration: frozen dataclasses read from YAML, validated once, every default written out with the run."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset_names import DATASET_NAMES, GENERATED_DEFAULTS, unknown_dataset
from .errors import ConfigError
from .signal_names import FITNESS_SIGNAL, SIGNALS, ZERO_COST_SIGNALS
from .spaces.builder_names import BN_INITS, TRAINABLE_SETS
from .yaml_files import read_yaml, resolve_yaml, shipped_folder

CONFIGS_DIR = shipped_folder("evohybrid.configs")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    download: bool = True  # torchvision data sets only; Fashion-MNIST is found on disk first
    val_size: int | float = 5000  # held out of the training split, fixed by the seed; below 1: a fraction of it
    train_size: int | None = 10000  # training images the fitness may draw from; null for all
    resolution: int | None = None  # resize once at load time; null keeps the native size
    samples: int | None = None  # generated sets (mnist1d) only: series made, training and test; null: the paper's
    generator_seed: int | None = None  # generated sets only: the generator's seed; null: the paper's


@dataclass(frozen=True)
class FitnessConfig:
    trainable: str = "bn"  # bn | bn+head | head | all
    bn_init: str = "uniform"  # BatchNorm gamma at the start: uniform U[0, 1] | ones
    steps: int = 40
    batch_size: int = 128
    optimizer: str = "adam"  # adam | sgd
    lr: float = 0.03
    momentum: float = 0.9  # sgd only, with schedule cosine or constant: one-cycle cycles it itself (0.85 to 0.95)
    weight_decay: float = 0.0
    schedule: str = "onecycle"  # onecycle | cosine | constant
    val_batch_size: int = 1000
    precision: str = "auto"  # auto (bf16 where the hardware has it) | fp32 | bf16: matrix work in bfloat16, BatchNorm fp32
    channels_last: bool = False  # NHWC memory layout: faster convolutions on tensor-core GPUs
    augment: bool = False  # random crops (and flips for natural images) of each batch, on the device
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = None  # torch threads; null uses what the worker was given
    repeats: int = 1  # sets of random weights trained per genome; val_acc is their mean (less weight-seed noise)
    folds: int = 1  # > 1: the training and validation slices divided into stratified folds, each validated once
    signals: tuple = ()  # zero-cost signals measured beside the fitness and kept in each record (naswot, zico, ...)


@dataclass(frozen=True)
class SearchConfig:
    algorithm: str = "nsga2"  # one of ALGORITHM_NAMES
    budget: int = 200  # distinct architectures evaluated
    time_budget: float | None = None  # seconds: no new proposal after this much wall time of one search command
    population: int = 20
    crossover_prob: float = 0.5
    sample_size: int = 5  # aging evolution's tournament (at most the population)
    # Costlier fitness rungs, each a set of fitness overrides (e.g. {steps: 160}); empty: one fidelity only.
    rungs: tuple = ()
    rung_fraction: float = 0.25  # the share of each batch of `population` proposals promoted to the next rung
    # What the algorithm selects on, beside size: fitness (val_acc); ensemble (the signals of `ensemble`, their
    # ranks aggregated within each selection, as AZ-NAS does); noise (a seeded random number: the ablation that
    # shows what selection by fitness adds to evolution steered by size alone).
    selection: str = "fitness"
    # bn: val_acc; the others are measured at no training cost. BN-only with NASWOT ranked best of the ensembles in
    # the proxy studies (results/studies: Fashion-MNIST tau 0.46 against BN-only's 0.33; MNIST-1D level with BN-only).
    ensemble: tuple = ("bn", "naswot")
    # Zero-cost screening: propose `screen_factor` times as many candidates as are evaluated, score them with
    # `screen_signal` on the workers, and evaluate only the best of them (NSGA-II's sort on that score and size).
    screen_signal: str | None = None
    screen_factor: int = 1


@dataclass(frozen=True)
class Config:
    seed: int = 0
    space: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def to_dict(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        for section, key in (("search", "rungs"), ("search", "ensemble"), ("fitness", "signals")):
            raw[section][key] = list(raw[section][key])  # as JSON reads it back
        return raw

    def override(self, section: str | None, **values: Any) -> "Config":
        """A copy with some values replaced (None means keep), validated like a file."""
        values = {key: value for key, value in values.items() if value is not None}
        if not values:
            return self
        raw = self.to_dict()
        (raw[section] if section else raw).update(values)
        return config_from_dict(raw)

    def without_screening(self) -> "Config":
        """A copy whose search evaluates every offspring (`override` cannot set a value to None)."""
        raw = self.to_dict()
        raw["search"].update(screen_signal=None, screen_factor=1)
        return config_from_dict(raw)


# The algorithms registered in evolution.algorithms, by name (a test keeps the two equal): the schema checks a
# name without importing the algorithms, which read this schema.
ALGORITHM_NAMES = ("nsga2", "nsga2-steady", "aging", "random")
CHOICES = {
    ("search", "algorithm"): ALGORITHM_NAMES,
    ("fitness", "trainable"): TRAINABLE_SETS,
    ("fitness", "bn_init"): BN_INITS,
    ("fitness", "optimizer"): ("adam", "sgd"),
    ("fitness", "schedule"): ("onecycle", "cosine", "constant"),
    ("fitness", "precision"): ("auto", "fp32", "bf16"),
    ("search", "selection"): ("fitness", "ensemble", "noise"),
}
POSITIVE = {("data", "val_size"), ("data", "train_size"), ("data", "resolution"), ("data", "samples"), ("fitness", "steps"),
            ("fitness", "batch_size"), ("fitness", "lr"), ("fitness", "val_batch_size"), ("fitness", "threads"), ("fitness", "repeats"),
            ("fitness", "folds"),
            ("search", "budget"), ("search", "time_budget"), ("search", "screen_factor"), ("search", "population"), ("search", "sample_size")}


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{where} must not be null")
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if option is tuple and isinstance(value, (list, tuple)):
            return tuple(value)
    names = " or ".join("null" if option is type(None) else option.__name__ for option in options)
    raise ConfigError(f"{where} must be {names}, got {value!r}")


def _section(cls: type, raw: Any, section: str | None) -> Any:
    prefix = f"{section}." if section else ""
    if not isinstance(raw, dict):
        raise ConfigError(f"'{section or 'config'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}' (allowed in {section or 'the top level'}: {sorted(names)})")
    values = {}
    for name, value in raw.items():
        if dataclasses.is_dataclass(hints[name]):
            values[name] = _section(hints[name], value, name)
            continue
        where = f"{prefix}{name}"
        values[name] = _check_type(value, hints[name], where)
        if (section, name) == ("data", "dataset") and value not in DATASET_NAMES:
            raise ConfigError(f"{where}: {unknown_dataset(value)}")
        if (section, name) in CHOICES and values[name] not in CHOICES[(section, name)]:
            raise ConfigError(f"{where} must be one of {list(CHOICES[(section, name)])}, got {value!r}")
        if (section, name) in POSITIVE and values[name] is not None and values[name] <= 0:
            raise ConfigError(f"{where} must be positive, got {value!r}")
    return cls(**values)


def config_from_dict(raw: Any) -> Config:
    """Validate a parsed config; a ConfigError names the offending key."""
    config = _section(Config, raw if raw is not None else {}, None)
    if not 0.0 <= config.search.crossover_prob <= 1.0:
        raise ConfigError("search.crossover_prob must be between 0 and 1")
    if config.search.population < 4:
        raise ConfigError("search.population must be at least 4 (NSGA-II's tournament takes four at a time)")
    if not 0.0 < config.search.rung_fraction <= 1.0:
        raise ConfigError("search.rung_fraction must be above 0 and at most 1")
    _check_generated(config.data)
    _check_rungs(config)
    return _with_ensemble_signals(config)


def _check_names(names: tuple, allowed: tuple[str, ...], where: str) -> None:
    unknown = [name for name in names if name not in allowed]
    if unknown or len(set(names)) != len(names):
        problem = f"unknown signal '{unknown[0]}'" if unknown else "a signal named twice"
        raise ConfigError(f"{where} has {problem}: use names from {list(allowed)}")


def _check_screening(search: SearchConfig) -> None:
    signal, factor = search.screen_signal, search.screen_factor
    if signal is None:
        if factor != 1:
            raise ConfigError("search.screen_factor needs search.screen_signal: name a zero-cost signal to screen with "
                              f"({', '.join(ZERO_COST_SIGNALS)})")
        return
    if signal not in ZERO_COST_SIGNALS:
        needs = "needs training" if signal == FITNESS_SIGNAL else "is not a signal"
        raise ConfigError(f"search.screen_signal '{signal}' {needs}: screen with a zero-cost signal "
                          f"({', '.join(ZERO_COST_SIGNALS)})")
    if factor < 2:
        raise ConfigError("search.screen_factor 1 screens nothing out: set it to 2 or more (e.g. 4: one candidate "
                          "in four is evaluated)")


def _with_ensemble_signals(config: Config) -> Config:
    """Check the signal lists; an ensemble's zero-cost signals join fitness.signals, so every record has them."""
    _check_names(config.fitness.signals, ZERO_COST_SIGNALS, "fitness.signals")
    _check_names(config.search.ensemble, SIGNALS, "search.ensemble")
    _check_screening(config.search)
    if config.search.selection != "ensemble":
        return config
    if len(config.search.ensemble) < 2:
        raise ConfigError("search.ensemble needs at least two signals to aggregate, e.g. [bn, naswot]")
    measured = set(config.fitness.signals) | set(config.search.ensemble) - {FITNESS_SIGNAL}
    signals = tuple(name for name in ZERO_COST_SIGNALS if name in measured)
    return dataclasses.replace(config, fitness=dataclasses.replace(config.fitness, signals=signals))


MIN_GENERATED_SAMPLES = 100  # ten classes, a fifth of them for the test split


def _check_generated(data: DataConfig) -> None:
    if data.dataset not in GENERATED_DEFAULTS:
        given = [key for key in ("samples", "generator_seed") if getattr(data, key) is not None]
        if given:
            raise ConfigError(f"data.{given[0]} sets a generated data set ({', '.join(GENERATED_DEFAULTS)}) only: remove it "
                              f"for {data.dataset}")
    elif data.samples is not None and data.samples < MIN_GENERATED_SAMPLES:
        raise ConfigError(f"data.samples must be at least {MIN_GENERATED_SAMPLES} for {data.dataset}, got {data.samples}")


# The fitness settings a rung may change (the data stays resident, so data settings cannot change per rung).
RUNG_KEYS = ("trainable", "bn_init", "steps", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
             "precision", "augment")
TRAINABLE_COST = {"head": 0, "bn": 1, "bn+head": 2, "all": 3}  # more trainable weights: a costlier backward pass


def rung_fitness(config: Config, rung: int) -> FitnessConfig:
    """The fitness settings of rung `rung` (0: the config's own)."""
    if rung == 0:
        return config.fitness
    return dataclasses.replace(config.fitness, **config.search.rungs[rung - 1])


def _rung_cost(fitness: FitnessConfig) -> tuple[int, int]:
    return fitness.steps * fitness.batch_size, TRAINABLE_COST[fitness.trainable]


def _check_rungs(config: Config) -> None:
    previous = _rung_cost(config.fitness)
    for index, overrides in enumerate(config.search.rungs):
        where = f"search.rungs[{index}]"
        if not isinstance(overrides, dict) or not overrides:
            raise ConfigError(f"{where} must map fitness settings to new values, e.g. {{steps: 160}}")
        unknown = sorted(set(overrides) - set(RUNG_KEYS))
        if unknown:
            raise ConfigError(f"{where} cannot set '{unknown[0]}' (a rung may set {list(RUNG_KEYS)})")
        fitness = dataclasses.asdict(config.fitness)
        fitness.update(overrides)
        try:
            checked = _section(FitnessConfig, fitness, "fitness")
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        cost = _rung_cost(checked)
        if not (cost[0] >= previous[0] and cost[1] >= previous[1] and cost != previous):
            raise ConfigError(f"{where} costs no more than the rung before it: give it more steps or images per "
                              "step, or more trainable weights")
        previous = cost


def load_config(name_or_path: str | Path = "default") -> Config:
    """Load and validate a YAML config by name (`default`, `smoke`) or path."""
    return config_from_dict(read_yaml(resolve_yaml(name_or_path, CONFIGS_DIR, "config"), "config"))
