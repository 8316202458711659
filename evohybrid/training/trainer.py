"""Full training: every weight of an architecture trained with one recipe, for promotion and for the studies' truth.

The recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4 and a cosine schedule, on random crops (and flips for
natural images; the data set's policy, `data.AUGMENTATION`) of resident tensors; series are shifted in time only
when the recipe's `shift` asks (a shifted series may change its class). Callers hook in after each step
(capture a rewind point) and after each epoch (checkpoint, evaluate, report to Tune).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..config import Config
from ..data import SearchSplit, augment, load_data, normalise, resample, search_split, series_shifts
from ..dataset_names import dataset_holds
from ..errors import ConfigError
from ..fitness.evaluator import accuracy, batch_indices, resolve_device
from ..spaces.builder import build_model, genome_seed
from ..spaces.genome import Genome

MOMENTUM, WEIGHT_DECAY = 0.9, 5e-4
NATIVE = "native"  # a resolution: the data set's own image size or series length


@dataclass(frozen=True)
class TrainingData:
    """What full training trains and tests on: built once, shipped to workers through Ray's object store."""

    split: SearchSplit  # training split minus the held-out validation slice; that slice for validation
    test_inputs: torch.Tensor
    test_labels: torch.Tensor
    seed: int  # the run's seed: it fixed the validation slice, and is training seed 0
    eval_batch_size: int
    dataset: str


def training_data(config: Config, *, train_size: int | None = None, val_size: int | None = None,
                  resolution: int | str | None = None) -> TrainingData:
    """The config's data set split by its seed: `val_size` validation images (default: the search's slice, so a
    larger one contains it), all other training images (or the first `train_size`) at `resolution` pixels
    ("native": the data set's own size; default: the search's), and the test split."""
    data = load_data(config.data)
    size = data.input_shape[-1] if resolution == NATIVE else resolution or config.data.resolution
    split = search_split(data, val_size=val_size or config.data.val_size, train_size=train_size, seed=config.seed,
                         resolution=size)
    test_inputs = resample(data.test_inputs, split.input_shape[-1])
    return TrainingData(split, test_inputs, data.test_labels, config.seed, config.fitness.val_batch_size,
                        config.data.dataset)


def check_shift(shift: float, dataset: str) -> None:
    """A recipe's shift is for series: refused, with what to do, for an image data set."""
    if shift and dataset_holds(dataset) != "series":
        raise ConfigError(f"--shift moves series in time, and {dataset} holds images: drop it")


def refit_data(data: TrainingData) -> TrainingData:
    """The whole training split to train on: the validation slice joins the training slice once the search has used
    it (nothing is chosen on it any more; it stays as the validation slice, which no longer measures anything)."""
    split = data.split
    whole = replace(split, train_inputs=torch.cat([split.train_inputs, split.val_inputs]),
                    train_labels=torch.cat([split.train_labels, split.val_labels]))
    return replace(data, split=whole)


def steps_per_epoch(data: TrainingData, batch_size: int) -> int:
    """Full batches in one pass over the training images (a batch larger than the split is the whole split)."""
    count = len(data.split.train_labels)
    return count // min(batch_size, count)


