"""MNIST-1D: generated offline by the mnist1d package's generator, in the paper's shapes, the same for the same seed,
and searchable with the mnist1d space and config."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import evohybrid
from evohybrid.data import load_dataset
from evohybrid.errors import DatasetError


@pytest.fixture(scope="module")
def paper():
    return load_dataset("mnist1d")


def test_the_default_set_has_the_papers_shapes(paper):
    assert paper.train_inputs.shape == (4000, 1, 40) and paper.test_inputs.shape == (1000, 1, 40)
    assert paper.train_inputs.dtype == torch.float32 and torch.isfinite(paper.train_inputs).all()
    assert paper.num_classes == 10 and set(paper.train_labels.tolist()) == set(range(10))
    # The paper's classes are balanced: 500 series of each digit in all.
    counts = torch.bincount(torch.cat([paper.train_labels, paper.test_labels]), minlength=10)
    assert counts.tolist() == [500] * 10


def test_the_same_generator_seed_gives_the_same_series_and_another_seed_other_series(paper):
    again = load_dataset("mnist1d")
    assert torch.equal(again.train_inputs, paper.train_inputs) and torch.equal(again.test_labels, paper.test_labels)
    other = load_dataset("mnist1d", generator_seed=7)
    assert not torch.equal(other.train_inputs, paper.train_inputs)


def test_the_number_of_series_is_a_setting_and_a_fifth_of_them_is_the_test_split():
    small = load_dataset("mnist1d", samples=500)
    assert (len(small.train_labels), len(small.test_labels)) == (400, 100)


def test_generating_draws_nothing_from_the_global_generators():
    random.seed(3)
    np.random.seed(3)
    expected = (random.random(), np.random.random())
    random.seed(3)
    np.random.seed(3)
    load_dataset("mnist1d", samples=200)
    assert (random.random(), np.random.random()) == expected


def test_generator_settings_on_a_set_read_from_files_are_an_error():
    with pytest.raises(DatasetError, match="generated data sets"):
        load_dataset("fashion-mnist", samples=1000)


def test_the_mnist1d_config_holds_out_its_validation_series_and_evaluates_a_network_of_its_space():
    config = evohybrid.load_config("mnist1d").override("fitness", steps=5)
    split = evohybrid.load_search_split(config)
    assert (len(split.train_labels), len(split.val_labels)) == (3200, 800) and split.input_shape == (1, 40)
    genome = evohybrid.load_space(config.space).sample(random.Random(0))
    record = evohybrid.evaluate(genome, config, split=split)
    assert record["status"] == "ok" and 0 <= record["val_acc"] <= 1
