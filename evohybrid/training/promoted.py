"""The promoted-run layout, one home for promote, export, report and prune: where each promoted model lives, what its
metrics say, the summary over all of them, which evaluations to promote, and how proxy and full accuracy agree.

`RUN/promoted/` holds `<id>/` per promoted model (genome.json, model.pt, metrics.json, curve.csv, and `lottery/`
once pruned), `summary.csv` over all of them, `promotions.json` (what each `evohybrid promote` asked for),
`trials/<promotion>/id-<id>-lr-<lr>/` (each trial's newest epoch checkpoint: what a resumed promotion continues from
and what the results are read from) and `tune/` (Ray Tune's logs and state, written by Tune and never read back: its
state is a pickle, which a shared run folder must not make us load).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path
from typing import Any

from ..errors import EvohybridError
from ..evolution.pareto import knee_point, ok_records, pareto_front
from ..evolution.store import RunStore, write_json_atomic
from ..rank_stats import kendall_tau
from ..spaces.builder import build_model, count_flops
from ..spaces.genome import Genome
from .trainer import TrainingData

PROMOTED_DIR = "promoted"
LEDGER_FILE = "promotions.json"
SUMMARY_FILE = "summary.csv"
METRICS_FILE = "metrics.json"
TRIALS_DIR = "trials"
TUNE_DIR = "tune"
SUMMARY_FIELDS = ("id", "architecture", "proxy_val_acc", "val_acc", "test_acc", "params", "train_s", "epochs", "lr",
                  "resolution")


class PromotionError(EvohybridError):
    """What to promote is unclear, unknown, not promoted yet, or an earlier promotion is unfinished."""


def promoted_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / PROMOTED_DIR


def model_dir(run_dir: str | Path, eval_id: int) -> Path:
    """The folder of one promoted model (complete once its metrics.json exists)."""
    return promoted_dir(run_dir) / str(eval_id)


def trials_dir(run_dir: str | Path, promotion: str) -> Path:
    """The folder of one promotion's trials (its name in the ledger, e.g. `promote-1`)."""
    return promoted_dir(run_dir) / TRIALS_DIR / promotion


def trial_name(eval_id: int, lr: float) -> str:
    """A trial's folder name: its architecture and learning rate (repr: two learning rates never share a name)."""
    return f"id-{eval_id}-lr-{float(lr)!r}"


def promoted_model(run_dir: str | Path, eval_id: int) -> tuple[Path, dict[str, Any]]:
    """The folder and metrics of a promoted model of the run; a one-line error naming the command that makes it."""
    store = RunStore.open(run_dir)
    if not any(record.get("id") == eval_id for record in store.records()):
        raise PromotionError(f"'{run_dir}' has no evaluation with id {eval_id}: see 'evohybrid pareto {run_dir}'")
    folder = model_dir(store.path, eval_id)
    if not (folder / "model.pt").is_file() or not (folder / METRICS_FILE).is_file():
        raise PromotionError(f"evaluation {eval_id} has no trained weights yet: run 'evohybrid promote {run_dir} "
                             f"--ids {eval_id}' first")
    return folder, json.loads((folder / METRICS_FILE).read_text())


def input_description(data: TrainingData) -> dict[str, Any]:
    """What a model's input needs, as metrics and exports record it: the data set, its shape and normalisation."""
    split = data.split
    return {"dataset": data.dataset, "in_channels": split.input_shape[0], "num_classes": split.num_classes,
            "resolution": split.input_shape[-1], "mean": split.mean.tolist(), "std": split.std.tolist()}


