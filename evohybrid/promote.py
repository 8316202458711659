"""Promotion: train chosen architectures fully (every weight) with Ray Tune, one trial per architecture and learning
rate, checkpointed every epoch and resumable. The test split is used here and only here, once per trial.

Layout of `RUN/promoted/`: `<id>/` (genome.json, model.pt, metrics.json, curve.csv) per promoted model,
`summary.csv` over all of them, `promotions.json` (what each `evohybrid promote` asked for) and `tune/` (Tune's
experiments, their checkpoints and state, which `--resume` restores).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import config_from_dict
from .errors import EvohybridError
from .genome import Genome
from .pareto import knee_point, ok_records, pareto_front, run_chance
from .ray_runtime import connect_ray, import_ray
from .store import RunStore, write_json_atomic
from .training import Training, TrainingData, training_data

PROMOTED_DIR = "promoted"
LEDGER_FILE = "promotions.json"
SUMMARY_FILE = "summary.csv"
PROGRESS_FILE = "progress.json"  # a trial checkpoint's epoch, training seconds, curve and test accuracy
SUMMARY_FIELDS = ("id", "architecture", "proxy_val_acc", "val_acc", "test_acc", "params", "train_s", "epochs", "lr")
# Tune without network, tensorboard/wandb loggers or its new console output: quiet, and nothing to install.
TUNE_ENV = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_USAGE_STATS_ENABLED": "0"}


class PromotionError(EvohybridError):
    """What to promote is unclear, unknown, or an earlier promotion is unfinished."""


@dataclass(frozen=True)
class PromoteOptions:
    """The training recipe and the resources of a promotion; a resumed one keeps its own and uses only `address`."""

    epochs: int = 10
    batch_size: int = 128
    lrs: tuple[float, ...] = (0.1,)  # one trial per learning rate; the best validation accuracy is kept
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # None: 1 when the Ray cluster has a GPU, else 0
    address: str | None = None  # None starts a local Ray; "auto" or "host:port" joins a cluster
    max_failures: int = 2  # a trial that crashes restarts from its last checkpoint this many times


@dataclass
class PromotionResult:
    """What one `promote` call did, and every model promoted in the run so far."""

    run_dir: Path
    rows: list[dict[str, Any]]  # every promoted model of the run (this call's and earlier ones), by id
    tau: float | None  # Kendall tau between proxy and full validation accuracy over `rows`
    written: list[int] = field(default_factory=list)  # ids whose outputs this call wrote
    skipped: list[int] = field(default_factory=list)  # ids asked for but promoted before
    failures: list[str] = field(default_factory=list)  # one line per trial that failed for good
    interrupted: bool = False


def train_trial(trial: dict[str, Any], *, data: TrainingData, genomes: dict[int, dict[str, Any]],
                threads: int) -> None:
    """A Tune function trainable: train one genome at one learning rate, report and checkpoint every epoch,
    and continue from Tune's checkpoint when the trial is restarted or the experiment restored."""
    from ray import tune

    torch.set_num_threads(threads)
    training = Training(Genome.from_dict(genomes[trial["id"]]), data, epochs=trial["epochs"], lr=trial["lr"],
                        batch_size=trial["batch_size"])
    progress: dict[str, Any] = {"epoch": 0, "train_s": 0.0, "curve": [], "test_acc": None}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            training.load(Path(folder))
            progress = json.loads((Path(folder) / PROGRESS_FILE).read_text())
        training.epoch = progress["epoch"]
    clock = {"start": time.perf_counter()}

    def report(training: Training, loss: float) -> None:
        progress["train_s"] += time.perf_counter() - clock["start"]
        val_acc = training.val_accuracy()
        progress["epoch"] = training.epoch
        progress["curve"].append({"epoch": training.epoch, "train_loss": loss, "val_acc": val_acc})
        if training.epoch == training.epochs:
            progress["test_acc"] = training.test_accuracy()
        with tempfile.TemporaryDirectory() as folder:
            training.save(Path(folder))
            (Path(folder) / PROGRESS_FILE).write_text(json.dumps(progress))
            metrics = {"epoch": training.epoch, "train_loss": loss, "val_acc": val_acc, "test_acc": progress["test_acc"]}
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        clock["start"] = time.perf_counter()  # the time to evaluate and checkpoint is not training time

    training.run(report)


