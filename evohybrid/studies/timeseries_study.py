"""The time-series study: on each UCR set bundled with aeon, the promoted winner of a conv1d search against
MiniRocket (aeon's `MiniRocketClassifier`, the bar for time-series classification) and an extreme learning machine
(the winner's architecture with its random weights and a ridge readout). All three learn from the same series (the
set's training split minus the search's validation slice) and are tested once on the set's test split.

Layout of the study folder: `<set>/search/` (the search run, with `promoted/` inside), `<set>/result.json` once the
set is done, `<set>/refits.jsonl` (one line per finished training of the refit: its test logits) and
`<set>/refit.json` once the refit is done, `timeseries.json` over every finished set. Resumable set by set, and within
a set by the search's, the cross-validation's, the promotion's and the refit's own resume.

The refit trains the winner and MiniRocket again on the whole training split (the validation slice included, as the
UCR protocol and MiniRocket's published figures do), with several seeds: the validation slice is a fifth of splits
of 36 to 270 series, and one training seed moves a test accuracy on 100 to 250 series by points.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import Config, config_from_dict, load_config
from ..data import AEON_MISSING
from ..dataset_names import UCR_SETS
from ..distributed.job_pool import PoolOptions, run_jobs
from ..evolution.executors import Executor
from ..errors import ConfigError, DatasetError
from ..evolution.loop import search
from ..evolution.store import KeptRows, RunStore, write_json_atomic
from ..fitness.proxies import readout_classifier
from ..spaces.builder import build_model, count_parameters, genome_seed
from ..spaces.genome import Genome
from ..training.cross_validation import CrossValidationSettings, cross_validate, ranking
from ..training.promote import PromoteOptions, promote
from ..training.promoted import model_dir, promoted_model, read_ledger, select_records
from ..training.trainer import NATIVE, Training, TrainingData, refit_data, training_data

SUMMARY_FILE = "timeseries.json"
REFIT_FILE = "refit.json"
REFITS_FILE = "refits.jsonl"  # one line per finished training of the refit
RESULT_FILE = "result.json"
# MiniRocket's published accuracies: UCR archive, mean over 30 resamples (Dempster, Schmidt and Webb 2021).
PUBLISHED_MINIROCKET = {"ACSF1": 0.822, "ArrowHead": 0.881, "GunPoint": 0.992, "ItalyPowerDemand": 0.960,
                        "OSULeaf": 0.958}
METHODS = ("ours", "minirocket", "elm")
PROMOTION_LR = 0.1


@dataclass(frozen=True)
class TimeseriesSettings:
    """What each set gets: a search of `budget` architectures, its best by proxy promoted with this recipe."""

    sets: tuple[str, ...] = UCR_SETS
    budget: int = 100
    epochs: int = 200  # the training splits are small (40 to 270 series): many short epochs
    batch_size: int = 16
    seed: int = 0
    refit_seeds: int = 3  # trainings of the winner and of MiniRocket on the whole training split (0: no refit)
    # The best by proxy are promoted, and the best of them after promotion wins: on validation slices of 7 to 54
    # series, the proxy's first place is often one series ahead of the next.
    promote_top: int = 3
    space: str = "conv1d"
    fitness_folds: int = 1  # > 1: the search's fitness over that many folds of its slices (fitness.folds)
    fitness_batch: int | None = None  # the search's fitness batch (fitness.batch_size); None: the config's
    # > 0: the winner among the `promote_top` best by proxy is chosen by that many folds of full training on the
    # training split (`evohybrid cross-validate`), and only it is promoted; 0: all are promoted, the best wins.
    cv_folds: int = 0
    ensemble: int = 0  # >= 2: the refit also trains the best `ensemble` candidates per seed and averages their logits
    # >= 2: the refit also trains the winner that many times per seed (other seeds) and averages their logits, the
    # ensemble InceptionTime is (one network, several trainings)
    seed_ensemble: int = 0
    shift: float = 0.0  # the promotion recipe shifts each training series by up to this fraction of its length
    max_params: int | None = None  # the candidates are the best by proxy of at most this many parameters (None: any)

    def check(self) -> None:
        unknown = [name for name in self.sets if name not in UCR_SETS]
        if unknown:
            raise ConfigError(f"unknown UCR set '{unknown[0]}': the bundled ones are {', '.join(UCR_SETS)}")
        if self.cv_folds == 1 or (self.cv_folds and self.promote_top < 2):
            raise ConfigError("--cv-folds chooses among at least 2 candidates in at least 2 folds: set --cv-folds 2 "
                              "or more (0: choose by promotion) and --promote-top 2 or more")
        if self.ensemble == 1 or self.ensemble > self.promote_top:
            raise ConfigError(f"--ensemble must be 0 or between 2 and --promote-top ({self.promote_top}), got "
                              f"{self.ensemble}")
        if self.seed_ensemble == 1 or (self.seed_ensemble and not self.refit_seeds):
            raise ConfigError(f"--seed-ensemble must be 0 or at least 2, with --refit-seeds 1 or more, got "
                              f"{self.seed_ensemble}")


def _search_and_promote(name: str, folder: Path, settings: TimeseriesSettings, executor_factory: Callable | None,
                        pool: PoolOptions, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """The set's search (resumed if it was stopped) and its `promote_top` best architectures by proxy, judged: by
    promotion (their promoted validation accuracy) or, with `cv_folds`, by cross-validation (their mean over folds,
    and only the winner promoted). The winner first; the proxy's order breaks ties."""
    run_dir = folder / "search"
    log(f"{name}: search of {settings.budget} architectures")
    if (run_dir / "config.json").exists():
        result = search(resume=run_dir, budget=settings.budget, progress=False, executor_factory=executor_factory)
    else:
        config = (load_config("timeseries").override("data", dataset=f"ucr:{name}")
                  .override(None, seed=settings.seed, space=settings.space)
                  .override("fitness", folds=settings.fitness_folds))
        if settings.fitness_batch:
            config = config.override("fitness", batch_size=settings.fitness_batch)
        result = search(config, out=run_dir, budget=settings.budget, progress=False, executor_factory=executor_factory)
    best = select_records(result.records, run_dir, top=settings.promote_top, max_params=settings.max_params)
    if settings.cv_folds:
        summary = cross_validate(run_dir, CrossValidationSettings(
            top=len(best), folds=settings.cv_folds, epochs=settings.epochs, lr=PROMOTION_LR,
            batch_size=settings.batch_size, resolution=NATIVE, max_params=settings.max_params, shift=settings.shift),
            pool, log=log)
        # In the order cross-validation ranks them, its winner first.
        candidates = [{"id": row["id"], "proxy_acc": row["proxy_val_acc"], "cv_acc": row["mean"]}
                      for row in ranking(summary["rows"])]
        log(f"{name}: promoting the winner, id {candidates[0]['id']}")
        _promote(run_dir, [candidates[0]["id"]], settings)
        return candidates
    log(f"{name}: promoting ids {', '.join(str(record['id']) for record in best)}")
    _promote(run_dir, [record["id"] for record in best], settings)
    candidates = [{"id": record["id"], "proxy_acc": record["val_acc"],
                   "val_acc": promoted_model(run_dir, record["id"])[1]["val_acc"]} for record in best]
    return sorted(candidates, key=lambda candidate: -candidate["val_acc"])  # stable: the proxy's order breaks ties


