"""Genome -> torch.nn.Module, initialised as in the BatchNorm-only work, with a chosen trainable set. The genome's
kind (`kinds.py`) says whether the convolutions run over images (2D) or series (1D)."""

from __future__ import annotations

import hashlib
import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from ..errors import ConfigError
from .builder_names import BN_INITS, TRAINABLE_SETS
from .genome import Genome, StageGene
from .kinds import Kind, kind_of


def layers(kind: Kind) -> tuple[type[_ConvNd], type[_BatchNorm]]:
    """The convolution and BatchNorm classes of a kind's dimensionality."""
    return getattr(nn, f"Conv{kind.dims}d"), getattr(nn, f"BatchNorm{kind.dims}d")


def shortcut(kind: Kind, in_width: int, width: int, stride: int, *, normalise_identity: bool) -> nn.Module:
    """A block's shortcut: a 1x1 projection with BatchNorm where the shape changes, otherwise the identity (with
    BatchNorm where the block's reference has one: Wang et al.'s ResNet and InceptionTime)."""
    conv, norm = layers(kind)
    if stride != 1 or in_width != width:
        return nn.Sequential(conv(in_width, width, 1, stride, bias=False), norm(width))
    return norm(width) if normalise_identity else nn.Identity()


def odd_kernel(taps: int) -> int:
    """The odd size at or below `taps` (at least 1): an odd kernel keeps the length centred under 'same' padding."""
    return max(1, taps if taps % 2 else taps - 1)


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, plus a shortcut when `residual` (a 1x1 projection if the shape changes)."""

    def __init__(self, kind: Kind, in_width: int, stage: StageGene, stride: int, residual: bool) -> None:
        super().__init__()
        width, kernel, dilation = stage.width, stage.kernel, stage.dilation
        conv, norm = layers(kind)
        padding = dilation * (kernel // 2)  # the output keeps the input's size (before the stride)
        self.conv1 = conv(in_width, width, kernel, stride, padding, dilation, bias=False)
        self.bn1 = norm(width)
        self.conv2 = conv(width, width, kernel, 1, padding, dilation, bias=False)
        self.bn2 = norm(width)
        # ReLUs as modules, one per use, so zero-cost proxies can hook every activation.
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.shortcut = shortcut(kind, in_width, width, stride, normalise_identity=False) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu2(out)


class PlainBlock(nn.Module):
    """conv-BN-ReLU, a layer of FCN (Wang et al. 2017), plus a shortcut before the ReLU when `residual`."""

    def __init__(self, kind: Kind, in_width: int, stage: StageGene, stride: int, residual: bool) -> None:
        super().__init__()
        conv, norm = layers(kind)
        padding = stage.dilation * (stage.kernel // 2)
        self.conv = conv(in_width, stage.width, stage.kernel, stride, padding, stage.dilation, bias=False)
        self.bn = norm(stage.width)
        self.relu = nn.ReLU()
        self.shortcut = shortcut(kind, in_width, stage.width, stride, normalise_identity=False) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class ResNetBlock(nn.Module):
    """A block of Wang et al.'s ResNet for series: three conv-BN of k, k-2 and k-4 taps (7, 5, 3 for k = 7; the
    paper's 8, 5, 3 made odd), ReLUs between, a BatchNorm'd shortcut when `residual`, then a ReLU."""

    def __init__(self, kind: Kind, in_width: int, stage: StageGene, stride: int, residual: bool) -> None:
        super().__init__()
        conv, norm = layers(kind)
        width, dilation = stage.width, stage.dilation
        kernels = [odd_kernel(stage.kernel - 2 * step) for step in range(3)]
        self.convs = nn.ModuleList(conv(in_width if step == 0 else width, width, kernel, stride if step == 0 else 1,
                                        dilation * (kernel // 2), dilation, bias=False)
                                   for step, kernel in enumerate(kernels))
        self.bns = nn.ModuleList(norm(width) for _ in kernels)
        self.relus = nn.ModuleList(nn.ReLU() for _ in kernels)
        self.shortcut = shortcut(kind, in_width, width, stride, normalise_identity=True) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for step, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            out = bn(conv(out))
            if step < len(self.convs) - 1:
                out = self.relus[step](out)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relus[-1](out)


class InceptionModule(nn.Module):
    """InceptionTime's module (Fawaz et al. 2020): a 1x1 bottleneck, then convolutions of k, k/2 and k/4 taps (made
    odd: 39, 19, 9 for k = 39) beside a max-pool and 1x1 branch, each a quarter of `width`, concatenated, BN, ReLU."""

    def __init__(self, kind: Kind, in_width: int, width: int, kernel: int, stride: int, dilation: int) -> None:
        super().__init__()
        conv, norm = layers(kind)
        branch = width // 4
        # A single input channel needs no bottleneck (as in the reference).
        self.bottleneck = conv(in_width, branch, 1, bias=False) if in_width > 1 else nn.Identity()
        inner = branch if in_width > 1 else in_width
        kernels = [odd_kernel(kernel // 2 ** step) for step in range(3)]
        self.convs = nn.ModuleList(conv(inner, branch, taps, stride, dilation * (taps // 2), dilation, bias=False)
                                   for taps in kernels)
        self.pool = getattr(nn, f"MaxPool{kind.dims}d")(3, stride, 1)
        self.pool_conv = conv(in_width, branch, 1, bias=False)
        self.bn = norm(width)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = self.bottleneck(x)
        out = torch.cat([conv(inner) for conv in self.convs] + [self.pool_conv(self.pool(x))], dim=1)
        return self.relu(self.bn(out))


class InceptionBlock(nn.Module):
    """InceptionTime's residual block: three inception modules, and when `residual` a BatchNorm'd shortcut around
    them followed by a ReLU (the network of the paper is two such blocks of width 128, kernel 39)."""

    def __init__(self, kind: Kind, in_width: int, stage: StageGene, stride: int, residual: bool) -> None:
        super().__init__()
        self.modules_ = nn.Sequential(*(InceptionModule(kind, in_width if step == 0 else stage.width, stage.width,
                                                        stage.kernel, stride if step == 0 else 1, stage.dilation)
                                        for step in range(3)))
        self.shortcut = shortcut(kind, in_width, stage.width, stride, normalise_identity=True) if residual else None
        self.relu = nn.ReLU() if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.modules_(x)
        if self.shortcut is None:
            return out
        return self.relu(out + self.shortcut(x))


BLOCKS = {"basic": BasicBlock, "plain": PlainBlock, "resnet": ResNetBlock, "inception": InceptionBlock}


class GenomeNet(nn.Module):
    """Stem, the genome's stages (each block of its stage's type), global average pooling and a linear classifier."""

    def __init__(self, genome: Genome, in_channels: int, num_classes: int) -> None:
        super().__init__()
        kind = kind_of(genome)
        conv, norm = layers(kind)
        # Stem width 0: no stem, the first block reads the input (FCN, ResNet-1D and InceptionTime have none).
        self.stem = nn.Sequential(conv(in_channels, genome.stem_width, 3, 1, 1, bias=False), norm(genome.stem_width),
                                  nn.ReLU()) if genome.stem_width else nn.Identity()
        blocks: list[nn.Module] = []
        width = genome.stem_width or in_channels
        for stage in genome.stages:
            for index in range(stage.depth):
                stride = stage.stride if index == 0 else 1
                blocks.append(BLOCKS[stage.block](kind, width, stage, stride, stage.residual[index]))
                width = stage.width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features that the linear head reads: each channel's mean over every position."""
        out = self.blocks(self.stem(x))
        return out.mean(dim=tuple(range(2, out.ndim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _initialise(model: nn.Module, generator: torch.Generator, bn_init: str) -> None:
    # He-normal convolutions, gamma ~ U[0, 1] (Frankle et al. 2020) or 1 (PyTorch's default), beta = 0.
    if bn_init not in BN_INITS:
        raise ConfigError(f"unknown BatchNorm initialisation '{bn_init}': use one of {list(BN_INITS)}")
    for module in model.modules():
        if isinstance(module, _ConvNd):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        elif isinstance(module, _BatchNorm):
            # Drawn either way, so every other weight is the same whatever bn_init is.
            nn.init.uniform_(module.weight, 0.0, 1.0, generator=generator)
            if bn_init == "ones":
                nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.kaiming_uniform_(module.weight, a=5 ** 0.5, generator=generator)
            bound = 1 / module.in_features ** 0.5
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def set_trainable(model: GenomeNet, trainable: str) -> list[nn.Parameter]:
    """Freeze every parameter except the trainable set; return the trainable parameters."""
    if trainable not in TRAINABLE_SETS:
        raise ConfigError(f"unknown trainable set '{trainable}': use one of {list(TRAINABLE_SETS)}")
    train_bn = trainable in ("bn", "bn+head", "all")
    train_head = trainable in ("head", "bn+head", "all")
    for module in model.modules():
        is_bn, is_head = isinstance(module, _BatchNorm), module is model.head
        for param in module.parameters(recurse=False):
            param.requires_grad_(trainable == "all" or (is_bn and train_bn) or (is_head and train_head))
    return [param for param in model.parameters() if param.requires_grad]


def genome_seed(run_seed: int, genome: Genome, repeat: int = 0) -> int:
    """The weight seed of a genome: the same network gets the same random weights whoever evaluates it. Repeat r > 0
    (fitness.repeats) draws another set of weights for the same network."""
    key = f"{run_seed}:{genome.hash}" + (f":{repeat}" if repeat else "")
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2 ** 63 - 1)


def build_model(genome: Genome, *, in_channels: int = 1, num_classes: int = 10, seed: int = 0,
                trainable: str = "bn", bn_init: str = "uniform") -> GenomeNet:
    """A randomly initialised network for `genome`; the same seed gives bit-identical weights."""
    model = GenomeNet(genome, in_channels, num_classes)
    _initialise(model, torch.Generator().manual_seed(seed), bn_init)
    set_trainable(model, trainable)
    return model


def trained_model(genome: Genome, state_dict: dict[str, torch.Tensor], *, in_channels: int,
                  num_classes: int) -> GenomeNet:
    """The network of `genome` with trained weights (loaded weights-only by the caller), every weight trainable."""
    model = GenomeNet(genome, in_channels, num_classes)
    model.load_state_dict(state_dict)
    set_trainable(model, "all")
    return model


def count_parameters(model: nn.Module) -> int:
    """Every parameter, trainable or frozen: the size of the architecture."""
    return sum(param.numel() for param in model.parameters())


def bn_gamma_indicator(model: nn.Module) -> float:
    """BN-NAS's indicator (Chen et al. 2021): the mean |gamma| of each BatchNorm layer, averaged over layers so
    that it does not grow with depth. Read after BN-only training, it costs nothing more."""
    means = [module.weight.detach().abs().mean() for module in model.modules() if isinstance(module, _BatchNorm)]
    return float(torch.stack(means).mean()) if means else 0.0


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass for one input of `input_shape` (channels, *spatial), from the
    convolution and linear layers."""
    total = 0

    def conv_hook(module: _ConvNd, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        per_position = module.in_channels // module.groups * math.prod(module.kernel_size)
        total += output.numel() // output.shape[0] * per_position

    def linear_hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += module.in_features * module.out_features

    handles = [module.register_forward_hook(conv_hook if isinstance(module, _ConvNd) else linear_hook)
               for module in model.modules() if isinstance(module, (_ConvNd, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