def select_records(records: list[dict[str, Any]], run_dir: Path, *, ids: list[int] | None = None,
                   top: int | None = None, front: bool = False, knee: bool = False,
                   chance: float | None = None) -> list[dict[str, Any]]:
    """The `ok` evaluations chosen by exactly one of: their `ids`, the `top` by validation accuracy, the `front`, the
    `knee` of the front (computed over its members above `chance`, the run's chance level, which `knee` needs)."""
    if sum((ids is not None, top is not None, front, knee)) != 1:
        raise PromotionError("choose what to promote with exactly one of --top K, --ids A,B, --front or --knee")
    ok = ok_records(records)
    if not ok:
        raise PromotionError(f"'{run_dir}' has no successful evaluation to promote: run or resume its search first")
    if top is not None:
        if top < 1:
            raise PromotionError(f"--top must be at least 1, got {top}")
        return sorted(ok, key=lambda record: (-record["val_acc"], record["params"], record["id"]))[:top]
    if front:
        return pareto_front(records)
    if knee:
        return [_knee(records, run_dir, chance)]
    by_id = {record.get("id"): record for record in records}
    for eval_id in ids:
        if eval_id not in by_id:
            raise PromotionError(f"'{run_dir}' has no evaluation with id {eval_id}: see 'evohybrid pareto {run_dir}'")
        if by_id[eval_id].get("status") != "ok":
            raise PromotionError(f"evaluation {eval_id} of '{run_dir}' has status '{by_id[eval_id].get('status')}': "
                                 "promote evaluations whose status is ok")
    return [by_id[eval_id] for eval_id in dict.fromkeys(ids)]


def _knee(records: list[dict[str, Any]], run_dir: Path, chance: float) -> dict[str, Any]:
    """The knee of the run's front, or a PromotionError that says what to choose instead."""
    point = knee_point(pareto_front(records), chance)
    if point is None:
        raise PromotionError(f"'{run_dir}' has no knee: its front needs three members above chance ({chance:.4f}) "
                             f"that bend toward small and accurate; choose with --top 1 or --ids instead (see "
                             f"'evohybrid pareto {run_dir}')")
    return point


def read_promoted(run_dir: Path) -> list[dict[str, Any]]:
    """The metrics of every model promoted in the run, by id."""
    folder = Path(run_dir) / PROMOTED_DIR
    rows = [json.loads(path.read_text()) for path in folder.glob("*/metrics.json")]
    return sorted(rows, key=lambda row: row["id"])


def kendall_tau(rows: list[dict[str, Any]]) -> float | None:
    """Kendall tau between proxy and full validation accuracy; None for fewer than two models or constant values."""
    from .rank_stats import kendall_tau as tau_b

    if len(rows) < 2:
        return None
    tau = tau_b([row["proxy_val_acc"] for row in rows], [row["val_acc"] for row in rows])
    return None if math.isnan(tau) else tau


def format_promoted(rows: list[dict[str, Any]], tau: float | None) -> str:
    """The promoted models as a text table, then the Kendall tau line."""
    lines = [f"{'id':>5}  {'proxy_acc':>9}  {'val_acc':>8}  {'test_acc':>8}  {'params':>10}  {'train_s':>8}  "
             f"{'lr':>6}  architecture"]
    for row in rows:
        lines.append(f"{row['id']:>5}  {row['proxy_val_acc']:>9.4f}  {row['val_acc']:>8.4f}  {row['test_acc']:>8.4f}  "
                     f"{row['params']:>10,}  {row['train_s']:>8.1f}  {row['lr']:>6g}  {row['architecture']}")
    tau_text = f"{tau:.3f}" if tau is not None else "n/a"
    lines.append(f"Kendall tau (proxy vs full validation accuracy, {len(rows)} models): {tau_text}")
    return "\n".join(lines)


