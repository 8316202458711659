"""Lottery tickets of a promoted model: iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019;
Frankle et al. 2020), on `torch.nn.utils.prune`.

Level 0 trains the dense network with the model's promotion recipe and keeps its training state at the rewind
point. Each later level removes `rate` of the weights that remain (smallest magnitude, over all layers by default),
rewinds the survivors to that state and trains again for the rest of the schedule. A control trains the final
level's mask from fresh random weights: the lottery-ticket claim is that the rewound ticket beats it.

Layout of `RUN/promoted/<id>/lottery/`: `settings.json`, `rewind/` (the dense training's state at the rewind step),
`level_<K>/` per level (`mask.pt`, `checkpoint-<step>/` while it trains, then `model.pt` with the masks folded into
the weights and `metrics.json`; `control/` likewise for the last level), `curve.csv` and `lottery.png` over them.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import prune as torch_prune

from ..config import config_from_dict
from ..errors import EvohybridError
from ..evolution.store import RunStore, write_json_atomic
from ..spaces.builder import trained_model
from ..spaces.genome import Genome
from .checkpoints import resume_training, save_checkpoint, save_new
from .promoted import promoted_model
from .trainer import Training, TrainingData, steps_per_epoch, training_data

LOTTERY_DIR = "lottery"
SETTINGS_FILE = "settings.json"
CURVE_FILE = "curve.csv"
FIGURE_FILE = "lottery.png"
MASK_FILE = "mask.pt"
CONTROL_DIR = "control"  # inside a level's folder: that level's mask trained from fresh random weights
CURVE_FIELDS = ("level", "control", "sparsity", "weights_left", "val_acc", "test_acc", "train_s")
CONTROL_SEED = 1  # added to the run's seed: the control's weights are an independent draw


class LotteryError(EvohybridError):
    """Pruning settings that cannot work, or a level that does not exist."""


@dataclass(frozen=True)
class LotterySettings:
    """How to prune: `levels` rounds after the dense level 0, each removing `rate` of the remaining weights, by
    magnitude over all layers at once or (`layerwise`) within each layer, the survivors rewound to `rewind`
    ("<N>ep", "<N>it" or "0": epochs or steps into the dense training)."""

    levels: int = 8  # 0.8 ** 8: 17% of the weights left
    rate: float = 0.2
    rewind: str = "1ep"
    layerwise: bool = False

    def check(self) -> None:
        if self.levels < 1:
            raise LotteryError(f"--levels must be at least 1, got {self.levels}")
        if not 0 < self.rate < 1:
            raise LotteryError(f"--rate must be between 0 and 1 (the fraction of weights removed per level), "
                               f"got {self.rate:g}")
        if not re.fullmatch(r"0|\d+(ep|it)", self.rewind):
            raise LotteryError(f"--rewind must be 0, <N>ep (epochs) or <N>it (steps), got '{self.rewind}'")

    def rewind_step(self, steps_per_epoch: int) -> int:
        count = int(re.match(r"\d+", self.rewind).group())
        return count * steps_per_epoch if self.rewind.endswith("ep") else count

    def identity(self) -> dict[str, Any]:
        """What fixes every level's result; `levels` may grow on a later call."""
        return {key: value for key, value in asdict(self).items() if key != "levels"}


def lottery_dir(model_folder: Path) -> Path:
    return model_folder / LOTTERY_DIR


def prunable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers whose weights are pruned: every convolution and the classifier (BatchNorm is left whole)."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, (_ConvNd, nn.Linear))]


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Prune the model's layers with `masks` (layer name -> 0/1 tensor), through torch's pruning parametrisation."""
    for name, module in prunable(model):
        torch_prune.custom_from_mask(module, "weight", masks[name].to(module.weight.device))


def next_masks(model: nn.Module, rate: float, layerwise: bool) -> dict[str, torch.Tensor]:
    """Remove `rate` of the weights that survive in the (trained, possibly pruned) model, the smallest in magnitude
    first, and return the new masks; the model keeps them."""
    layers = prunable(model)
    if layerwise:
        for _, module in layers:
            torch_prune.l1_unstructured(module, "weight", amount=rate)
    else:
        torch_prune.global_unstructured([(module, "weight") for _, module in layers],
                                        pruning_method=torch_prune.L1Unstructured, amount=rate)
    return {name: module.weight_mask.detach().cpu().clone() for name, module in layers}


def sparsity(masks: dict[str, torch.Tensor]) -> tuple[float, int]:
    """The fraction of prunable weights removed, and the number left."""
    total = sum(mask.numel() for mask in masks.values())
    left = int(sum(mask.sum().item() for mask in masks.values()))
    return 1 - left / total, left


def folded_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights with the masks multiplied in: a plain state_dict that `trained_model` loads."""
    state = model.state_dict()
    for name in [key[:-len("_orig")] for key in state if key.endswith(".weight_orig")]:
        state[name] = state.pop(f"{name}_orig") * state.pop(f"{name}_mask")
    return state