def _promote(run_dir: Path, ids: list[int], settings: TimeseriesSettings) -> None:
    """Promote `ids` with the study's recipe, finishing first a promotion that was stopped midway."""
    options = PromoteOptions(epochs=settings.epochs, batch_size=settings.batch_size, lrs=(PROMOTION_LR,),
                             shift=settings.shift)
    ledger = read_ledger(run_dir)
    if ledger and not ledger[-1]["finished"]:
        promote(run_dir, ids=None, resume=True, options=options)
    missing = [eval_id for eval_id in ids if not (model_dir(run_dir, eval_id) / "metrics.json").exists()]
    if missing:
        promote(run_dir, ids=missing, options=options)


def promoted_winner(folder: Path, eval_id: int) -> tuple[Config, Genome, dict[str, Any]]:
    """The set's search config, and the genome and metrics of its promoted winner `eval_id`."""
    run_dir = folder / "search"
    model_folder, metrics = promoted_model(run_dir, eval_id)
    config = config_from_dict(RunStore.open(run_dir).read_config()["config"])
    return config, Genome.from_json((model_folder / "genome.json").read_text()), metrics


def _minirocket(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], seed: int) -> dict[str, Any]:
    try:
        from aeon.classification.convolution_based import MiniRocketClassifier
    except ImportError:
        raise DatasetError(f"the time-series study needs aeon: {AEON_MISSING}") from None
    threads = torch.get_num_threads()
    start = time.perf_counter()
    try:
        classifier = MiniRocketClassifier(random_state=seed, n_jobs=1).fit(*train)
        accuracy = float((classifier.predict(test[0]) == test[1]).mean())
    finally:  # numba's OpenMP layer resets the thread count that torch shares with it: give torch its own back
        torch.set_num_threads(threads)
    return {"test_acc": accuracy, "seconds": time.perf_counter() - start}


