"""Promotion: train chosen architectures fully (every weight) with Ray Tune, one trial per architecture and learning
rate, checkpointed every epoch and resumable. The test split is used here and only here, once per trial. Where the
outputs go is `promoted.py`'s business.

Each trial keeps its state in a folder of ours, `RUN/promoted/trials/<promotion>/id-<id>-lr-<lr>/`: its newest epoch
checkpoint (`checkpoints.py`: tensors loaded weights-only, progress in JSON). A trial that Tune restarts after a crash
continues from there, and `--resume` runs a fresh Tune experiment over the trials not finished. Tune's own state under
`RUN/promoted/tune/` is never restored: it is a pickle, and a run folder someone shared must not run their code here.
Trials on other nodes of a cluster write into the run folder too, so it must be shared with the driver (e.g. NFS),
as Tune's local storage path already requires.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from ..config import config_from_dict
from ..distributed.ray_runtime import HEARTBEAT_S, check_ray_alive, connect_ray, import_ray
from ..errors import ExecutorLost
from ..evolution.store import RunStore
from ..evolution.pareto import run_chance
from ..spaces.genome import Genome
from .checkpoints import latest_checkpoint, read_progress, resume_training, save_checkpoint
from .promoted import (METRICS_FILE, TUNE_DIR, PromotionError, model_dir, promoted_dir, proxy_full_tau, read_ledger,
                       read_promoted, select_records, trial_name, trials_dir, write_ledger, write_model,
                       write_summary)
from .trainer import NATIVE, Training, TrainingData, check_shift, training_data

# Tune logs a failed trial's traceback and a stopped experiment's trials; the failures' lines and the stop's say it.
TUNE_LOGGERS = ("ray.tune", "ray.air", "ray.train")
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
    shift: float = 0.0  # series: each training series shifted by up to this fraction of its length (0: none)
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


def train_trial(config: dict[str, Any], *, root: str, data: TrainingData, genomes: dict[int, dict[str, Any]],
                threads: int) -> None:
    """A Tune function trainable: train one genome at one learning rate, checkpoint it into its folder under `root`
    and report to Tune every epoch, and continue from that folder's newest checkpoint when there is one (a restart
    after a crash, or a resumed promotion)."""
    from ray import tune

    torch.set_num_threads(threads)
    trial = config["trial"]
    folder = Path(root) / trial_name(trial["id"], trial["lr"])
    folder.mkdir(parents=True, exist_ok=True)
    training = Training(Genome.from_dict(genomes[trial["id"]]), data, epochs=config["epochs"], lr=trial["lr"],
                        batch_size=config["batch_size"], label_smoothing=config["label_smoothing"],
                        shift=config["shift"])
    progress = resume_training(folder, training) or {"epoch": 0, "train_s": 0.0, "curve": [], "test_acc": None}
    # The epoch each run of the trial began at: more than one means it continued (after a crash, a stop, a dead Ray).
    progress.setdefault("starts", []).append(training.epoch)
    clock = {"start": time.perf_counter()}

    def report(training: Training, loss: float) -> None:
        progress["train_s"] += time.perf_counter() - clock["start"]
        val_acc = training.val_accuracy()
        progress["epoch"] = training.epoch
        progress["curve"].append({"epoch": training.epoch, "train_loss": loss, "val_acc": val_acc})
        if training.epoch == training.epochs:
            progress["test_acc"] = training.test_accuracy()
        save_checkpoint(folder, training, progress)
        tune.report({"epoch": training.epoch, "train_loss": loss, "val_acc": val_acc, "test_acc": progress["test_acc"]})
        clock["start"] = time.perf_counter()  # the time to evaluate and checkpoint is not training time

    training.run(report)


def _new_request(ledger: list[dict[str, Any]], ids: list[int], options: PromoteOptions,
                 run_dir: str | Path) -> dict[str, Any]:
    if ledger and not ledger[-1]["finished"]:
        raise PromotionError(f"promotion '{ledger[-1]['name']}' (ids {ledger[-1]['ids']}) is unfinished: continue it "
                             f"with 'evohybrid promote {run_dir} --resume'")
    return {"name": f"promote-{len(ledger) + 1}", "ids": ids, "lrs": list(options.lrs), "epochs": options.epochs,
            "batch_size": options.batch_size, "resolution": options.resolution, "train_size": options.train_size,
            "label_smoothing": options.label_smoothing, "shift": options.shift, "finished": False}


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


def _trials(run_dir: Path, request: dict[str, Any], root: Path) -> list[tuple[int, float]]:
    """The request's trials as (id, learning rate), less those of ids whose outputs an earlier evohybrid wrote from
    Tune's checkpoints (outputs and no trial folder): their outputs stay as they are."""
    kept = {eval_id for eval_id in request["ids"] if (model_dir(run_dir, eval_id) / METRICS_FILE).exists()
            and not any((root / trial_name(eval_id, lr)).exists() for lr in request["lrs"])}
    return [(eval_id, lr) for eval_id in request["ids"] if eval_id not in kept for lr in request["lrs"]]