@dataclass(frozen=True)
class Recipe:
    """The promotion recipe each level is trained with, read from the promoted model's metrics."""

    epochs: int
    lr: float
    batch_size: int
    resolution: int
    train_size: int | None
    label_smoothing: float
    shift: float = 0.0


def _train(genome: Genome, data: TrainingData, recipe: Recipe, folder: Path, masks: dict[str, torch.Tensor] | None,
           *, level: int, seed: int, log: Callable[[str], None], start: Path | None = None,
           rewind: tuple[int, Path] | None = None) -> dict[str, Any]:
    """Train one level (or the control) into `folder`, resumable epoch by epoch, and write its `model.pt` and
    `metrics.json` (last). `start`: the training state to begin from (the rewind point); `rewind`: (step, folder)
    where the dense training keeps its state."""
    training = Training(genome, data, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                        label_smoothing=recipe.label_smoothing, shift=recipe.shift, seed=seed)
    if start is not None:
        training.load(start)  # weights, momentum and schedule as they were at the rewind step
    if masks is not None:
        apply_masks(training.model, masks)  # after loading: the optimiser keeps the same parameters, now masked
    progress = resume_training(folder, training)
    if progress is None:
        progress = {"train_s": 0.0}
    else:
        log(f"{'control of ' if seed != data.seed else ''}level {level}: continuing from epoch {training.epoch}")

    def keep_rewind_point(training: Training) -> None:
        if rewind is not None and training.step == rewind[0]:
            save_new(rewind[1], training.save)

    if training.step == 0:
        keep_rewind_point(training)  # rewinding to step 0 keeps the initial weights
    clock = {"start": time.perf_counter()}

    def checkpoint_epoch(training: Training, loss: float) -> None:
        progress["train_s"] += time.perf_counter() - clock["start"]
        save_checkpoint(folder, training, progress)
        clock["start"] = time.perf_counter()  # checkpointing is not training time

    training.run(checkpoint_epoch, keep_rewind_point)
    torch.save(folded_state(training.model), folder / "model.pt")
    if masks is None:
        masks = {name: torch.ones_like(module.weight) for name, module in prunable(training.model)}
    removed, left = sparsity(masks)
    metrics = {"level": level, "sparsity": removed, "weights_left": left, "val_acc": training.val_accuracy(),
               "test_acc": training.test_accuracy(), "train_s": progress["train_s"], "epochs": recipe.epochs}
    write_json_atomic(folder / "metrics.json", metrics)
    for path in folder.glob("checkpoint-*"):
        shutil.rmtree(path)
    return metrics


def level_dir(lottery: Path, level: int) -> Path:
    return lottery / f"level_{level:02d}"


def read_metrics(folder: Path) -> dict[str, Any] | None:
    """A level's (or the control's) metrics; None while it is unfinished."""
    path = folder / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def _masks_after(genome: Genome, data: TrainingData, folder: Path, settings: LotterySettings) -> dict[str, torch.Tensor]:
    """The next level's masks, from a finished level's trained weights and the masks it trained with."""
    split = data.split
    model = trained_model(genome, torch.load(folder / "model.pt", map_location="cpu", weights_only=True),
                          in_channels=split.input_shape[0], num_classes=split.num_classes)
    if (folder / MASK_FILE).exists():
        apply_masks(model, torch.load(folder / MASK_FILE, weights_only=True))
    return next_masks(model, settings.rate, settings.layerwise)


