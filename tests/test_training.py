"""Full training, the one home of "train every weight": its data, seeds, callbacks, checkpoints and devices."""

from __future__ import annotations

import random

import pytest
import torch

import evohybrid
from evohybrid.data import Augmentation
from evohybrid.fitness.evaluator import accuracy
from evohybrid.training.ensemble import EnsembleNet
from evohybrid.training.trainer import Training, refit_data, training_data


@pytest.fixture(scope="module")
def small_data(smoke_config):
    """The smoke config's training data cut to 1,024 training images: a fraction of a second per epoch."""
    return training_data(smoke_config, train_size=1024)


@pytest.fixture(scope="module")
def genome():
    return evohybrid.load_space("tiny").sample(random.Random(3))


def _weights(training: Training) -> list[torch.Tensor]:
    return [tensor.detach().clone() for tensor in training.model.state_dict().values()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_promotion_trains_on_everything_but_the_search_validation_slice(smoke_config, smoke_split):
    data = training_data(smoke_config)
    assert torch.equal(data.split.val_inputs, smoke_split.val_inputs)
    assert len(data.split.train_labels) == 60_000 - smoke_config.data.val_size
    assert data.test_inputs.shape[1:] == data.split.input_shape == (1, 12, 12)
    assert data.split.augmentation == Augmentation(padding=1, flip=False)  # 2 pixels at 28, scaled to 12


def test_a_larger_validation_slice_contains_the_search_slice_and_is_never_trained_on(smoke_config, smoke_split):
    data = training_data(smoke_config, val_size=1000, resolution=16)
    assert len(data.split.val_labels) == 1000 and data.split.input_shape == (1, 16, 16)
    search_val = training_data(smoke_config, resolution=16).split.val_inputs
    assert torch.equal(data.split.val_inputs[:len(search_val)], search_val)
    assert len(data.split.train_labels) == 60_000 - 1000


def test_a_refit_trains_on_the_whole_training_split(small_data):
    refit = refit_data(small_data)
    split = small_data.split
    assert torch.equal(refit.split.train_inputs, torch.cat([split.train_inputs, split.val_inputs]))
    assert torch.equal(refit.split.train_labels, torch.cat([split.train_labels, split.val_labels]))
    assert torch.equal(refit.test_inputs, small_data.test_inputs)  # the test split is still untouched


def test_the_test_logits_give_the_test_accuracy_and_their_mean_an_ensembles(small_data, genome):
    trainings = [Training(genome, small_data, epochs=1, batch_size=128, seed=small_data.seed + offset)
                 for offset in (0, 1)]
    logits = []
    for training in trainings:
        training.run()
        logits.append(training.test_logits())
        assert logits[-1].shape == (len(small_data.test_labels), small_data.split.num_classes)
        assert _accuracy(logits[-1], small_data.test_labels) == pytest.approx(training.test_accuracy(), abs=1e-12)
    ensemble = EnsembleNet([training.model for training in trainings])
    assert _accuracy(torch.stack(logits).mean(dim=0), small_data.test_labels) == pytest.approx(
        accuracy(ensemble, small_data.test_inputs, small_data.test_labels, small_data.split,
                 small_data.eval_batch_size), abs=1e-12)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).double().mean())


def test_each_epoch_calls_back_and_the_seed_fixes_the_training(small_data, genome):
    calls = []
    first = Training(genome, small_data, epochs=2, batch_size=128)
    losses = first.run(lambda training, loss: calls.append((training.epoch, loss)))
    assert [epoch for epoch, _ in calls] == [1, 2] and [loss for _, loss in calls] == losses
    again = Training(genome, small_data, epochs=2, batch_size=128)
    again.run()
    assert _same(_weights(first), _weights(again))
    other = Training(genome, small_data, epochs=2, batch_size=128, seed=small_data.seed + 1)
    assert not _same(_weights(Training(genome, small_data, epochs=2)), _weights(other))  # other initial weights
    other.run()
    assert not _same(_weights(first), _weights(other))


def test_a_training_continued_from_its_checkpoint_ends_where_an_uninterrupted_one_does(small_data, genome, tmp_path):
    straight = Training(genome, small_data, epochs=2, batch_size=128)
    straight.run()
    interrupted = Training(genome, small_data, epochs=2, batch_size=128)
    interrupted.train_epoch()
    interrupted.save(tmp_path)
    resumed = Training(genome, small_data, epochs=2, batch_size=128)
    resumed.load(tmp_path)
    resumed.run()
    assert resumed.epoch == 2
    assert _same(_weights(straight), _weights(resumed))
    assert resumed.val_accuracy() == straight.val_accuracy()


def test_a_training_restarted_mid_epoch_takes_only_the_steps_that_remain(small_data, genome, tmp_path):
    steps = []
    first = Training(genome, small_data, epochs=2, batch_size=128)  # 8 steps per epoch
    first.run(on_step=lambda training: training.step == 5 and training.save(tmp_path))
    restarted = Training(genome, small_data, epochs=2, batch_size=128)
    restarted.load(tmp_path)
    epochs = []
    restarted.run(lambda training, loss: epochs.append(training.epoch), lambda training: steps.append(training.step))
    assert steps == list(range(6, 17)) and epochs == [1, 2]


def _check_device(small_data, genome, device: str) -> None:
    training = Training(genome, small_data, epochs=1, batch_size=256, device=device)
    assert next(training.model.parameters()).device.type == device
    assert small_data.test_inputs.device.type == "cpu"  # the test split stays where it was loaded
    training.run()
    assert 0.0 <= training.val_accuracy() <= 1.0 and 0.0 <= training.test_accuracy() <= 1.0


def test_training_on_the_cpu_reads_validation_and_test_inputs_from_anywhere(small_data, genome):
    _check_device(small_data, genome, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_the_gpu_reads_validation_and_test_inputs_from_the_cpu(small_data, genome):
    _check_device(small_data, genome, "cuda")
