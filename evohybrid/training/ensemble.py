"""Ensembles of promoted models: their logits averaged, judged on the validation slice and the test split the members
were, and sized as the sum of their members (it is what a user would ship).

`RUN/promoted/ensembles/ensemble-<ids>/metrics.json` holds one ensemble: its members, accuracies and size. Members
must have been trained on the same data (resolution and training slice), so that their inputs agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import config_from_dict
from ..evolution.store import RunStore, write_json_atomic
from ..fitness.evaluator import accuracy
from ..spaces.builder import trained_model
from ..spaces.genome import Genome
from .promoted import METRICS_FILE, PromotionError, promoted_dir, promoted_model, select_records
from .trainer import training_data

ENSEMBLES_DIR = "ensembles"
MIN_MEMBERS = 2


class EnsembleNet(nn.Module):
    """Several networks on the same input: the mean of their logits."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)


def ensemble_dir(run_dir: str | Path, ids: list[int]) -> Path:
    """Where the ensemble of `ids` lives: one folder per set of members, whatever their order."""
    return promoted_dir(run_dir) / ENSEMBLES_DIR / ("ensemble-" + "-".join(map(str, sorted(ids))))


def ensemble_members(run_dir: str | Path, ids: list[int]) -> list[tuple[Path, dict[str, Any]]]:
    """The folder and metrics of each member, checked: at least two distinct promoted models trained on one input."""
    ids = list(dict.fromkeys(ids))
    if len(ids) < MIN_MEMBERS:
        raise PromotionError(f"an ensemble needs at least {MIN_MEMBERS} distinct promoted models, got {ids}: name more "
                             "ids, e.g. --ensemble 3")
    members = [promoted_model(run_dir, eval_id) for eval_id in ids]
    inputs = {(metrics["resolution"], metrics.get("train_size")) for _folder, metrics in members}
    if len(inputs) > 1:
        raise PromotionError(f"models {ids} were trained at different resolutions or training slices "
                             f"({sorted(inputs, key=str)}): an ensemble's members share one input, promote them again "
                             "with the same --resolution and --train-size")
    return members


def load_member(folder: Path, metrics: dict[str, Any]) -> nn.Module:
    """A promoted model's network with its trained weights (weights-only: no code runs on loading)."""
    shape = metrics["input"]
    return trained_model(Genome.from_json((folder / "genome.json").read_text()),
                         torch.load(folder / "model.pt", map_location="cpu", weights_only=True),
                         in_channels=shape["in_channels"], num_classes=shape["num_classes"]).eval()


def write_ensemble(run_dir: str | Path, ids: list[int]) -> dict[str, Any]:
    """Judge the ensemble of the promoted models `ids` on their validation slice and test split; write and return its
    metrics (size and FLOPs: the sums of its members')."""
    members = ensemble_members(run_dir, ids)
    first = members[0][1]
    store = RunStore.open(run_dir)
    data = training_data(config_from_dict(store.read_config()["config"]), resolution=first["resolution"],
                         train_size=first.get("train_size"))
    ensemble = EnsembleNet([load_member(folder, metrics) for folder, metrics in members])
    split = data.split
    metrics = {"members": [metrics["id"] for _folder, metrics in members],
               "architecture": " + ".join(metrics["architecture"] for _folder, metrics in members),
               "params": sum(metrics["params"] for _folder, metrics in members),
               "flops": sum(metrics["flops"] for _folder, metrics in members),
               "val_acc": accuracy(ensemble, split.val_inputs, split.val_labels, split, data.eval_batch_size),
               "test_acc": accuracy(ensemble, data.test_inputs, data.test_labels, split, data.eval_batch_size),
               "member_val_accs": [metrics["val_acc"] for _folder, metrics in members],
               "member_test_accs": [metrics["test_acc"] for _folder, metrics in members],
               "resolution": first["resolution"], "train_size": first.get("train_size"), "input": first["input"]}
    folder = ensemble_dir(run_dir, metrics["members"])
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / METRICS_FILE, metrics)
    return metrics


def read_ensembles(run_dir: str | Path) -> list[dict[str, Any]]:
    """The metrics of every ensemble written in the run, smallest first."""
    rows = [json.loads(path.read_text()) for path in (promoted_dir(run_dir) / ENSEMBLES_DIR).glob(f"*/{METRICS_FILE}")]
    return sorted(rows, key=lambda row: (row["params"], row["members"]))


def format_ensembles(rows: list[dict[str, Any]]) -> str:
    """The ensembles as a text table beside the promoted models': size is the sum of the members'."""
    lines = [f"{'ensemble':>16}  {'val_acc':>8}  {'test_acc':>8}  {'params':>10}  best member's test_acc"]
    for row in rows:
        lines.append(f"{'+'.join(map(str, row['members'])):>16}  {row['val_acc']:>8.4f}  {row['test_acc']:>8.4f}  "
                     f"{row['params']:>10,}  {max(row['member_test_accs']):.4f}")
    return "\n".join(lines)


def top_ids(run_dir: str | Path, count: int, max_params: int | None = None) -> list[int]:
    """The ids `promote --top count` chooses (with `--max-params`): the ensemble's members."""
    return [record["id"] for record in select_records(RunStore.open(run_dir).records(), Path(run_dir), top=count,
                                                      max_params=max_params)]
