"""Genome -> network: sizes counted by hand, seeded initialisation, trainable sets, shapes and FLOPs, for every
shipped space (images for conv2d spaces, series for conv1d ones)."""

from __future__ import annotations

import dataclasses
import random
from typing import NamedTuple

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import evohybrid
from evohybrid.errors import ConfigError
from evohybrid.spaces.builder import set_trainable
from evohybrid.spaces.builder_names import TRAINABLE_SETS
from evohybrid.spaces.genome import BLOCK_TYPES, Genome, StageGene
from evohybrid.spaces.kinds import KINDS


def _dims(genome: Genome) -> int:
    return KINDS[genome.kind].dims


def _input(genome: Genome, channels: int, size: int) -> tuple[int, ...]:
    """The shape of one input: (C, size, size) for images, (C, size) for series."""
    return (channels,) + (size,) * _dims(genome)


class _Block(NamedTuple):
    block: str
    w_in: int
    w: int
    k: int
    stride: int
    residual: bool


def _blocks(genome: Genome, in_channels: int = 1):
    """Every block, in order; the first reads the stem, or the input where there is none (stem width 0)."""
    width = genome.stem_width or in_channels
    for stage in genome.stages:
        for index in range(stage.depth):
            yield _Block(stage.block, width, stage.width, stage.kernel, stage.stride if index == 0 else 1,
                         stage.residual[index])
            width = stage.width


def _last_width(genome: Genome) -> int:
    return [stage.width for stage in genome.stages if stage.depth][-1]


def _odd(taps: int) -> int:
    """The odd kernel at or below `taps`, at least 1 (resnet's k-2 and k-4, inception's k/2 and k/4)."""
    return max(1, taps if taps % 2 else taps - 1)


def _projects(b: _Block) -> bool:
    """A shortcut that changes the shape: a 1x1 convolution and a BatchNorm."""
    return b.residual and (b.stride == 2 or b.w_in != b.w)


def _normalised_identity(b: _Block) -> bool:
    """An identity shortcut with a BatchNorm on it: resnet and inception blocks (basic and plain: a bare identity)."""
    return b.residual and not _projects(b) and b.block in ("resnet", "inception")


def _resnet_kernels(k: int) -> list[int]:
    return [_odd(k), _odd(k - 2), _odd(k - 4)]