class Training:
    """One architecture trained fully, epoch by epoch: model, optimiser and schedule on one device.

    `seed` fixes the initial weights and the batch order (default: the data's seed); two seeds give two
    independent trainings of the same architecture on the same data. `shift` > 0 shifts each training series by up
    to that fraction of its length."""

    def __init__(self, genome: Genome, data: TrainingData, *, epochs: int, lr: float = 0.1, batch_size: int = 128,
                 label_smoothing: float = 0.0, shift: float = 0.0, seed: int | None = None,
                 device: str = "auto") -> None:
        self.device = resolve_device(device)
        self.data, self.epochs, self.label_smoothing = data, epochs, label_smoothing
        self.seed = data.seed if seed is None else seed
        self.split = data.split.to(self.device)
        if shift:
            check_shift(shift, data.dataset)
            self.split = replace(self.split, augmentation=series_shifts(shift, self.split.input_shape[-1]))
        self.model = build_model(genome, in_channels=self.split.input_shape[0], num_classes=self.split.num_classes,
                                 seed=genome_seed(self.seed, genome), trainable="all").to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True,
                                         weight_decay=WEIGHT_DECAY)
        self.batch_size = min(batch_size, len(self.split.train_labels))
        self.steps_per_epoch = steps_per_epoch(data, batch_size)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer,
                                                                    T_max=epochs * self.steps_per_epoch)
        self.step = 0  # optimiser steps done; a checkpoint or a rewind point may stop mid-epoch

    @property
    def epoch(self) -> int:
        """Epochs done."""
        return self.step // self.steps_per_epoch

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def train_epoch(self, on_step: Callable[["Training"], None] | None = None) -> float:
        """Train to the end of the current pass over the training images (each pass in a fresh order, the last
        partial batch dropped), calling `on_step(self)` after each step; the mean loss of the steps taken."""
        split = self.split
        epoch_seed = self.seed * 10_000 + self.epoch  # a different order every epoch and every training seed
        generator = torch.Generator(device=self.device).manual_seed(epoch_seed)
        done = self.step % self.steps_per_epoch  # steps of this pass taken before a resume
        batches = batch_indices(len(split.train_labels), self.batch_size, self.steps_per_epoch, epoch_seed,
                                self.device)
        total = torch.zeros((), device=self.device)  # summed on the device, read once
        self.model.train()
        for index in itertools.islice(batches, done, None):
            images = augment(split.train_inputs[index], split.augmentation, generator)
            loss = F.cross_entropy(self.model(normalise(images, split)), split.train_labels[index],
                                   label_smoothing=self.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total += loss.detach()
            self.step += 1
            if on_step is not None:
                on_step(self)
        mean = float(total) / (self.steps_per_epoch - done)
        if not math.isfinite(mean):
            raise FloatingPointError("the training loss became NaN or infinite: try a smaller --lr")
        return mean

    def run(self, on_epoch: Callable[["Training", float], None] | None = None,
            on_step: Callable[["Training"], None] | None = None) -> list[float]:
        """Train the epochs that remain, calling `on_step(self)` after each step and `on_epoch(self, mean loss)`
        after each epoch; the losses."""
        losses = []
        while self.step < self.total_steps:
            losses.append(self.train_epoch(on_step))
            if on_epoch is not None:
                on_epoch(self, losses[-1])
        return losses

    def val_accuracy(self) -> float:
        return accuracy(self.model, self.split.val_inputs, self.split.val_labels, self.split, self.data.eval_batch_size)

    def test_accuracy(self) -> float:
        """Accuracy on the test split: promotion reads it once, after the last epoch; studies never do."""
        return accuracy(self.model, self.data.test_inputs, self.data.test_labels, self.split, self.data.eval_batch_size)

    def test_logits(self) -> torch.Tensor:
        """Logits on the test split in eval mode, on the CPU: kept, they give an ensemble's (the mean of its
        members') without the models."""
        self.model.eval()
        inputs, size = self.data.test_inputs, self.data.eval_batch_size
        with torch.inference_mode():
            return torch.cat([self.model(normalise(inputs[start:start + size].to(self.device), self.split)).float().cpu()
                              for start in range(0, len(inputs), size)])

    def save(self, folder: Path) -> None:
        """Weights, optimiser, schedule and step into `folder` (weights-only tensors, no pickled objects)."""
        torch.save(self.model.state_dict(), folder / "model.pt")
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "step": self.step}, folder / "optimizer.pt")

    def load(self, folder: Path) -> None:
        """The weights, optimiser, schedule and step that `save` wrote."""
        self.model.load_state_dict(torch.load(folder / "model.pt", map_location=self.device, weights_only=True))
        state = torch.load(folder / "optimizer.pt", map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = state["step"]
