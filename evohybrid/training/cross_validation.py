"""Choice by cross-validation: the top K of a search by fitness, each trained with the promotion recipe on k-1
stratified folds of the whole training split and validated on the k-th (the test split is never read); the winner
is the best mean over folds. On a validation slice of a few dozen series the fitness's first places are often one
series apart: k folds judge every training series once.

`RUN/cross_validation/` holds `settings.json` (what the folds and trainings are), `folds.jsonl` (one line per
finished (id, fold): a stopped run loses only the trainings in flight, and the same command continues it) and
`summary.json` (each id's mean, spread and folds, the winner).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ..config import config_from_dict
from ..data import fold_splits
from ..distributed.job_pool import PoolOptions, run_jobs
from ..evolution.store import KeptRows, RunStore, write_json_atomic
from ..spaces.genome import Genome
from .promoted import PromotionError, select_records
from .trainer import Training, TrainingData, check_shift, training_data

CV_DIR = "cross_validation"
SETTINGS_FILE, FOLDS_FILE, SUMMARY_FILE = "settings.json", "folds.jsonl", "summary.json"


@dataclass(frozen=True)
class CrossValidationSettings:
    """The top `top` by fitness, `folds` folds, and the promotion recipe each fold trains with."""

    top: int = 5
    folds: int = 5
    epochs: int = 15
    lr: float = 0.1
    batch_size: int = 128
    train_size: int | None = None  # None: every training example; a number keeps that many (and the search's slice)
    resolution: int | str | None = None  # None: the search's; "native": the data set's own length or size
    max_params: int | None = None  # the top among evaluations of at most this many parameters (None: any size)
    shift: float = 0.0  # series: each training series shifted by up to this fraction of its length (0: none)

    def check(self) -> None:
        if self.top < 2:
            raise PromotionError(f"--top must be at least 2 to choose between architectures, got {self.top}")
        if self.folds < 2:
            raise PromotionError(f"--folds must be at least 2, got {self.folds}")


def fold_data(config: dict[str, Any], settings: dict[str, Any]) -> list[TrainingData]:
    """The data of each fold: the search's training and validation slices (the first `train_size` of the former, at
    `resolution`) divided into stratified folds, each trained on the others and validated on itself; the test split
    is carried along, never read."""
    data = training_data(config_from_dict(config), train_size=settings["train_size"], resolution=settings["resolution"])
    return [replace(data, split=split)
            for split in fold_splits(data.split, settings["folds"], config["seed"], setting="--folds")]


def _setup(config: dict[str, Any], settings: dict[str, Any]) -> tuple[list[TrainingData], dict[str, Any]]:
    """Each worker's context: the data of every fold, built once."""
    return fold_data(config, settings), settings


def _train_fold(context: tuple[list[TrainingData], dict[str, Any]], job: tuple[int, dict[str, Any], int]) -> float:
    """Validation accuracy of one architecture trained on all folds but one."""
    data, settings = context
    _eval_id, genome, fold = job
    training = Training(Genome.from_dict(genome), data[fold], epochs=settings["epochs"], lr=settings["lr"],
                        batch_size=settings["batch_size"], shift=settings["shift"])
    try:
        training.run()
    except FloatingPointError:
        return 0.0  # diverged: as good as a guess would be, and never the winner
    value = training.val_accuracy()
    return value if math.isfinite(value) else 0.0


def cross_validate(run_dir: str | Path, settings: CrossValidationSettings = CrossValidationSettings(),
                   pool: PoolOptions = PoolOptions(), log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Cross-validate the run's top evaluations; write and return the summary (each id's folds, mean and spread, and
    the winner: the best mean, then the smaller network). `log` hears of each training as it finishes."""
    settings.check()
    store = RunStore.open(run_dir)
    config = store.read_config()["config"]
    check_shift(settings.shift, config["data"]["dataset"])
    records = select_records(store.records(), Path(run_dir), top=settings.top, max_params=settings.max_params)
    if len(records) < 2:
        within, fix = ((f" of at most {settings.max_params:,} parameters", "raise --max-params")
                       if settings.max_params else ("", "resume its search"))
        raise PromotionError(f"'{run_dir}' has one successful evaluation{within}, and cross-validation chooses "
                             f"between at least two: {fix}")
    folder = store.path / CV_DIR
    wanted = {"settings": asdict(settings), "ids": [record["id"] for record in records]}
    written = folder / SETTINGS_FILE
    stored = _stored(written) if written.exists() else wanted
    if stored != wanted:
        raise PromotionError(f"'{folder}' holds a cross-validation with other settings ({stored['settings']}): "
                             "delete it to start another")
    fold_data(config, asdict(settings))  # a class smaller than the folds is refused before anything is written
    folder.mkdir(exist_ok=True)
    write_json_atomic(written, wanted)
    done = KeptRows(folder / FOLDS_FILE, ("id", "fold"))
    jobs = [(record["id"], record["genome"], fold) for record in records for fold in range(settings.folds)
            if (record["id"], fold) not in done]
    for (eval_id, _genome, fold), value, seconds in run_jobs(jobs, _setup, (config, asdict(settings)), _train_fold,
                                                              pool):
        done.keep({"id": eval_id, "fold": fold, "val_acc": value, "train_s": seconds})
        log(f"cross-validation: {len(done)} of {len(records) * settings.folds} trainings (id {eval_id}, fold "
            f"{fold + 1}: {value:.3f}, {seconds:.0f} s)")
    summary = _summary(records, done.rows, settings)
    write_json_atomic(folder / SUMMARY_FILE, summary)
    return summary


def _stored(written: Path) -> dict[str, Any]:
    """The settings and ids a cross-validation was started with, a setting added since then at its default."""
    stored = json.loads(written.read_text())
    return {**stored, "settings": {**asdict(CrossValidationSettings()), **stored["settings"]}}


def _summary(records: list[dict[str, Any]], done: dict[tuple[int, int], dict[str, Any]],
             settings: CrossValidationSettings) -> dict[str, Any]:
    rows = []
    for record in records:
        values = [done[record["id"], fold]["val_acc"] for fold in range(settings.folds)]
        rows.append({"id": record["id"], "architecture": Genome.from_dict(record["genome"]).describe(),
                     "params": record["params"], "proxy_val_acc": record["val_acc"], "folds": values,
                     "mean": statistics.fmean(values), "stdev": statistics.stdev(values)})
    return {"settings": asdict(settings), "rows": rows, "winner": ranking(rows)[0]["id"]}


def ranking(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summary's rows best first: the highest mean over folds, then the smaller network, then the earlier id."""
    return sorted(rows, key=lambda row: (-row["mean"], row["params"], row["id"]))


def format_cross_validation(summary: dict[str, Any]) -> str:
    """Each id's mean over folds (and spread) beside its fitness, the winner marked."""
    lines = [f"{'id':>5}  {'proxy_acc':>9}  {'cv_mean':>7}  {'cv_sd':>6}  {'params':>10}  architecture"]
    for row in ranking(summary["rows"]):
        mark = "  <- winner" if row["id"] == summary["winner"] else ""
        lines.append(f"{row['id']:>5}  {row['proxy_val_acc']:>9.4f}  {row['mean']:>7.4f}  {row['stdev']:>6.4f}  "
                     f"{row['params']:>10,}  {row['architecture']}{mark}")
    return "\n".join(lines)