def _arrays(data: TrainingData) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The training and test series as aeon takes them: (inputs, labels) in float64 arrays."""
    split = data.split
    return ((split.train_inputs.numpy().astype(np.float64), split.train_labels.numpy()),
            (data.test_inputs.numpy().astype(np.float64), data.test_labels.numpy()))


def measure_set(name: str, folder: Path, settings: TimeseriesSettings, executor_factory: Callable | None = None,
                pool: PoolOptions = PoolOptions(executor="local"),
                log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """One set's row: our promoted winner, MiniRocket and the ELM, each with its test accuracy and seconds."""
    candidates = _search_and_promote(name, folder, settings, executor_factory, pool, log)
    config, genome, metrics = promoted_winner(folder, candidates[0]["id"])
    # The promotion's split (every training series but the validation slice) at the length it trained at.
    data = training_data(config, resolution=metrics["resolution"])
    split = data.split
    train, test = _arrays(data)
    start = time.perf_counter()
    network = build_model(genome, in_channels=split.input_shape[0], num_classes=split.num_classes,
                          seed=genome_seed(config.seed, genome), trainable="all")
    predictions = readout_classifier(network, split)(data.test_inputs)
    elm = {"test_acc": float((predictions == data.test_labels).double().mean()),
           "seconds": time.perf_counter() - start}
    return {"set": name, "train_series": len(split.train_labels), "test_series": len(data.test_labels),
            "length": split.input_shape[-1], "channels": split.input_shape[0], "classes": split.num_classes,
            "ours": {"test_acc": metrics["test_acc"], "seconds": metrics["train_s"], "params": metrics["params"],
                     "architecture": metrics["architecture"], "id": metrics["id"],
                     "search_s": RunStore.open(folder / "search").wall_s(), "candidates": candidates},
            "minirocket": _minirocket(train, test, config.seed),
            "elm": {**elm, "params": count_parameters(network)},
            "published_minirocket": PUBLISHED_MINIROCKET.get(name)}


