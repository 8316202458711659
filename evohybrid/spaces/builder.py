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
        self.shortcut: nn.Module | None = None
        if residual:
            self.shortcut = nn.Identity()
            if stride != 1 or in_width != width:
                self.shortcut = nn.Sequential(conv(in_width, width, 1, stride, bias=False), norm(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu2(out)


class GenomeNet(nn.Module):
    """Stem, the genome's stages, global average pooling and a linear classifier."""

    def __init__(self, genome: Genome, in_channels: int, num_classes: int) -> None:
        super().__init__()
        kind = kind_of(genome)
        conv, norm = layers(kind)
        self.stem = nn.Sequential(conv(in_channels, genome.stem_width, 3, 1, 1, bias=False), norm(genome.stem_width),
                                  nn.ReLU())
        blocks: list[nn.Module] = []
        width = genome.stem_width
        for stage in genome.stages:
            for index in range(stage.depth):
                stride = stage.stride if index == 0 else 1
                blocks.append(BasicBlock(kind, width, stage, stride, stage.residual[index]))
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