def _inception_kernels(k: int) -> list[int]:
    return [_odd(k), _odd(k // 2), _odd(k // 4)]


def expected_parameters(genome: Genome, in_channels: int, num_classes: int) -> int:
    stem, dims = genome.stem_width, _dims(genome)
    volume = lambda k: k ** dims  # noqa: E731 - the taps of a kernel of k per dimension
    total = 3 ** dims * in_channels * stem + 2 * stem
    for b in _blocks(genome, in_channels):
        w_in, w, k = b.w_in, b.w, b.k
        if b.block == "basic":  # conv-BN-ReLU-conv-BN
            total += volume(k) * w_in * w + 2 * w + volume(k) * w * w + 2 * w
        elif b.block == "plain":  # conv-BN
            total += volume(k) * w_in * w + 2 * w
        elif b.block == "resnet":  # three conv-BN of k, k-2, k-4 taps
            k1, k2, k3 = _resnet_kernels(k)
            total += volume(k1) * w_in * w + volume(k2) * w * w + volume(k3) * w * w + 3 * 2 * w
        else:  # three inception modules
            for m_in in (w_in, w, w):
                branch = w // 4
                inner = branch if m_in > 1 else m_in
                total += (m_in * branch if m_in > 1 else 0)  # the 1x1 bottleneck
                total += sum(volume(taps) * inner * branch for taps in _inception_kernels(k))
                total += m_in * branch + 2 * w  # the pool branch's 1x1 convolution; the BatchNorm
        if _projects(b):
            total += w_in * w + 2 * w
        elif _normalised_identity(b):
            total += 2 * w
    return total + _last_width(genome) * num_classes + num_classes


def expected_flops(genome: Genome, in_channels: int, size: int, num_classes: int) -> int:
    """Multiply-accumulates; an odd kernel with padding dilation * (k // 2) and stride s gives ceil(n / s) outputs
    along each dimension, and so does the inception module's max-pool (3, s, 1)."""
    stem, dims = genome.stem_width, _dims(genome)
    volume = lambda k: k ** dims  # noqa: E731
    total = size ** dims * stem * in_channels * 3 ** dims
    for b in _blocks(genome, in_channels):
        w_in, w, k = b.w_in, b.w, b.k
        before, size = size ** dims, -(-size // b.stride)
        positions = size ** dims  # where the block's outputs are
        if b.block == "basic":
            total += positions * w * (w_in + w) * volume(k)
        elif b.block == "plain":
            total += positions * w * w_in * volume(k)
        elif b.block == "resnet":
            k1, k2, k3 = _resnet_kernels(k)
            total += positions * w * (w_in * volume(k1) + w * volume(k2) + w * volume(k3))
        else:
            # Only the first module strides: its bottleneck runs at the input's positions, before the stride.
            for m_in, m_before in ((w_in, before), (w, positions), (w, positions)):
                branch = w // 4
                inner = branch if m_in > 1 else m_in
                total += m_before * branch * m_in if m_in > 1 else 0
                total += positions * branch * inner * sum(volume(taps) for taps in _inception_kernels(k))
                total += positions * branch * m_in
        if _projects(b):
            total += positions * w * w_in
    return total + _last_width(genome) * num_classes


def expected_batchnorms(genome: Genome, in_channels: int = 1) -> int:
    """One per convolution of a block but the inception ones (one per module), one per projection or normalised
    identity shortcut, and the stem's."""
    per_block = {"basic": 2, "plain": 1, "resnet": 3, "inception": 3}
    return (1 if genome.stem_width else 0) + sum(
        per_block[b.block] + (_projects(b) or _normalised_identity(b)) for b in _blocks(genome, in_channels))


def expected_relus(genome: Genome) -> int:
    """One per activation: basic two, plain one, resnet three, inception one per module and one after the shortcut;
    the stem's."""
    per_block = {"basic": 2, "plain": 1, "resnet": 3, "inception": 3}
    return (1 if genome.stem_width else 0) + sum(
        per_block[b.block] + (b.block == "inception" and b.residual) for b in _blocks(genome))


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


def test_parameter_count_of_hand_picked_blocks_of_every_type():
    # plain, stem 4 (9*1*4 + 8 = 44); block 4->8 k3: conv 9*4*8 = 288, BN 16; projection 4*8 + 16 = 48; head 90.
    plain = Genome(4, (StageGene(1, 8, 3, 1, (True,), block="plain"),))
    assert evohybrid.count_parameters(evohybrid.build_model(plain)) == 44 + (288 + 16) + 48 + 90 == 486
    # resnet, series, stem 4 (3*1*4 + 8 = 20); block 4->4 k7, kernels 7, 5, 3: 7*4*4 + 5*4*4 + 3*4*4 = 240, three BNs
    # 3*8 = 24; identity shortcut with a BN: 8; head 4*10 + 10 = 50.
    resnet = Genome(4, (StageGene(1, 4, 7, 1, (True,), block="resnet"),), "conv1d")
    assert evohybrid.count_parameters(evohybrid.build_model(resnet)) == 20 + (240 + 24) + 8 + 50 == 342
    # k3 makes kernels 3, 1, 1 (k-2 = 1, k-4 = -1: at least one tap): 3*16 + 16 + 16 = 80, + 24 + 8.
    short = Genome(4, (StageGene(1, 4, 3, 1, (True,), block="resnet"),), "conv1d")
    assert evohybrid.count_parameters(evohybrid.build_model(short)) == 20 + (80 + 24) + 8 + 50 == 182
    # inception, series, no stem, 1 input channel, width 8 (branches of 2), k5: kernels 5, 1 (5//2 = 2 made odd), 1.
    #   module 1 (in 1: no bottleneck, the convolutions read the input): 5*1*2 + 1*1*2 + 1*1*2 = 14, pool conv 1*2 = 2,
    #     BN 16: 32;
    #   modules 2, 3 (in 8): bottleneck 8*2 = 16, convolutions 5*2*2 + 1*2*2 + 1*2*2 = 28, pool conv 8*2 = 16, BN 16: 76;
    #   head 8*10 + 10 = 90.
    inception = Genome(0, (StageGene(1, 8, 5, 1, (False,), block="inception"),), "conv1d")
    assert evohybrid.count_parameters(evohybrid.build_model(inception)) == 32 + 76 + 76 + 90 == 274
    # With a shortcut: 1 -> 8 channels, a projection 1*8 + 16 = 24.
    residual = Genome(0, (StageGene(1, 8, 5, 1, (True,), block="inception"),), "conv1d")
    assert evohybrid.count_parameters(evohybrid.build_model(residual)) == 274 + 24 == 298


def test_parameter_count_of_a_genome_without_a_stem():
    # No stem: the basic block reads the input's 1 channel; 1->4 k3: 3*1*4 + 8 + 3*4*4 + 8 = 76; head 4*10 + 10 = 50.
    genome = Genome(0, (StageGene(1, 4, 3, 1, (False,)),), "conv1d")
    model = evohybrid.build_model(genome)
    assert isinstance(model.stem, nn.Identity)
    assert evohybrid.count_parameters(model) == 76 + 50 == 126
    # 3 input channels: the first convolution is 3*3*4 = 36 instead of 12.
    assert evohybrid.count_parameters(evohybrid.build_model(genome, in_channels=3)) == 126 + 24


def test_flops_of_a_hand_picked_strided_inception_block():
    # No stem, 2 input channels of length 8, width 8 (branches of 2), k5 (kernels 5, 1, 1), stride 2: length 4 after.
    #   module 1: bottleneck at the input's length 8*2*2 = 32; convolutions at length 4: 4*2*2*(5+1+1) = 112; max-pool
    #     then 1x1 convolution at length 4: 4*2*2 = 16;
    #   modules 2, 3 (in 8, length 4): bottleneck 4*2*8 = 64, convolutions 112, pool conv 4*2*8 = 64: 240 each;
    #   projection 2 -> 8 with stride 2: 4*8*2 = 64; head 8*10 = 80.
    genome = Genome(0, (StageGene(1, 8, 5, 2, (True,), block="inception"),), "conv1d")
    model = evohybrid.build_model(genome, in_channels=2)
    assert evohybrid.count_flops(model, (2, 8)) == (32 + 112 + 16) + 2 * 240 + 64 + 80 == 784
    assert expected_flops(genome, 2, 8, 10) == 784


@pytest.mark.parametrize("kind", ["conv2d", "conv1d"])
@pytest.mark.parametrize("block", BLOCK_TYPES)
@pytest.mark.parametrize("stem", [0, 4])
def test_hand_counts_hold_for_every_block_strided_and_dilated(kind, block, stem):
    # The hand counts must hold for strided blocks of every type (series-strides strides them all), with odd sizes
    # (ceil(n / 2) outputs), a width change inside a stage's first block and a dilation.
    genome = Genome(stem, (StageGene(2, 8, 5, 2, (True, False), block=block),
                           StageGene(2, 12, 3, 2, (False, True), dilation=2, block=block)), kind)
    for in_channels, size in ((1, 7), (3, 8)):
        model = evohybrid.build_model(genome, in_channels=in_channels, num_classes=5)
        assert evohybrid.count_parameters(model) == expected_parameters(genome, in_channels, 5)
        assert evohybrid.count_flops(model, _input(genome, in_channels, size)) == \
            expected_flops(genome, in_channels, size, 5)
        assert sum(isinstance(module, _BatchNorm) for module in model.modules()) == \
            expected_batchnorms(genome, in_channels)


@pytest.mark.parametrize("block", BLOCK_TYPES)
@pytest.mark.parametrize("stem", [0, 4])
def test_every_activation_is_its_own_relu_module(block, stem, monkeypatch):
    # Zero-cost proxies (NASWOT) hook nn.ReLU modules: every activation a block applies must be one, used once.
    genome = Genome(stem, (StageGene(2, 8, 3, 1, (True, False), block=block),
                           StageGene(1, 16, 5, 2, (True,), block=block)), "conv1d")
    model = evohybrid.build_model(genome)
    relus = [module for module in model.modules() if isinstance(module, nn.ReLU)]
    assert len(relus) == expected_relus(genome)
    calls: dict[int, int] = {}
    handles = [relu.register_forward_hook(lambda module, _inputs, _output: calls.update(
        {id(module): calls.get(id(module), 0) + 1})) for relu in relus]
    functional = []  # every call of F.relu, a module's or a bare one
    original = nn.functional.relu
    monkeypatch.setattr(nn.functional, "relu", lambda *args, **kwargs: functional.append(1) or original(*args, **kwargs))
    try:
        with torch.no_grad():
            model(torch.randn(2, 1, 12, generator=torch.Generator().manual_seed(0)))
    finally:
        for handle in handles:
            handle.remove()
    assert calls == {id(relu): 1 for relu in relus}  # each module hooked once: none shared, none skipped
    assert len(functional) == len(relus)  # no activation outside a module


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
        assert len(norms) == expected_batchnorms(genome), genome.describe()
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