def prune(run_dir: str | Path, eval_id: int, settings: LotterySettings = LotterySettings(),
          log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Find the lottery ticket of a promoted model: levels 0 (dense) to `settings.levels`, each resumable, then the
    random-reinitialisation control; write the curve and figure; return every level's metrics, the control last.

    Finished levels are not trained again, so a larger `levels` continues a finished lottery."""
    settings.check()
    folder, metrics = promoted_model(run_dir, eval_id)
    recipe = Recipe(metrics["epochs"], metrics["lr"], metrics["batch_size"], metrics["resolution"],
                    metrics.get("train_size"), metrics.get("label_smoothing", 0.0), metrics.get("shift", 0.0))
    lottery = lottery_dir(folder)
    identity = {**settings.identity(), "recipe": asdict(recipe)}
    if (lottery / SETTINGS_FILE).exists() and _stored_identity(lottery / SETTINGS_FILE) != identity:
        raise LotteryError(f"'{lottery}' was pruned with other settings: use the same --rate, --rewind and "
                           "--layerwise, or delete that folder")
    config = config_from_dict(RunStore.open(run_dir).read_config()["config"])
    genome = Genome.from_json((folder / "genome.json").read_text())
    data = training_data(config, resolution=recipe.resolution, train_size=recipe.train_size)
    per_epoch = steps_per_epoch(data, recipe.batch_size)
    rewind_step = settings.rewind_step(per_epoch)
    if rewind_step >= recipe.epochs * per_epoch:
        raise LotteryError(f"--rewind {settings.rewind} is step {rewind_step}, at or beyond the end of the promotion "
                           f"recipe ({recipe.epochs} epochs of {per_epoch} steps): rewind to an earlier point")
    lottery.mkdir(exist_ok=True)
    write_json_atomic(lottery / SETTINGS_FILE, identity)
    rewind = lottery / "rewind"
    # A plain loop, not Ray Tune: each level starts from the one before, so there is never a second trial to run.
    results = []
    for level in range(settings.levels + 1):
        current = level_dir(lottery, level)
        if read_metrics(current) is None:
            current.mkdir(exist_ok=True)
            masks = None
            if level:
                masks = _masks_after(genome, data, level_dir(lottery, level - 1), settings)
                torch.save(masks, current / MASK_FILE)
            values = _train(genome, data, recipe, current, masks, level=level, seed=data.seed, log=log,
                            start=rewind if level else None, rewind=None if level else (rewind_step, rewind))
            log(f"level {level}: {values['sparsity']:.1%} pruned, {values['weights_left']:,} weights left, "
                f"val {values['val_acc']:.4f}, test {values['test_acc']:.4f}, {values['train_s']:.0f}s")
        results.append({"control": False, **read_metrics(current)})
    control_dir = level_dir(lottery, settings.levels) / CONTROL_DIR
    if read_metrics(control_dir) is None:
        control_dir.mkdir(exist_ok=True)
        masks = torch.load(level_dir(lottery, settings.levels) / MASK_FILE, weights_only=True)
        control = _train(genome, data, recipe, control_dir, masks, level=settings.levels,
                         seed=data.seed + CONTROL_SEED, log=log)
        log(f"control (level {settings.levels}'s mask on fresh random weights): val {control['val_acc']:.4f}, "
            f"test {control['test_acc']:.4f}, {control['train_s']:.0f}s")
    control = read_metrics(control_dir)
    results.append({"control": True, **control})
    write_curve(lottery, results)
    return results


def _stored_identity(path: Path) -> dict[str, Any]:
    """The settings a lottery was started with, its recipe's shift (added since) at 0 where it was not written."""
    stored = json.loads(path.read_text())
    return {**stored, "recipe": {"shift": 0.0, **stored["recipe"]}} if "recipe" in stored else stored


def read_lottery(model_folder: Path) -> list[dict[str, Any]]:
    """Every finished level of a promoted model's lottery, then every finished control; [] if never pruned."""
    levels = sorted(lottery_dir(model_folder).glob("level_*"))
    return ([{"control": False, **metrics} for metrics in map(read_metrics, levels) if metrics is not None]
            + [{"control": True, **metrics} for metrics in (read_metrics(level / CONTROL_DIR) for level in levels)
               if metrics is not None])


def write_curve(lottery: Path, results: list[dict[str, Any]]) -> None:
    """`curve.csv` and `lottery.png` over the finished levels and the control."""
    with open(lottery / CURVE_FILE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, CURVE_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)
    figure = lottery_figure(results, lottery.parent.name)
    FigureCanvasAgg(figure)
    figure.savefig(lottery / FIGURE_FILE, dpi=110, bbox_inches="tight")


def lottery_figure(results: list[dict[str, Any]], name: str) -> Figure:
    """Validation and test accuracy against the weights left (log scale, dense on the left), the control marked."""
    levels = [row for row in results if not row["control"]]
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.add_subplot()
    left = [100 * (1 - row["sparsity"]) for row in levels]
    axes.plot(left, [row["val_acc"] for row in levels], marker="o", label="ticket, validation")
    axes.plot(left, [row["test_acc"] for row in levels], marker=".", linestyle="--", label="ticket, test")
    for row in results:
        if row["control"]:
            axes.scatter([100 * (1 - row["sparsity"])], [row["val_acc"]], marker="x", s=70, color="C3",
                         label="random reinitialisation, validation", zorder=3)
    axes.set_xscale("log")
    axes.invert_xaxis()
    axes.set_xticks(left, [f"{value:.3g}" for value in left])  # the levels' own values, not powers of ten
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("weights left (%)")
    axes.set_ylabel("accuracy")
    axes.set_title(f"model {name}: iterative magnitude pruning with rewinding")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure
