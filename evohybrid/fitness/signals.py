"""Zero-cost signals by name: each scores a network at its random initialisation, from a few training batches at
most, with no training step. The proxy study measures every one; a search can add them to its records and rank on
them (an ensemble fitness) or screen its offspring with one."""

from __future__ import annotations

import math
from typing import Callable

from torch import nn

from ..data import SearchSplit, normalise
from ..signal_names import ZERO_COST_SIGNALS
from ..spaces.builder import build_model, count_parameters, genome_seed
from ..spaces.genome import Genome
from .proxies import depth_score, naswot_score, synflow_score, zico_score

NASWOT_BATCH = 128  # the NASWOT paper's batch
ZICO_BATCHES, ZICO_BATCH = 2, 64  # the ZiCo paper's two batches


def _naswot(model: nn.Module, split: SearchSplit) -> float:
    return naswot_score(model, normalise(split.train_inputs[:NASWOT_BATCH], split))


def _synflow(model: nn.Module, split: SearchSplit) -> float:
    # In log: the raw score spans hundreds of orders of magnitude over a space.
    return math.log(max(synflow_score(model, split.input_shape), 1e-300))


def _zico(model: nn.Module, split: SearchSplit) -> float:
    count = min(ZICO_BATCH, len(split.train_labels) // ZICO_BATCHES)
    batches = [(normalise(split.train_inputs[start:start + count], split), split.train_labels[start:start + count])
               for start in range(0, ZICO_BATCHES * count, count)]
    return zico_score(model, batches)


def _depth(model: nn.Module, _split: SearchSplit) -> float:
    return depth_score(model)


ZERO_COST: dict[str, Callable[[nn.Module, SearchSplit], float]] = {
    "naswot": _naswot, "synflow": _synflow, "zico": _zico, "depth": _depth}
assert tuple(ZERO_COST) == ZERO_COST_SIGNALS, "signal_names.py lists the registry's names, in its order"


def zero_cost_signal(name: str, model: nn.Module, split: SearchSplit) -> float | None:
    """The named signal of a freshly initialised model, on the model's device; None when it is not finite."""
    device = next(model.parameters()).device
    value = ZERO_COST[name](model, split.to(device) if split.train_inputs.device != device else split)
    return value if math.isfinite(value) else None


__all__ = ["ZERO_COST", "screen", "zero_cost_signal"]


def screen(genomes: list[Genome], split: SearchSplit, signal: str, seed: int) -> list[tuple[float | None, int]]:
    """(score, parameters) of each genome: the zero-cost `signal` of its network at the weights its evaluation would
    start from (on the CPU: a few forward passes cost less than moving the network). A network that cannot even be
    built or scored gets None, below every score."""
    results: list[tuple[float | None, int]] = []
    for genome in genomes:
        model = build_model(genome, in_channels=split.input_shape[0], num_classes=split.num_classes,
                            seed=genome_seed(seed, genome))
        try:
            score = zero_cost_signal(signal, model, split)
        except Exception:  # a network that fails here would fail its evaluation too: screen it out, not the search
            score = None
        results.append((score, count_parameters(model)))
    return results