def measure_refit(folder: Path, row: dict[str, Any], settings: TimeseriesSettings,
                  pool: PoolOptions = PoolOptions(executor="local"),
                  log: Callable[[str], None] = lambda line: None, earlier: dict[str, Any] | None = None) -> dict[str, Any]:
    """The set's promoted winner (its architecture and recipe) and MiniRocket, each trained `settings.refit_seeds`
    times on the whole training split: test accuracy per seed and their mean, and the seconds of their trainings.
    With `settings.ensemble`, also the best candidates per seed, their logits averaged; with `settings.seed_ensemble`,
    the winner trained with that many seeds per seed, their logits averaged (seed s with s + R, s + 2R, ..., R the
    refit's seeds: no training is shared between groups). Each training of ours is kept in `refits.jsonl` as it
    finishes, so a stopped refit continues with the trainings it had not finished; MiniRocket's runs of an `earlier`
    refit with the same seeds are kept as they were measured."""
    config, genome, metrics = promoted_winner(folder, row["ours"]["id"])
    data = refit_data(training_data(config, resolution=metrics["resolution"]))
    seeds = [config.seed + offset for offset in range(settings.refit_seeds)]
    recipe = {"epochs": metrics["epochs"], "lr": metrics["lr"], "batch_size": metrics["batch_size"],
              "label_smoothing": metrics.get("label_smoothing", 0.0), "shift": metrics.get("shift", 0.0)}
    winner = row["ours"]["id"]
    by_id = {record["id"]: record for record in RunStore.open(folder / "search").records()}
    members = [candidate["id"] for candidate in row["ours"]["candidates"][:settings.ensemble]]
    # The winner is the ensemble's first member: each (architecture, seed) is trained once.
    genomes = {winner: genome, **{eval_id: Genome.from_dict(by_id[eval_id]["genome"]) for eval_id in members}}
    groups = [[seed + round_ * len(seeds) for round_ in range(settings.seed_ensemble)]
              for seed in seeds] if settings.seed_ensemble else []
    to_train = [(eval_id, seed) for eval_id in genomes for seed in seeds]
    to_train += [(winner, seed) for group in groups for seed in group[1:]]
    trainings = _refit_trainings(folder, config, metrics["resolution"], genomes, recipe, to_train, pool, log)

    def test_acc(trained: list[tuple[int, int]]) -> float:
        """The test accuracy of these (architecture, seed) trainings, their logits averaged."""
        logits = torch.stack([torch.tensor(trainings[key]["test_logits"]) for key in trained]).mean(dim=0)
        return float((logits.argmax(dim=1) == data.test_labels).double().mean())

    def seconds(trained: list[tuple[int, int]]) -> float:
        return sum(trainings[key]["train_s"] for key in trained)

    ours = [test_acc([(winner, seed)]) for seed in seeds]
    refit = {"seeds": seeds, "train_series": len(data.split.train_labels),
             "ours": {"test_acc": statistics.mean(ours), "per_seed": ours,
                      "seconds": seconds([(winner, seed) for seed in seeds])},
             "minirocket": (earlier["minirocket"] if earlier and earlier["seeds"] == seeds
                            else _minirocket_refit(data, seeds))}
    if members:
        per_seed = [test_acc([(eval_id, seed) for eval_id in members]) for seed in seeds]
        refit["ensemble"] = {"members": members, "test_acc": statistics.mean(per_seed), "per_seed": per_seed,
                             "seconds": seconds([(eval_id, seed) for eval_id in members for seed in seeds]),
                             "params": sum(by_id[eval_id]["params"] for eval_id in members)}
    if groups:
        per_seed = [test_acc([(winner, seed) for seed in group]) for group in groups]
        refit["seed_ensemble"] = {"size": settings.seed_ensemble, "seeds": groups, "test_acc": statistics.mean(per_seed),
                                  "per_seed": per_seed,
                                  "seconds": seconds([(winner, seed) for group in groups for seed in group]),
                                  "params": settings.seed_ensemble * by_id[winner]["params"]}
    return refit


def _minirocket_refit(data: TrainingData, seeds: list[int]) -> dict[str, Any]:
    """MiniRocket on the whole training split once per seed: test accuracy per seed, their mean, and the seconds."""
    train, test = _arrays(data)
    runs = [_minirocket(train, test, seed) for seed in seeds]
    return {"test_acc": statistics.mean(run["test_acc"] for run in runs), "per_seed": [run["test_acc"] for run in runs],
            "seconds": sum(run["seconds"] for run in runs)}


def _refit_trainings(folder: Path, config: Config, resolution: int | str, genomes: dict[int, Genome],
                     recipe: dict[str, Any], trained: list[tuple[int, int]], pool: PoolOptions,
                     log: Callable[[str], None]) -> dict[tuple[int, int], dict]:
    """Each (architecture id, seed) of `trained` trained on the whole training split, over the pool: its test logits
    and seconds, by (id, seed). Those in `refits.jsonl` are not trained again."""
    done = KeptRows(folder / REFITS_FILE, ("id", "seed"))
    jobs = [(eval_id, genomes[eval_id].to_dict(), seed, recipe) for eval_id, seed in trained
            if (eval_id, seed) not in done]
    for (eval_id, _genome, seed, _recipe), logits, seconds in run_jobs(
            jobs, _refit_setup, (config.to_dict(), resolution), _refit_logits, pool):
        done.keep({"id": eval_id, "seed": seed, "train_s": seconds, "test_logits": logits})
        log(f"{folder.name}: refit, {len(done)} of {len(trained)} trainings (id {eval_id}, seed {seed}, "
            f"{seconds:.0f} s)")
    return done.rows


