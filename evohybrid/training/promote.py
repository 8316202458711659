"""Promotion: train chosen architectures fully (every weight) with Ray Tune, one trial per architecture and learning
rate, checkpointed every epoch and resumable. The test split is used here and only here, once per trial. Where the
outputs go is `promoted.py`'s business; Tune keeps its experiments under `RUN/promoted/tune/`, which `--resume`
restores.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import config_from_dict
from ..distributed.ray_runtime import connect_ray, import_ray
from ..evolution.store import RunStore
from ..inspection.pareto import run_chance
from ..spaces.genome import Genome
from .promoted import (LEDGER_FILE, METRICS_FILE, PromotionError, kendall_tau, model_dir, promoted_dir, read_ledger,
                       read_promoted, select_records, write_ledger, write_model, write_summary)
from .trainer import NATIVE, Training, TrainingData, training_data

PROGRESS_FILE = "progress.json"  # a trial checkpoint's epoch, training seconds, curve and test accuracy
# Tune without network, tensorboard/wandb loggers or its new console output: quiet, and nothing to install.
TUNE_ENV = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass(frozen=True)
class PromoteOptions:
    """The training recipe and the resources of a promotion; a resumed one keeps its own and uses only `address`."""

    epochs: int = 15  # at 28 px, 15 epochs beat 10 by 0.35 points on a 54k-parameter winner (README)
    batch_size: int = 128
    resolution: int | str = NATIVE  # image size in pixels, or the data set's own: the size users deploy at
    train_size: int | None = None  # training images; None: all but the search's validation slice
    label_smoothing: float = 0.0
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
                        batch_size=trial["batch_size"], label_smoothing=trial.get("label_smoothing", 0.0))
    progress: dict[str, Any] = {"epoch": 0, "train_s": 0.0, "curve": [], "test_acc": None}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            training.load(Path(folder))
            progress = json.loads((Path(folder) / PROGRESS_FILE).read_text())
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


def _new_request(ledger: list[dict[str, Any]], ids: list[int], options: PromoteOptions,
                 run_dir: str | Path) -> dict[str, Any]:
    if ledger and not ledger[-1]["finished"]:
        raise PromotionError(f"promotion '{ledger[-1]['name']}' (ids {ledger[-1]['ids']}) is unfinished: continue it "
                             f"with 'evohybrid promote {run_dir} --resume'")
    return {"name": f"promote-{len(ledger) + 1}", "ids": ids, "lrs": list(options.lrs), "epochs": options.epochs,
            "batch_size": options.batch_size, "resolution": options.resolution, "train_size": options.train_size,
            "label_smoothing": options.label_smoothing, "finished": False}


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
                   "epochs": request["epochs"], "batch_size": request["batch_size"],
                   "label_smoothing": request.get("label_smoothing", 0.0)}
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
    metrics = {"val_acc": progress["curve"][-1]["val_acc"], "test_acc": progress["test_acc"],
               "train_s": progress["train_s"], "epochs": request["epochs"], "lr": lr,
               "batch_size": request["batch_size"], "train_size": request.get("train_size"),
               "label_smoothing": request.get("label_smoothing", 0.0),
               "lr_grid": [{"lr": trial_lr, "val_acc": trial_progress["curve"][-1]["val_acc"]}
                           for trial_lr, trial_progress, _ in sorted(trials, key=lambda trial: trial[0])]}
    write_model(folder, record, checkpoint / "model.pt", progress["curve"], metrics, data)


def promote(run_dir: str | Path, *, ids: list[int] | None = None, top: int | None = None, front: bool = False,
            knee: bool = False, resume: bool = False, options: PromoteOptions = PromoteOptions()) -> PromotionResult:
    """Train the chosen evaluations of a search run fully with Ray Tune and write `RUN/promoted/`.

    Ids promoted before are skipped. `resume=True` restores the run's latest promotion instead (finished trials are
    not trained again, interrupted ones continue from their last epoch, failed ones are retried).
    """
    store = RunStore.open(run_dir)
    run_path = store.path.resolve()
    folder = promoted_dir(run_path)
    ledger = read_ledger(run_path)
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
        result.skipped = [eval_id for eval_id in chosen if (model_dir(run_path, eval_id) / METRICS_FILE).exists()]
        request = _new_request(ledger, [eval_id for eval_id in chosen if eval_id not in result.skipped], options,
                               run_dir)
    if request["ids"]:
        by_id = {record.get("id"): record for record in records}
        # Promotions from before these options existed trained at the search's resolution on every image (None).
        data = training_data(config_from_dict(store.read_config()["config"]), resolution=request.get("resolution"),
                             train_size=request.get("train_size"))
        for name, value in TUNE_ENV.items():
            os.environ.setdefault(name, value)
        ray = import_ray(options.address)
        started = connect_ray(options.address)
        try:
            if not resume:
                request.update(_trial_resources(ray, options))
                folder.mkdir(exist_ok=True)
                ledger.append(request)
                write_ledger(run_path, ledger)
            results = _fit(request, folder / "tune", data, {i: by_id[i]["genome"] for i in request["ids"]},
                           options.max_failures, resume)
        finally:
            if started:
                ray.shutdown()
        finished, result.interrupted = _finished_trials(results, result.failures)
        for eval_id, trials in finished.items():
            _write_model(model_dir(run_path, eval_id), by_id[eval_id], trials, request, data)
        result.written = sorted(finished)
        if not result.interrupted:
            request["finished"] = True
            write_ledger(run_path, ledger)
    result.rows = read_promoted(run_path)
    result.tau = kendall_tau(result.rows)
    if result.rows:
        write_summary(run_path, result.rows)
    return result
