"""Genome -> network: sizes counted by hand, seeded initialisation, trainable sets, shapes and FLOPs, for every
shipped space (images for conv2d spaces, series for conv1d ones)."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import evohybrid
from evohybrid.errors import ConfigError
from evohybrid.spaces.builder import set_trainable
from evohybrid.spaces.builder_names import TRAINABLE_SETS
from evohybrid.spaces.genome import Genome, StageGene
from evohybrid.spaces.kinds import KINDS


def _dims(genome: Genome) -> int:
    return KINDS[genome.kind].dims


def _input(genome: Genome, channels: int, size: int) -> tuple[int, ...]:
    """The shape of one input: (C, size, size) for images, (C, size) for series."""
    return (channels,) + (size,) * _dims(genome)


def _blocks(genome: Genome):
    """(in_width, width, kernel, stride, residual) of every block, in order."""
    width = genome.stem_width
    for stage in genome.stages:
        for index in range(stage.depth):
            yield width, stage.width, stage.kernel, stage.stride if index == 0 else 1, stage.residual[index]
            width = stage.width


def _last_width(genome: Genome) -> int:
    return [stage.width for stage in genome.stages if stage.depth][-1]


def expected_parameters(genome: Genome, in_channels: int, num_classes: int) -> int:
    stem, dims = genome.stem_width, _dims(genome)
    total = 3 ** dims * in_channels * stem + 2 * stem
    for w_in, w, k, stride, residual in _blocks(genome):
        total += k ** dims * w_in * w + 2 * w + k ** dims * w * w + 2 * w
        if residual and (stride == 2 or w_in != w):
            total += w_in * w + 2 * w
    return total + _last_width(genome) * num_classes + num_classes


def expected_flops(genome: Genome, in_channels: int, size: int, num_classes: int) -> int:
    """Multiply-accumulates; an odd kernel with padding dilation * (k // 2) and stride s gives ceil(n / s) outputs
    along each dimension."""
    stem, dims = genome.stem_width, _dims(genome)
    total = size ** dims * stem * in_channels * 3 ** dims
    for w_in, w, k, stride, residual in _blocks(genome):
        size = -(-size // stride)
        total += size ** dims * w * (w_in + w) * k ** dims
        if residual and (stride == 2 or w_in != w):
            total += size ** dims * w * w_in
    return total + _last_width(genome) * num_classes


def _genomes(space, count):
    rng = random.Random(f"builder-{space.name}")
    return [space.sample(rng) for _ in range(count)]


@pytest.mark.parametrize("in_channels, num_classes", [(1, 10), (3, 100)])
def test_parameter_count_matches_hand_count(space, in_channels, num_classes):
    for genome in _genomes(space, 30):
        model = evohybrid.build_model(genome, in_channels=in_channels, num_classes=num_classes)
        expected = expected_parameters(genome, in_channels, num_classes)
        assert evohybrid.count_parameters(model) == expected, genome.describe()
        assert sum(p.numel() for p in model.parameters()) == expected


def test_parameter_count_of_hand_picked_genomes():
    # stem 4: 36 + 8; block 4->8 k3 with projection: 288+16+576+16 + 32+16; head 8*10+10.
    genome = Genome(4, (StageGene(1, 8, 3, 1, (True,)),))
    assert evohybrid.count_parameters(evohybrid.build_model(genome)) == 44 + 944 + 90
    # The same block without a shortcut has no projection; an identity shortcut has no parameters.
    plain = Genome(4, (StageGene(1, 8, 3, 1, (False,)),))
    assert evohybrid.count_parameters(evohybrid.build_model(plain)) == 44 + 896 + 90
    identity = Genome(8, (StageGene(1, 8, 3, 1, (True,)),))
    assert evohybrid.count_parameters(evohybrid.build_model(identity)) == (72 + 16) + (576 + 16 + 576 + 16) + 90


@pytest.mark.parametrize("size", [12, 28])
def test_flops_match_hand_count(space, size):
    for genome in _genomes(space, 15):
        model = evohybrid.build_model(genome, in_channels=3, num_classes=10)
        assert evohybrid.count_flops(model, _input(genome, 3, size)) == expected_flops(genome, 3, size, 10), \
            genome.describe()


def _widened(genome: Genome) -> Genome:
    return dataclasses.replace(genome, stem_width=genome.stem_width * 2, stages=tuple(
        dataclasses.replace(stage, width=stage.width * 2) if stage.depth else stage for stage in genome.stages))


def test_flops_positive_and_larger_for_a_wider_genome(space):
    for genome in _genomes(space, 10):
        narrow, wide = evohybrid.build_model(genome), evohybrid.build_model(_widened(genome))
        narrow_flops = evohybrid.count_flops(narrow, _input(genome, 1, 16))
        assert narrow_flops > 0
        assert evohybrid.count_flops(wide, _input(genome, 1, 16)) > narrow_flops
        assert evohybrid.count_parameters(wide) > evohybrid.count_parameters(narrow)
        assert evohybrid.count_flops(narrow, _input(genome, 1, 32)) > narrow_flops


def test_count_flops_leaves_the_model_as_it_was():
    model = evohybrid.build_model(Genome(4, (StageGene(2, 8, 3, 2, (True, False)),)))
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    model.train()
    first = evohybrid.count_flops(model, (1, 12, 12))
    assert model.training
    assert evohybrid.count_flops(model, (1, 12, 12)) == first  # no hook left behind to count twice
    model.eval()
    assert evohybrid.count_flops(model, (1, 12, 12)) == first
    assert not model.training
    # BN running statistics are untouched (evaluation mode inside).
    assert all(torch.equal(state[name], tensor) for name, tensor in model.state_dict().items())


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def test_same_seed_gives_identical_weights(space):
    for genome in _genomes(space, 5):
        first = _state(evohybrid.build_model(genome, seed=123))
        second = _state(evohybrid.build_model(genome, seed=123))
        assert first.keys() == second.keys()
        assert all(torch.equal(first[name], second[name]) for name in first)


def test_different_seed_gives_different_weights(space):
    for genome in _genomes(space, 5):
        first = dict(evohybrid.build_model(genome, seed=1).named_parameters())
        second = dict(evohybrid.build_model(genome, seed=2).named_parameters())
        randomised = [name for name, param in first.items() if not name.endswith("bias") or name.startswith("head")]
        assert randomised
        for name in randomised:  # every randomly initialised tensor differs, not just one
            assert not torch.equal(first[name], second[name]), name


def test_initialisation_does_not_depend_on_the_global_torch_seed():
    genome = Genome(4, (StageGene(1, 8, 3, 1, (True,)),))
    torch.manual_seed(0)
    first = _state(evohybrid.build_model(genome, seed=5))
    torch.manual_seed(1)
    second = _state(evohybrid.build_model(genome, seed=5))
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_batchnorm_initialisation(space):
    for genome in _genomes(space, 10):
        model = evohybrid.build_model(genome, seed=7)
        norms = [module for module in model.modules() if isinstance(module, _BatchNorm)]
        assert len(norms) == 1 + 2 * genome.depth + sum(
            residual and (stride == 2 or w_in != w) for w_in, w, _k, stride, residual in _blocks(genome))
        gammas = torch.cat([bn.weight.detach() for bn in norms])
        assert gammas.min() >= 0.0 and gammas.max() <= 1.0
        assert len(torch.unique(gammas)) > 1  # drawn at random, not constant
        for bn in norms:
            assert torch.equal(bn.bias.detach(), torch.zeros_like(bn.bias))


def test_batchnorm_initialisation_ones_changes_only_gamma():
    genome = Genome(4, (StageGene(2, 8, 3, 2, (True, False)),))
    uniform = _state(evohybrid.build_model(genome, seed=3))
    ones = _state(evohybrid.build_model(genome, seed=3, bn_init="ones"))
    for name, value in ones.items():
        if name.endswith(".weight") and value.dim() == 1:  # BatchNorm gamma
            assert torch.equal(value, torch.ones_like(value)), name
        else:
            assert torch.equal(value, uniform[name]), name
    with pytest.raises(ConfigError, match="ones"):
        evohybrid.build_model(genome, bn_init="normal")


def _kind(model, name: str) -> str:
    module_name = name.rsplit(".", 1)[0]
    module = model.get_submodule(module_name)
    if module is model.head:
        return "head"
    return "bn" if isinstance(module, _BatchNorm) else "other"


@pytest.mark.parametrize("trainable, kinds", [
    ("bn", {"bn"}), ("head", {"head"}), ("bn+head", {"bn", "head"}), ("all", {"bn", "head", "other"}),
])
def test_trainable_sets(space, trainable, kinds):
    genome = _genomes(space, 1)[0]
    for model in (evohybrid.build_model(genome, trainable=trainable),
                  evohybrid.build_model(genome, trainable="all" if trainable != "all" else "bn")):
        returned = set_trainable(model, trainable)
        named = list(model.named_parameters())
        assert {_kind(model, name) for name, _ in named} == {"bn", "head", "other"}
        for name, param in named:
            assert param.requires_grad == (_kind(model, name) in kinds), name
        assert {id(p) for p in returned} == {id(p) for _, p in named if p.requires_grad}
    if trainable == "bn":
        trainable_names = {name for name, p in model.named_parameters() if p.requires_grad}
        assert all(name.endswith((".weight", ".bias")) for name in trainable_names)


def test_trainable_sets_are_all_known():
    assert set(TRAINABLE_SETS) == {"bn", "head", "bn+head", "all"}
    model = evohybrid.build_model(Genome(4, (StageGene(1, 8, 3, 1, (True,)),)))
    with pytest.raises(ConfigError, match="conv"):
        set_trainable(model, "conv")
    with pytest.raises(ConfigError):
        evohybrid.build_model(Genome(4, (StageGene(1, 8, 3, 1, (True,)),)), trainable="everything")


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("size", [12, 16, 28, 32])
def test_forward_shapes(space, in_channels, size):
    for num_classes, genome in zip((10, 100, 7), _genomes(space, 3)):
        model = evohybrid.build_model(genome, in_channels=in_channels, num_classes=num_classes)
        images = torch.randn(2, *_input(genome, in_channels, size), generator=torch.Generator().manual_seed(size))
        model.train()
        assert model(images).shape == (2, num_classes)
        model.eval()
        with torch.no_grad():
            logits = model(images)
        assert logits.shape == (2, num_classes)
        assert torch.isfinite(logits).all()


def test_wrong_number_of_input_channels_is_an_error():
    model = evohybrid.build_model(Genome(4, (StageGene(1, 8, 3, 1, (True,)),)), in_channels=3)
    with pytest.raises(RuntimeError):
        model(torch.zeros(1, 1, 12, 12))