def _write_summary(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    with open(run_dir / PROMOTED_DIR / SUMMARY_FILE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _read_ledger(folder: Path) -> list[dict[str, Any]]:
    path = folder / LEDGER_FILE
    return json.loads(path.read_text()) if path.exists() else []


def _new_request(ledger: list[dict[str, Any]], ids: list[int], options: PromoteOptions,
                 run_dir: str | Path) -> dict[str, Any]:
    if ledger and not ledger[-1]["finished"]:
        raise PromotionError(f"promotion '{ledger[-1]['name']}' (ids {ledger[-1]['ids']}) is unfinished: continue it "
                             f"with 'evohybrid promote {run_dir} --resume'")
    return {"name": f"promote-{len(ledger) + 1}", "ids": ids, "lrs": list(options.lrs), "epochs": options.epochs,
            "batch_size": options.batch_size, "finished": False}


def _trial_resources(ray: Any, options: PromoteOptions) -> dict[str, float]:
    """CPUs and GPUs per trial, checked against the connected cluster (a trial that cannot fit would wait forever)."""
    resources = ray.cluster_resources()
    if options.cpus_per_trial > resources.get("CPU", 0):
        raise PromotionError(f"--cpus-per-trial {options.cpus_per_trial:g} is more than the Ray cluster's "
                             f"{resources.get('CPU', 0):g} CPUs: lower it")
    gpus = options.gpus_per_trial
    if gpus is None:
        gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
    if gpus > resources.get("GPU", 0):
        raise PromotionError(f"--gpus-per-trial {gpus:g} is more than the Ray cluster's {resources.get('GPU', 0):g} "
                             "GPUs: lower it")
    return {"cpus_per_trial": options.cpus_per_trial, "gpus_per_trial": gpus}


def _fit(request: dict[str, Any], storage: Path, data: TrainingData, genomes: dict[int, dict[str, Any]],
         max_failures: int, resume: bool) -> Any:
    """Run (or restore and finish) the request's Tune experiment on the connected Ray; its ResultGrid."""
    from ray import tune

    # A restored trial keeps the resources it was created with, so they come from the request, never from flags.
    threads = max(1, int(request["cpus_per_trial"]))
    trainable = tune.with_resources(tune.with_parameters(train_trial, data=data, genomes=genomes, threads=threads),
                                    {"cpu": request["cpus_per_trial"], "gpu": request["gpus_per_trial"]})
    if resume:
        if not tune.Tuner.can_restore(storage / request["name"]):
            raise PromotionError(f"'{storage / request['name']}' holds no Tune experiment to resume: delete "
                                 f"{LEDGER_FILE} next to it and promote again")
        return tune.Tuner.restore(str(storage / request["name"]), trainable=trainable, resume_errored=True).fit()
    run_config = tune.RunConfig(name=request["name"], storage_path=str(storage), verbose=0,
                                failure_config=tune.FailureConfig(max_failures=max_failures),
                                checkpoint_config=tune.CheckpointConfig(num_to_keep=1))
    param_space = {"id": tune.grid_search(request["ids"]), "lr": tune.grid_search(request["lrs"]),
                   "epochs": request["epochs"], "batch_size": request["batch_size"]}
    return tune.Tuner(trainable, param_space=param_space, run_config=run_config).fit()


def _finished_trials(results: Any, failures: list[str]) -> tuple[dict[int, list[tuple[float, dict, Path]]], bool]:
    """Finished trials grouped by id as (lr, progress, checkpoint folder); whether any trial was left unfinished."""
    finished: dict[int, list[tuple[float, dict, Path]]] = {}
    unfinished = False
    for result in results:
        trial = result.config
        if result.error is not None:
            # Ray wraps the trial's exception; its last line is the exception itself.
            message = (str(result.error).strip().splitlines() or [type(result.error).__name__])[-1][:200]
            failures.append(f"trial for id {trial['id']} at lr {trial['lr']:g} failed: {message} "
                            f"(details in {result.path})")
            continue
        if result.checkpoint is None:
            unfinished = True
            continue
        folder = Path(result.checkpoint.path)
        progress = json.loads((folder / PROGRESS_FILE).read_text())
        if progress["test_acc"] is None:
            unfinished = True
            continue
        finished.setdefault(trial["id"], []).append((trial["lr"], progress, folder))
    return finished, unfinished


def _write_model(folder: Path, record: dict[str, Any], trials: list[tuple[float, dict, Path]], request: dict[str, Any],
                 data: TrainingData) -> None:
    """The outputs of one promoted model: the trial with the best full validation accuracy among its learning rates."""
    lr, progress, checkpoint = max(trials, key=lambda trial: trial[1]["curve"][-1]["val_acc"])
    folder.mkdir(parents=True, exist_ok=True)
    genome = Genome.from_dict(record["genome"])
    (folder / "genome.json").write_text(genome.to_json() + "\n")
    shutil.copyfile(checkpoint / "model.pt", folder / "model.pt")
    with open(folder / "curve.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ("epoch", "train_loss", "val_acc"))
        writer.writeheader()
        writer.writerows(progress["curve"])
    split = data.split
    metrics = {"id": record["id"], "hash": genome.hash, "architecture": genome.describe(),
               "proxy_val_acc": record["val_acc"], "val_acc": progress["curve"][-1]["val_acc"],
               "test_acc": progress["test_acc"], "params": record["params"], "flops": record.get("flops"),
               "train_s": progress["train_s"], "epochs": request["epochs"], "lr": lr,
               "batch_size": request["batch_size"],
               "lr_grid": [{"lr": trial_lr, "val_acc": trial_progress["curve"][-1]["val_acc"]}
                           for trial_lr, trial_progress, _ in sorted(trials, key=lambda trial: trial[0])],
               "input": {"dataset": data.dataset, "in_channels": split.image_shape[0],
                         "num_classes": split.num_classes, "resolution": split.image_shape[-1],
                         "mean": split.mean.tolist(), "std": split.std.tolist()}}
    # metrics.json comes last and atomically: a folder with it holds a complete model.
    write_json_atomic(folder / "metrics.json", metrics)


def promote(run_dir: str | Path, *, ids: list[int] | None = None, top: int | None = None, front: bool = False,
            knee: bool = False, resume: bool = False, options: PromoteOptions = PromoteOptions()) -> PromotionResult:
    """Train the chosen evaluations of a search run fully with Ray Tune and write `RUN/promoted/`.

    Ids promoted before are skipped. `resume=True` restores the run's latest promotion instead (finished trials are
    not trained again, interrupted ones continue from their last epoch, failed ones are retried).
    """
    store = RunStore.open(run_dir)
    run_path = store.path.resolve()
    folder = run_path / PROMOTED_DIR
    ledger = _read_ledger(folder)
    records = store.records()
    result = PromotionResult(run_path, [], None)
    if resume:
        if not ledger:
            raise PromotionError(f"'{run_dir}' has no promotion to resume: start one with "
                                 f"'evohybrid promote {run_dir} --top K'")
        request = ledger[-1]
    else:
        chosen = [record["id"] for record in select_records(records, Path(run_dir), ids=ids, top=top, front=front,
                                                            knee=knee, chance=run_chance(store))]
        result.skipped = [eval_id for eval_id in chosen if (folder / str(eval_id) / "metrics.json").exists()]
        request = _new_request(ledger, [eval_id for eval_id in chosen if eval_id not in result.skipped], options,
                               run_dir)
    if request["ids"]:
        by_id = {record.get("id"): record for record in records}
        data = training_data(config_from_dict(store.read_config()["config"]))
        for name, value in TUNE_ENV.items():
            os.environ.setdefault(name, value)
        ray = import_ray(options.address)
        started = connect_ray(options.address)
        try:
            if not resume:
                request.update(_trial_resources(ray, options))
                folder.mkdir(exist_ok=True)
                ledger.append(request)
                write_json_atomic(folder / LEDGER_FILE, ledger)
            results = _fit(request, folder / "tune", data, {i: by_id[i]["genome"] for i in request["ids"]},
                           options.max_failures, resume)
        finally:
            if started:
                ray.shutdown()
        finished, result.interrupted = _finished_trials(results, result.failures)
        for eval_id, trials in finished.items():
            _write_model(folder / str(eval_id), by_id[eval_id], trials, request, data)
        result.written = sorted(finished)
        if not result.interrupted:
            request["finished"] = True
            write_json_atomic(folder / LEDGER_FILE, ledger)
    result.rows = read_promoted(run_path)
    result.tau = kendall_tau(result.rows)
    if result.rows:
        _write_summary(run_path, result.rows)
    return result