def _finished_checkpoint(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """A finished trial's last checkpoint and its progress; None for a trial not finished or not started."""
    checkpoint = latest_checkpoint(folder)
    if checkpoint is None:
        return None
    progress = read_progress(checkpoint)
    return (checkpoint, progress) if progress["test_acc"] is not None else None


def _experiment_name(storage: Path, promotion: str) -> str:
    """A Tune experiment name not used before: the promotion's, then `-resume-<k>` for each resumed run of it."""
    names = itertools.chain([promotion], (f"{promotion}-resume-{k}" for k in itertools.count(1)))
    return next(name for name in names if not (storage / name).exists())


def _fit(request: dict[str, Any], pending: list[tuple[int, float]], root: Path, storage: Path, data: TrainingData,
         genomes: dict[int, dict[str, Any]], max_failures: int) -> Any:
    """A fresh Tune experiment over the `pending` trials of the request on the connected Ray; its ResultGrid."""
    from ray import tune

    # A resumed trial keeps the resources it was created with, so they come from the request, never from flags.
    threads = max(1, int(request["cpus_per_trial"]))
    trainable = tune.with_resources(
        tune.with_parameters(train_trial, root=str(root), data=data, genomes=genomes, threads=threads),
        {"cpu": request["cpus_per_trial"], "gpu": request["gpus_per_trial"]})
    run_config = tune.RunConfig(name=_experiment_name(storage, request["name"]), storage_path=str(storage), verbose=0,
                                failure_config=tune.FailureConfig(max_failures=max_failures))
    param_space = {"trial": tune.grid_search([{"id": eval_id, "lr": lr} for eval_id, lr in pending]),
                   "epochs": request["epochs"], "batch_size": request["batch_size"],
                   "label_smoothing": request.get("label_smoothing", 0.0), "shift": request.get("shift", 0.0)}
    with _quiet(TUNE_LOGGERS):
        return tune.Tuner(trainable, param_space=param_space, run_config=run_config).fit()


@contextlib.contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    """Only critical records from these loggers while the block runs: what they say, we say in one line."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _watching(ray: Any, started: bool, lost: list[ExecutorLost]) -> Iterator[None]:
    """While the block runs, check every HEARTBEAT_S that Ray is alive (Tune would wait forever on a dead one); on
    loss, append it to `lost` and interrupt the main thread: the first interrupt ends Tune's loop as Ctrl-C does, a
    later one raises KeyboardInterrupt in a Tune that does not return. Only the main thread can be interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    done, lock, main = threading.Event(), threading.Lock(), threading.main_thread().ident

    def watch() -> None:
        while not done.wait(HEARTBEAT_S):
            if not lost:
                try:
                    check_ray_alive(ray, started)
                    continue
                except ExecutorLost as error:
                    lost.append(error)
            with lock:  # never after the block: an interrupt there would hit whatever runs next
                if not done.is_set():
                    # A real SIGINT, not interrupt_main's flag: it also wakes a main thread blocked in Ray's C++.
                    signal.pthread_kill(main, signal.SIGINT)

    saved = signal.getsignal(signal.SIGINT)
    if not callable(saved):  # ignored (a background job) or default (a SIGINT would kill the process)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    thread = threading.Thread(target=watch, name="evohybrid-ray-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with lock:
            done.set()
        try:
            thread.join()
        finally:
            if saved is not None:  # Tune leaves its handler behind, which would swallow the next Ctrl-C
                signal.signal(signal.SIGINT, saved)


def _fit_watched(ray: Any, started: bool, lost: list[ExecutorLost], *fit_args: Any) -> dict[tuple[int, float], str]:
    """`_fit` while `_watching` Ray: the failed trials' lines, or none when Ray was lost (appended to `lost`)."""
    try:
        with _watching(ray, started, lost):
            return _trial_errors(_fit(*fit_args))
    except KeyboardInterrupt:
        if not lost:
            raise
        return {}


def _trial_errors(results: Any) -> dict[tuple[int, float], str]:
    """One line per trial that Tune gave up on, by (id, learning rate)."""
    errors = {}
    for result in results:
        if result.error is not None:
            trial = result.config["trial"]
            # Ray wraps the trial's exception; its last line is the exception itself.
            message = (str(result.error).strip().splitlines() or [type(result.error).__name__])[-1][:200]
            errors[trial["id"], trial["lr"]] = (f"trial for id {trial['id']} at lr {trial['lr']:g} failed: {message} "
                                                f"(details in {result.path})")
    return errors


def _finished_trials(trials: list[tuple[int, float]], root: Path, errors: dict[tuple[int, float], str],
                     failures: list[str]) -> tuple[dict[int, list[tuple[float, dict, Path]]], bool]:
    """The finished `trials` grouped by id as (lr, progress, checkpoint folder), read from their folders under `root`;
    whether any trial was left unfinished without failing (stopped, or its Ray lost)."""
    finished: dict[int, list[tuple[float, dict, Path]]] = {}
    unfinished = False
    for eval_id, lr in trials:
        done = _finished_checkpoint(root / trial_name(eval_id, lr))
        if done is not None:
            finished.setdefault(eval_id, []).append((lr, done[1], done[0]))
        elif (eval_id, lr) in errors:
            failures.append(errors[eval_id, lr])
        else:
            unfinished = True
    return finished, unfinished


def _write_model(folder: Path, record: dict[str, Any], trials: list[tuple[float, dict, Path]], request: dict[str, Any],
                 data: TrainingData) -> None:
    """The outputs of one promoted model: the trial with the best full validation accuracy among its learning rates."""
    lr, progress, checkpoint = max(trials, key=lambda trial: trial[1]["curve"][-1]["val_acc"])
    metrics = {"val_acc": progress["curve"][-1]["val_acc"], "test_acc": progress["test_acc"],
               "train_s": progress["train_s"], "epochs": request["epochs"], "lr": lr,
               "batch_size": request["batch_size"], "train_size": request.get("train_size"),
               "label_smoothing": request.get("label_smoothing", 0.0), "shift": request.get("shift", 0.0),
               "lr_grid": [{"lr": trial_lr, "val_acc": trial_progress["curve"][-1]["val_acc"]}
                           for trial_lr, trial_progress, _ in sorted(trials, key=lambda trial: trial[0])]}
    write_model(folder, record, checkpoint / "model.pt", progress["curve"], metrics, data)


def promote(run_dir: str | Path, *, ids: list[int] | None = None, top: int | None = None, front: bool = False,
            knee: bool = False, resume: bool = False, options: PromoteOptions = PromoteOptions(),
            max_params: int | None = None) -> PromotionResult:
    """Train the chosen evaluations of a search run fully with Ray Tune and write `RUN/promoted/`. With `max_params`,
    the top, front or knee are chosen among the evaluations of at most that many parameters.

    Ids promoted before are skipped. `resume=True` continues the run's latest promotion instead (finished trials are
    not trained again, interrupted ones continue from their last epoch, failed ones are retried), from its ledger and
    trial folders alone. ExecutorLost when the Ray it trains on dies: what finished is written first.
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
        check_shift(options.shift, store.read_config()["config"]["data"]["dataset"])
        chosen = [record["id"] for record in select_records(records, Path(run_dir), ids=ids, top=top, front=front,
                                                            knee=knee, chance=run_chance(store),
                                                            max_params=max_params)]
        result.skipped = [eval_id for eval_id in chosen if (model_dir(run_path, eval_id) / METRICS_FILE).exists()]
        request = _new_request(ledger, [eval_id for eval_id in chosen if eval_id not in result.skipped], options,
                               run_dir)
    lost: list[ExecutorLost] = []
    if request["ids"]:
        by_id = {record.get("id"): record for record in records}
        # Promotions from before these options existed trained at the search's resolution on every image (None).
        data = training_data(config_from_dict(store.read_config()["config"]), resolution=request.get("resolution"),
                             train_size=request.get("train_size"))
        root = trials_dir(run_path, request["name"])
        if not resume:
            shutil.rmtree(root, ignore_errors=True)  # left under this name by a deleted ledger: not this request's
        trials = _trials(run_path, request, root)
        pending = [trial for trial in trials if _finished_checkpoint(root / trial_name(*trial)) is None]
        if pending and resume and not root.exists() and (folder / TUNE_DIR / request["name"]).exists():
            warnings.warn(f"promotion '{request['name']}' was started by an evohybrid that kept its checkpoints in "
                          "Ray Tune's state, a pickle, which is not loaded: its unfinished trials train again from "
                          "the first epoch", stacklevel=2)
        errors: dict[tuple[int, float], str] = {}
        if pending:
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
                errors = _fit_watched(ray, started, lost, request, pending, root, folder / TUNE_DIR, data,
                                      {i: by_id[i]["genome"] for i in request["ids"]}, options.max_failures)
            finally:
                if started:
                    ray.shutdown()
        finished, result.interrupted = _finished_trials(trials, root, errors, result.failures)
        for eval_id, by_lr in finished.items():
            _write_model(model_dir(run_path, eval_id), by_id[eval_id], by_lr, request, data)
        result.written = sorted(finished)
        if not result.interrupted:
            request["finished"] = True
            write_ledger(run_path, ledger)
    result.rows = read_promoted(run_path)
    result.tau = proxy_full_tau(result.rows)
    if result.rows:
        write_summary(run_path, result.rows)
    if lost:  # a fault, not a stop: the CLI says so and exits 1
        raise ExecutorLost(f"{lost[0]}: every finished epoch is saved; resume with 'evohybrid promote {run_dir} "
                           "--resume'")
    return result
