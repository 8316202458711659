"""Alternative fitness signals: zero-cost proxies (NASWOT, synflow, ZiCo, the number of weight layers) and a
closed-form ridge readout on frozen random features (Extreme Learning Machine / ROCKET style)."""

from __future__ import annotations

import copy
import math
from typing import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from ..data import SearchSplit, normalise
from ..spaces.builder import GenomeNet


def naswot_score(model: nn.Module, images: torch.Tensor) -> float:
    """NASWOT (Mellor et al. 2021): log |det K|, K[i, j] = ReLUs at which images i and j share a binary code.

    `images` is a normalised float batch; larger scores mean more distinguishable activation patterns.
    """
    kernel = torch.zeros(len(images), len(images), dtype=torch.float64)

    def hook(_module: nn.Module, _inputs, output: torch.Tensor) -> None:
        codes = (output.detach().flatten(1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    handles = [module.register_forward_hook(hook) for module in model.modules() if isinstance(module, nn.ReLU)]
    try:
        model.train()  # batch statistics, as at initialisation
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return float(torch.linalg.slogdet(kernel)[1])


def synflow_score(model: nn.Module, input_shape: tuple[int, int, int]) -> float:
    """synflow (Tanaka et al. 2020): sum over parameters of |theta * dR/dtheta|, where R is the output
    summed for an all-ones input through the network with every parameter replaced by its absolute value."""
    probe = copy.deepcopy(model).double().eval()  # eval: BN acts as a fixed affine map, as in the paper's linearisation
    params = list(probe.parameters())
    with torch.no_grad():
        for param in params:
            param.abs_()
    for param in params:
        param.requires_grad_(True)
    probe.zero_grad()
    probe(torch.ones(1, *input_shape, dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        return float(sum((param * param.grad).abs().sum() for param in params if param.grad is not None))


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The convolution and linear layers: the layers whose weights full training would learn."""
    return [module for module in model.modules() if isinstance(module, (_ConvNd, nn.Linear))]


def depth_score(model: nn.Module) -> float:
    """The number of weight layers (convolutions, 1x1 shortcut projections included, and linear layers): a size
    measure that ranks NAS-Bench-201 better than single zero-cost proxies do."""
    return float(len(weight_layers(model)))


def zico_score(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """ZiCo (Li et al., ICLR 2023): per weight layer, the sum over its weights of mean |gradient| / standard deviation
    of the gradient across `batches` (normalised inputs, labels), summed in log over layers. Weights whose gradient
    does not vary are left out, as in the authors' code. Turns on the gradients of the weight layers."""
    layers = weight_layers(model)
    for layer in layers:
        layer.weight.requires_grad_(True)
    model.train()  # batch statistics, as at initialisation
    gradients: list[list[torch.Tensor]] = [[] for _ in layers]
    for inputs, labels in batches:
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(inputs), labels).backward()
        for store, layer in zip(gradients, layers):
            store.append(layer.weight.grad.detach().double().flatten().clone())
    score = 0.0
    for store in gradients:
        stacked = torch.stack(store)
        std, mean_abs = stacked.std(dim=0, unbiased=False), stacked.abs().mean(dim=0)
        varying = std > 0
        total = float((mean_abs[varying] / std[varying]).sum())
        if total > 0:
            score += math.log(total)
    model.zero_grad(set_to_none=True)
    return score


def ridge_fit(features: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    """Weights W minimising |X W - Y|^2 + ridge |W|^2, with a bias column appended to X."""
    x = torch.cat([features, torch.ones(len(features), 1, dtype=features.dtype)], dim=1)
    gram = x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype)
    return torch.linalg.solve(gram, x.T @ targets)


def ridge_predict(weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    x = torch.cat([features, torch.ones(len(features), 1, dtype=features.dtype)], dim=1)
    return x @ weights


def _pooled_features(model: GenomeNet, inputs: torch.Tensor, split: SearchSplit, batch_size: int) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([model.features(normalise(inputs[start:start + batch_size], split)).double()
                          for start in range(0, len(inputs), batch_size)])


def readout_classifier(model: GenomeNet, split: SearchSplit, *, ridge: float = 1e-2,
                       batch_size: int = 1000) -> Callable[[torch.Tensor], torch.Tensor]:
    """An extreme learning machine on the network's random features: a ridge classifier fitted on the pooled
    features of the training slice (one forward pass to set BN statistics, one to extract features, no gradient
    step); returns the function from inputs to predicted labels."""
    # BN running statistics from the training slice (a cumulative average), so features are standardised.
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, len(split.train_labels), batch_size):
            model.features(normalise(split.train_inputs[start:start + batch_size], split))
    model.eval()
    train_features = _pooled_features(model, split.train_inputs, split, batch_size)
    mean, std = train_features.mean(0), train_features.std(0).clamp_min(1e-6)
    targets = torch.nn.functional.one_hot(split.train_labels, split.num_classes).double()
    weights = ridge_fit((train_features - mean) / std, targets, ridge * len(train_features))

    def predict(inputs: torch.Tensor) -> torch.Tensor:
        return ridge_predict(weights, (_pooled_features(model, inputs, split, batch_size) - mean) / std).argmax(dim=1)

    return predict


def readout_accuracy(model: GenomeNet, split: SearchSplit, *, ridge: float = 1e-2, batch_size: int = 1000) -> float:
    """Validation accuracy of the ridge readout on the network's random features (`readout_classifier`)."""
    predictions = readout_classifier(model, split, ridge=ridge, batch_size=batch_size)(split.val_inputs)
    return float((predictions == split.val_labels).double().mean())
