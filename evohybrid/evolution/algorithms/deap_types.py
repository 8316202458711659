"""DEAP fitness and individual classes, defined in a module (not with `creator.create`) so they pickle anywhere."""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Iterator

from deap import base

from ...spaces.genome import Genome


class ParetoFitness(base.Fitness):
    weights = (1.0, -1.0)  # maximise validation accuracy, minimise parameter count


class Individual:
    """A genome with the `fitness` attribute that DEAP's selection operators read."""

    def __init__(self, genome: Genome, values: tuple[float, float]) -> None:
        self.genome = genome
        self.fitness = ParetoFitness(values)


@contextmanager
def global_random_seeded(seed: int) -> Iterator[None]:
    """DEAP's operators draw from the global `random`; seed it from our own generator, then put it back."""
    saved = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(saved)
