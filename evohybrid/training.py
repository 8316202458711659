"""Full training: every weight of an architecture trained with one recipe, for promotion and for the studies' truth.

The recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4 and a cosine schedule, on random crops (and flips for
natural images) of resident tensors. Callers hook in after each epoch (checkpoint, evaluate, report to Tune).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .builder import build_model
from .config import Config
from .data import SearchSplit, augment, load_dataset, resize_images, search_split
from .evaluator import accuracy, batch_indices, genome_seed, normalise, resolve_device
from .genome import Genome

MOMENTUM, WEIGHT_DECAY = 0.9, 5e-4
FLIP_DATASETS = ("cifar10", "cifar100", "synthetic-cifar10")  # the recipe flips natural images only, never digits or clothes
CROP_PADDING = {"cifar10": 4, "cifar100": 4, "synthetic-cifar10": 4}  # at the native size; 28-pixel sets pad 2


@dataclass(frozen=True)
class TrainingData:
    """What full training trains and tests on: built once, shipped to workers through Ray's object store."""

    split: SearchSplit  # training split minus the held-out validation slice; that slice for validation
    test_images: torch.Tensor
    test_labels: torch.Tensor
    crop_padding: int
    flip: bool
    seed: int  # the run's seed: it fixed the validation slice, and is training seed 0
    eval_batch_size: int
    dataset: str


def training_data(config: Config, *, train_size: int | None = None, val_size: int | None = None,
                  resolution: int | None = None) -> TrainingData:
    """The config's data set split by its seed: `val_size` validation images (default: the search's slice, so a
    larger one contains it), all other training images (or the first `train_size`) at `resolution` (default: the
    search's), and the test split."""
    data = load_dataset(config.data.dataset, config.data.data_dir, download=config.data.download)
    split = search_split(data, val_size=val_size or config.data.val_size, train_size=train_size, seed=config.seed,
                         resolution=resolution or config.data.resolution)
    size, native = split.image_shape[-1], data.image_shape[-1]
    test_images = data.test_images if data.test_images.shape[-1] == size else resize_images(data.test_images, size)
    padding = max(1, round(CROP_PADDING.get(config.data.dataset, 2) * size / native))
    return TrainingData(split, test_images, data.test_labels, padding, config.data.dataset in FLIP_DATASETS,
                        config.seed, config.fitness.val_batch_size, config.data.dataset)


class Training:
    """One architecture trained fully, epoch by epoch: model, optimiser and schedule on one device.

    `seed` fixes the initial weights and the batch order (default: the data's seed); two seeds give two
    independent trainings of the same architecture on the same data."""

    def __init__(self, genome: Genome, data: TrainingData, *, epochs: int, lr: float = 0.1, batch_size: int = 128,
                 seed: int | None = None, device: str = "auto") -> None:
        self.device = resolve_device(device)
        self.data, self.epochs = data, epochs
        self.seed = data.seed if seed is None else seed
        self.split = data.split.to(self.device)
        self.model = build_model(genome, in_channels=self.split.image_shape[0], num_classes=self.split.num_classes,
                                 seed=genome_seed(self.seed, genome), trainable="all").to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True,
                                         weight_decay=WEIGHT_DECAY)
        self.batch_size = min(batch_size, len(self.split.train_labels))
        steps = epochs * (len(self.split.train_labels) // self.batch_size)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=steps)
        self.epoch = 0  # epochs done

    def train_epoch(self) -> float:
        """One pass over the training images in a fresh order (the last partial batch dropped); the mean loss."""
        split, data = self.split, self.data
        epoch_seed = self.seed * 10_000 + self.epoch  # a different order every epoch and every training seed
        generator = torch.Generator(device=self.device).manual_seed(epoch_seed)
        count = len(split.train_labels)
        steps = count // self.batch_size
        total = torch.zeros((), device=self.device)  # summed on the device, read once
        self.model.train()
        for index in batch_indices(count, self.batch_size, steps, epoch_seed, self.device):
            images = augment(split.train_images[index], data.crop_padding, data.flip, generator)
            loss = F.cross_entropy(self.model(normalise(images, split)), split.train_labels[index])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total += loss.detach()
        mean = float(total) / steps
        if not math.isfinite(mean):
            raise FloatingPointError("the training loss became NaN or infinite: try a smaller --lr")
        self.epoch += 1
        return mean

    def run(self, on_epoch: Callable[["Training", float], None] | None = None) -> list[float]:
        """Train the epochs that remain, calling `on_epoch(self, mean loss)` after each; the losses."""
        losses = []
        while self.epoch < self.epochs:
            losses.append(self.train_epoch())
            if on_epoch is not None:
                on_epoch(self, losses[-1])
        return losses

    def val_accuracy(self) -> float:
        return accuracy(self.model, self.split.val_images, self.split.val_labels, self.split, self.data.eval_batch_size)

    def test_accuracy(self) -> float:
        """Accuracy on the test split: promotion reads it once, after the last epoch; studies never do."""
        return accuracy(self.model, self.data.test_images, self.data.test_labels, self.split, self.data.eval_batch_size)

    def save(self, folder: Path) -> None:
        """Weights, optimiser and schedule into `folder` (weights-only tensors, no pickled objects)."""
        torch.save(self.model.state_dict(), folder / "model.pt")
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                   folder / "optimizer.pt")

    def load(self, folder: Path) -> None:
        """The weights, optimiser and schedule that `save` wrote (the caller sets `epoch`, which it keeps)."""
        self.model.load_state_dict(torch.load(folder / "model.pt", map_location=self.device, weights_only=True))
        state = torch.load(folder / "optimizer.pt", map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
