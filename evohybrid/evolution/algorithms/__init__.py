"""The registry of search algorithms: name -> ask/tell class."""

from __future__ import annotations

from ...config import SearchConfig
from ...errors import ConfigError
from ...spaces.space import SearchSpace
from .aging import AgingEvolution
from .base import Algorithm, Proposal, SpaceExhausted
from .nsga2 import NSGA2, SteadyStateNSGA2
from .random_search import RandomSearch

ALGORITHMS: dict[str, type[Algorithm]] = {cls.name: cls for cls in (NSGA2, SteadyStateNSGA2, AgingEvolution, RandomSearch)}


def make_algorithm(space: SearchSpace, cfg: SearchConfig, seed: int) -> Algorithm:
    """A fresh algorithm of the configured kind."""
    if cfg.algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm '{cfg.algorithm}': use one of {sorted(ALGORITHMS)}")
    return ALGORITHMS[cfg.algorithm](space, cfg, seed)


__all__ = ["ALGORITHMS", "Algorithm", "Proposal", "SpaceExhausted", "make_algorithm"]
