"""Learning floors: the product must learn, not only run. A fixed small network on a fixed slice of real
Fashion-MNIST must reach accuracies far above chance (0.10), both with the BN-only fitness and with one epoch of
full training; with the training labels shuffled the same measurements fall below the same floors, which shows
that the floors would catch a product that stopped learning (a fitness that scores the wrong split, a frozen
optimiser, labels out of step with images).

Floors were set from measurement with a wide margin: BN-only reached 0.39 at seed 0 (0.22 to 0.39 over seeds
0-2; shuffled labels 0.08 to 0.09), one epoch of full training 0.47 to 0.57 (shuffled 0.09 to 0.14).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import evohybrid
from evohybrid.fitness.evaluator import evaluate
from evohybrid.training.trainer import Training, training_data

BN_ONLY_FLOOR = 0.25
FULL_TRAINING_FLOOR = 0.30
GENOME = evohybrid.Genome.from_dict({"stem_width": 16, "stages": [
    {"depth": 1, "width": 16, "kernel": 3, "stride": 1, "residual": [True]},
    {"depth": 1, "width": 32, "kernel": 3, "stride": 2, "residual": [True]},
    {"depth": 0, "width": 32, "kernel": 3, "stride": 2, "residual": []}]})


@pytest.fixture(scope="module")
def config() -> evohybrid.Config:
    """The default recipe (16x16, Adam 0.03, one-cycle) on 2,048 training and 1,000 validation images, 60 steps."""
    return (evohybrid.load_config("default").override("data", train_size=2048, val_size=1000)
            .override("fitness", steps=60, threads=1))


def _shuffled(labels: torch.Tensor) -> torch.Tensor:
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]


@pytest.mark.parametrize("labels", ["real", "shuffled"])
def test_bn_only_fitness_learns_far_above_chance(config, labels):
    split = evohybrid.load_search_split(config)
    if labels == "shuffled":
        split = dataclasses.replace(split, train_labels=_shuffled(split.train_labels))
    record = evaluate(GENOME, split, config.fitness, seed=0)
    assert record["status"] == "ok"
    if labels == "real":
        assert record["val_acc"] >= BN_ONLY_FLOOR
    else:
        assert record["val_acc"] < BN_ONLY_FLOOR


@pytest.mark.parametrize("labels", ["real", "shuffled"])
def test_one_epoch_of_full_training_learns_far_above_chance(config, labels):
    data = training_data(config, train_size=6144)
    if labels == "shuffled":
        data = dataclasses.replace(data, split=dataclasses.replace(data.split,
                                                                   train_labels=_shuffled(data.split.train_labels)))
    training = Training(GENOME, data, epochs=1)
    training.run()
    if labels == "real":
        assert training.val_accuracy() >= FULL_TRAINING_FLOOR
    else:
        assert training.val_accuracy() < FULL_TRAINING_FLOOR
