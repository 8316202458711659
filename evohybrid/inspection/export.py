"""Export a promoted model as one standalone file, and load it back as a module that takes plain images.

The file is a dict saved with `torch.save` (tensors, strings and numbers only, so `torch.load(..., weights_only=True)`
reads it): the genome as JSON, the state_dict, and what the input needs (channels, classes, resolution, mean, std).
An ensemble's file (version 2) holds a genome and a state_dict per member under `members`, the input once: it loads
as one module that averages its members' logits.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EvohybridError
from ..spaces.builder import trained_model
from ..spaces.genome import Genome
from ..spaces.kinds import kind_of
from ..training.ensemble import EnsembleNet, ensemble_dir, ensemble_members, write_ensemble
from ..training.lottery import level_dir, lottery_dir, read_lottery
from ..training.promoted import METRICS_FILE, promoted_model

EXPORT_FORMAT = "evohybrid-model"
EXPORT_VERSION, ENSEMBLE_VERSION = 1, 2  # one model's file keeps version 1, so older readers still load it


class ExportError(EvohybridError):
    """A model cannot be exported (unknown or unpromoted id) or a file is not an exported model."""


class ExportedModel(nn.Module):
    """A trained network behind its input pipeline: float images in [0, 1] of shape (N, C, H, W), any H and W,
    are resized to the training resolution when they differ, normalised, and mapped to logits; series (N, C, L),
    any L, are normalised and mapped to logits."""

    def __init__(self, network: nn.Module, mean: list[float], std: list[float], resolution: int, dims: int) -> None:
        super().__init__()
        self.network = network
        shape = (1, -1) + (1,) * dims
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape))
        self.resolution, self.dims = resolution, dims

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != self.dims + 2 or images.shape[1] != self.mean.shape[1]:
            expected = "H, W" if self.dims == 2 else "L"
            raise ValueError(f"expected inputs of shape (N, {self.mean.shape[1]}, {expected}), got "
                             f"{tuple(images.shape)}")
        if self.dims == 2 and images.shape[-2:] != (self.resolution, self.resolution):
            # The same filter that resized the training images (bilinear with antialiasing).
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="bilinear", antialias=True,
                                   align_corners=False)
        return self.network((images - self.mean) / self.std)


def export_model(run_dir: str | Path, eval_id: int, out: str | Path, *, level: int | None = None) -> Path:
    """Write the promoted model `eval_id` of a run (or its pruning `level`, masks folded into the weights) to `out`
    as a standalone file; return its path."""
    folder, metrics = promoted_model(run_dir, eval_id)
    shape = metrics["input"]
    weights = folder / "model.pt"
    if level is not None:
        levels = {row["level"]: row for row in read_lottery(folder) if not row["control"]}
        if level not in levels:
            done = f"it has levels 0 to {max(levels)}" if levels else "it was never pruned"
            raise ExportError(f"model {eval_id} has no pruning level {level} ({done}): run 'evohybrid prune "
                              f"{run_dir} {eval_id} --levels {max(level, 1)}' first")
        metrics = levels[level]
        weights = level_dir(lottery_dir(folder), level) / "model.pt"
    payload: dict[str, Any] = {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION,
        "genome": Genome.from_json((folder / "genome.json").read_text()).to_json(),
        "state_dict": _load_weights(weights),
        **_input_fields(shape), "id": eval_id, "val_acc": metrics["val_acc"], "test_acc": metrics["test_acc"],
        "sparsity": metrics.get("sparsity", 0.0),
    }
    return _save(payload, out)


def export_ensemble(run_dir: str | Path, ids: list[int], out: str | Path) -> Path:
    """Write the ensemble of the promoted models `ids` (judged first if it never was) to `out` as one file."""
    members = ensemble_members(run_dir, ids)
    metrics_path = ensemble_dir(run_dir, [metrics["id"] for _folder, metrics in members]) / METRICS_FILE
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else write_ensemble(run_dir, ids)
    payload: dict[str, Any] = {
        "format": EXPORT_FORMAT, "version": ENSEMBLE_VERSION,
        "members": [{"genome": Genome.from_json((folder / "genome.json").read_text()).to_json(),
                     "state_dict": _load_weights(folder / "model.pt"), "id": member["id"]}
                    for folder, member in members],
        **_input_fields(members[0][1]["input"]), "ids": metrics["members"], "val_acc": metrics["val_acc"],
        "test_acc": metrics["test_acc"],
    }
    return _save(payload, out)


def _input_fields(shape: dict[str, Any]) -> dict[str, Any]:
    """What an exported file says about its input: shape, normalisation and data set."""
    return {name: shape[name] for name in ("in_channels", "num_classes", "resolution", "mean", "std", "dataset")}


def _save(payload: dict[str, Any], out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, out)
    return out


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code runs on loading
    except (pickle.UnpicklingError, RuntimeError, EOFError):
        raise ExportError(f"'{path}' is not a weights file that evohybrid wrote (it is damaged, or holds Python "
                          "objects, which are never loaded): promote the model again") from None


def load_exported(path: str | Path) -> nn.Module:
    """The model of a file written by `evohybrid export`, in eval mode, on the CPU: it takes float images in [0, 1]
    of shape (N, C, H, W) at any size and returns logits of shape (N, num_classes)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ExportError(f"'{path}' does not exist: write it with 'evohybrid export RUN ID --out {path}'") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError):
        payload = None
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise ExportError(f"'{path}' is not a model file written by 'evohybrid export'")
    if payload.get("version") not in (EXPORT_VERSION, ENSEMBLE_VERSION):
        raise ExportError(f"'{path}' is an export of version {payload.get('version')}: this evohybrid reads versions "
                          f"{EXPORT_VERSION} and {ENSEMBLE_VERSION}, upgrade it")
    members = payload["members"] if payload["version"] == ENSEMBLE_VERSION else [payload]
    networks = [trained_model(Genome.from_json(member["genome"]), member["state_dict"],
                              in_channels=payload["in_channels"], num_classes=payload["num_classes"])
                for member in members]
    network = networks[0] if len(networks) == 1 else EnsembleNet(networks)
    dims = kind_of(Genome.from_json(members[0]["genome"])).dims
    return ExportedModel(network, payload["mean"], payload["std"], payload["resolution"], dims).eval()