def _refit_setup(config: dict[str, Any], resolution: int | str) -> TrainingData:
    """Each pool worker's data: the whole training split at the promotion's resolution, and the test split."""
    return refit_data(training_data(config_from_dict(config), resolution=resolution))


def _refit_logits(data: TrainingData, job: tuple[int, dict[str, Any], int, dict[str, Any]]) -> list[list[float]]:
    """The test logits of one architecture trained with one seed (another seed: other initial weights and batch
    orders)."""
    _eval_id, genome, seed, recipe = job
    training = Training(Genome.from_dict(genome), data, seed=seed, **recipe)
    training.run()
    return training.test_logits().tolist()


def mean_ranks(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Each method's rank per set (1 is the most accurate, ties share the mean rank), averaged over the sets."""
    ranks: dict[str, list[float]] = {method: [] for method in METHODS}
    for row in rows:
        accuracies = {method: row[method]["test_acc"] for method in METHODS}
        for method, value in accuracies.items():
            better = sum(other > value for other in accuracies.values())
            ties = sum(other == value for other in accuracies.values())
            ranks[method].append(better + (ties + 1) / 2)
    return {method: statistics.mean(values) for method, values in ranks.items()}


def summarise(rows: list[dict[str, Any]], settings: TimeseriesSettings) -> dict[str, Any]:
    means = {method: statistics.mean(row[method]["test_acc"] for row in rows) for method in METHODS}
    summary = {"settings": asdict(settings), "sets": rows, "mean_test_acc": means, "mean_rank": mean_ranks(rows),
               "ours_minus_minirocket": means["ours"] - means["minirocket"],
               "sets_ours_above_elm": sum(row["ours"]["test_acc"] > row["elm"]["test_acc"] for row in rows)}
    refits = [row["refit"] for row in rows if "refit" in row]
    if refits:
        methods = ("ours", "minirocket") + tuple(method for method in ("ensemble", "seed_ensemble")
                                                 if all(method in refit for refit in refits))
        refit_means = {method: statistics.mean(refit[method]["test_acc"] for refit in refits) for method in methods}
        summary["refit"] = {"sets": len(refits), "mean_test_acc": refit_means,
                            "ours_minus_minirocket": refit_means["ours"] - refit_means["minirocket"]}
    return summary


def run_timeseries_study(out: str | Path, settings: TimeseriesSettings = TimeseriesSettings(), *,
                         executor_factory: Callable[[Any], Executor] | None = None,
                         pool: PoolOptions = PoolOptions(executor="local"),
                         log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every set not yet done, then write `timeseries.json` over all finished sets; return it."""
    settings.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    # Sets finished by earlier runs of the same folder stay in its summary: a study grows set by set.
    for name in (name for name in UCR_SETS if name in settings.sets or (out / name / RESULT_FILE).exists()):
        path = out / name / RESULT_FILE
        if not path.exists():
            row = measure_set(name, out / name, settings, executor_factory, pool, log)
            write_json_atomic(path, row)
            log(f"{name:<17} ours {row['ours']['test_acc']:.3f}  MiniRocket {row['minirocket']['test_acc']:.3f}  "
                f"ELM {row['elm']['test_acc']:.3f}")
        row = json.loads(path.read_text())
        refit_path = out / name / REFIT_FILE
        refit = json.loads(refit_path.read_text()) if refit_path.exists() else None
        if settings.refit_seeds and name in settings.sets and _refit_missing(refit, settings):
            refit = measure_refit(out / name, row, settings, pool, log, refit)
            write_json_atomic(refit_path, refit)
            log(f"{name:<17} refit on the whole training split: ours {refit['ours']['test_acc']:.3f}  "
                f"MiniRocket {refit['minirocket']['test_acc']:.3f}")
        if refit is not None:
            row["refit"] = refit
        rows.append(row)
    # The summary's settings name the sets it holds, the earlier runs' included.
    summary = summarise(rows, replace(settings, sets=tuple(row["set"] for row in rows)))
    write_json_atomic(out / SUMMARY_FILE, summary)
    return summary


def _refit_missing(earlier: dict[str, Any] | None, settings: TimeseriesSettings) -> bool:
    """Whether the set's refit is still to measure: not written, or written without the ensemble or seed ensemble
    of the size asked for (its trainings so far are kept: only new members and seeds train)."""
    if earlier is None:
        return True
    members = len(earlier.get("ensemble", {}).get("members", []))
    return bool((settings.ensemble and members != settings.ensemble) or
                (settings.seed_ensemble and earlier.get("seed_ensemble", {}).get("size") != settings.seed_ensemble))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ensemble_columns(ensemble: dict[str, Any] | None) -> str:
    """An ensemble's test accuracy and size, or dashes where the refit has none."""
    if ensemble is None:
        return f"{'-':>8} {'-':>10}"
    return f"{ensemble['test_acc']:>8.3f} {ensemble['params']:>10,}"


def format_timeseries(summary: dict[str, Any]) -> str:
    """The study as a text table: test accuracy per set and method, parameters, seconds, then the means and ranks."""
    width = max([len("mean"), *(len(row["set"]) for row in summary["sets"])])  # the longest set name fits
    lines = [f"{'set':<{width}} {'ours':>6} {'MiniRocket':>10} {'published':>9} {'ELM':>6} {'params':>8} "
             f"{'search s':>8} {'ours s':>7} {'MR s':>6}  architecture"]
    for row in summary["sets"]:
        published = row["published_minirocket"]
        lines.append(f"{row['set']:<{width}} {row['ours']['test_acc']:>6.3f} {row['minirocket']['test_acc']:>10.3f} "
                     f"{'-' if published is None else f'{published:.3f}':>9} {row['elm']['test_acc']:>6.3f} "
                     f"{row['ours']['params']:>8,} {_seconds(row['ours'].get('search_s')):>8} "
                     f"{row['ours']['seconds']:>7.0f} {row['minirocket']['seconds']:>6.0f}"
                     f"  {row['ours']['architecture']}")
    means, ranks = summary["mean_test_acc"], summary["mean_rank"]
    lines.append(f"{'mean':<{width}} {means['ours']:>6.3f} {means['minirocket']:>10.3f} {'':>9} {means['elm']:>6.3f}")
    lines.append(f"mean rank: ours {ranks['ours']:.2f}, MiniRocket {ranks['minirocket']:.2f}, ELM {ranks['elm']:.2f}; "
                 f"ours above the ELM on {summary['sets_ours_above_elm']} of {len(summary['sets'])} sets")
    if "refit" in summary:
        lines += ["", "refit on the whole training split, test accuracy (mean over seeds; ensemble: its members' "
                      "logits averaged, its size their sum; seed ens: the winner's trainings with several seeds, "
                      "averaged):",
                  f"{'set':<{width}} {'series':>6} {'ours':>6} {'MiniRocket':>10} {'ensemble':>8} {'ens params':>10} "
                  f"{'seed ens':>8} {'params':>10}  ours per seed"]
        for row in summary["sets"]:
            if "refit" in row:
                refit = row["refit"]
                lines.append(f"{row['set']:<{width}} {refit['train_series']:>6} {refit['ours']['test_acc']:>6.3f} "
                             f"{refit['minirocket']['test_acc']:>10.3f} {_ensemble_columns(refit.get('ensemble'))} "
                             f"{_ensemble_columns(refit.get('seed_ensemble'))}  "
                             + " ".join(f"{value:.3f}" for value in refit["ours"]["per_seed"]))
        means = summary["refit"]["mean_test_acc"]
        ensemble, seed_ensemble = (f"{means[method]:.3f}" if method in means else "-"
                                   for method in ("ensemble", "seed_ensemble"))
        lines.append(f"{'mean':<{width}} {'':>6} {means['ours']:>6.3f} {means['minirocket']:>10.3f} "
                     f"{ensemble:>8} {'':>10} {seed_ensemble:>8} {'':>10}  "
                     f"({summary['refit']['sets']} of {len(summary['sets'])} sets)")
    return "\n".join(lines)