def write_model(folder: Path, record: dict[str, Any], weights: Path, curve: list[dict[str, Any]],
                metrics: dict[str, Any], data: TrainingData) -> None:
    """The outputs of one promoted model: its genome, weights, learning curve and metrics (the search's record
    joined with `metrics` and the input description; FLOPs at the resolution trained at, not the search's)."""
    folder.mkdir(parents=True, exist_ok=True)
    genome = Genome.from_dict(record["genome"])
    (folder / "genome.json").write_text(genome.to_json() + "\n")
    shutil.copyfile(weights, folder / "model.pt")
    with open(folder / "curve.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ("epoch", "train_loss", "val_acc"))
        writer.writeheader()
        writer.writerows(curve)
    metrics = {"id": record["id"], "hash": genome.hash, "architecture": genome.describe(),
               "proxy_val_acc": record["val_acc"], "params": record["params"],
               "flops": count_flops(build_model(genome, in_channels=data.split.input_shape[0],
                                                num_classes=data.split.num_classes), data.split.input_shape),
               **metrics, "resolution": data.split.input_shape[-1], "input": input_description(data)}
    # metrics.json comes last and atomically: a folder with it holds a complete model.
    write_json_atomic(folder / METRICS_FILE, metrics)


def select_records(records: list[dict[str, Any]], run_dir: Path, *, ids: list[int] | None = None,
                   top: int | None = None, front: bool = False, knee: bool = False,
                   chance: float | None = None, max_params: int | None = None) -> list[dict[str, Any]]:
    """The `ok` evaluations chosen by exactly one of: their `ids`, the `top` by validation accuracy, the `front`, the
    `knee` of the front (computed over its members above `chance`, the run's chance level, which `knee` needs). With
    `max_params`, the top, front and knee are those of the evaluations of at most that many parameters."""
    if sum((ids is not None, top is not None, front, knee)) != 1:
        raise PromotionError("choose what to promote with exactly one of --top K, --ids A,B, --front or --knee")
    ok = ok_records(records)
    if not ok:
        raise PromotionError(f"'{run_dir}' has no successful evaluation to promote: run or resume its search first")
    if max_params is not None:
        if ids is not None:
            raise PromotionError("--max-params limits the choice of --top, --front or --knee: with --ids, drop it")
        ok = _at_most(ok, run_dir, max_params)
    if top is not None:
        if top < 1:
            raise PromotionError(f"--top must be at least 1, got {top}")
        return sorted(ok, key=lambda record: (-record["val_acc"], record["params"], record["id"]))[:top]
    if front:
        return pareto_front(ok)
    if knee:
        return [_knee(ok, run_dir, chance)]
    by_id = {record.get("id"): record for record in records}
    for eval_id in ids:
        if eval_id not in by_id:
            raise PromotionError(f"'{run_dir}' has no evaluation with id {eval_id}: see 'evohybrid pareto {run_dir}'")
        if by_id[eval_id].get("status") != "ok":
            raise PromotionError(f"evaluation {eval_id} of '{run_dir}' has status '{by_id[eval_id].get('status')}': "
                                 "promote evaluations whose status is ok")
    return [by_id[eval_id] for eval_id in dict.fromkeys(ids)]


def _at_most(ok: list[dict[str, Any]], run_dir: Path, max_params: int) -> list[dict[str, Any]]:
    """The evaluations of at most `max_params` parameters, or a PromotionError that says what to change."""
    kept = [record for record in ok if record["params"] <= max_params]
    if not kept:
        raise PromotionError(f"'{run_dir}' has no successful evaluation of at most {max_params:,} parameters (the "
                             f"smallest has {min(record['params'] for record in ok):,}): raise --max-params")
    return kept


def _knee(records: list[dict[str, Any]], run_dir: Path, chance: float) -> dict[str, Any]:
    """The knee of the run's front, or a PromotionError that says what to choose instead."""
    point = knee_point(pareto_front(records), chance)
    if point is None:
        raise PromotionError(f"'{run_dir}' has no knee: its front needs three members above chance ({chance:.4f}) "
                             f"that bend toward small and accurate; choose with --top 1 or --ids instead (see "
                             f"'evohybrid pareto {run_dir}')")
    return point


def read_promoted(run_dir: str | Path) -> list[dict[str, Any]]:
    """The metrics of every model promoted in the run, by id."""
    rows = [json.loads(path.read_text()) for path in promoted_dir(run_dir).glob(f"*/{METRICS_FILE}")]
    for row in rows:
        row.setdefault("resolution", row["input"]["resolution"])  # metrics written before it had its own field
    return sorted(rows, key=lambda row: row["id"])


def write_summary(run_dir: str | Path, rows: list[dict[str, Any]]) -> None:
    with open(promoted_dir(run_dir) / SUMMARY_FILE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read_ledger(run_dir: str | Path) -> list[dict[str, Any]]:
    path = promoted_dir(run_dir) / LEDGER_FILE
    return json.loads(path.read_text()) if path.exists() else []


def write_ledger(run_dir: str | Path, ledger: list[dict[str, Any]]) -> None:
    write_json_atomic(promoted_dir(run_dir) / LEDGER_FILE, ledger)


def proxy_full_tau(rows: list[dict[str, Any]]) -> float | None:
    """Kendall tau between proxy and full validation accuracy; None for fewer than two models or constant values."""
    if len(rows) < 2:
        return None
    tau = kendall_tau([row["proxy_val_acc"] for row in rows], [row["val_acc"] for row in rows])
    return None if math.isnan(tau) else tau


def format_promoted(rows: list[dict[str, Any]], tau: float | None) -> str:
    """The promoted models as a text table (res: the image size each was trained at), then the Kendall tau line."""
    lines = [f"{'id':>5}  {'proxy_acc':>9}  {'val_acc':>8}  {'test_acc':>8}  {'params':>10}  {'res':>3}  "
             f"{'train_s':>8}  {'lr':>6}  architecture"]
    for row in rows:
        lines.append(f"{row['id']:>5}  {row['proxy_val_acc']:>9.4f}  {row['val_acc']:>8.4f}  {row['test_acc']:>8.4f}  "
                     f"{row['params']:>10,}  {row['resolution']:>3}  {row['train_s']:>8.1f}  {row['lr']:>6g}  "
                     f"{row['architecture']}")
    tau_text = f"{tau:.3f}" if tau is not None else "n/a"
    lines.append(f"Kendall tau (proxy vs full validation accuracy, {len(rows)} models): {tau_text}")
    return "\n".join(lines)
