"""evohybrid: neural architecture search that joins evolution (DEAP) and gradient descent.

The CLI is a thin layer over this API:

    import evohybrid
    space = evohybrid.load_space("default")
    genome = space.sample(random.Random(0))
    model = evohybrid.build_model(genome)
    record = evohybrid.evaluate(genome, evohybrid.load_config("smoke"))
    result = evohybrid.search(evohybrid.load_config("smoke"), out="results/demo")
    model = evohybrid.load_exported("model.pt")  # after `evohybrid promote` and `evohybrid export`
"""

from __future__ import annotations

from typing import Any

from .config import Config, load_config
from .data import SearchSplit, load_dataset
from .distributed.executors import load_search_split
from .errors import EvohybridError
from .evolution.loop import SearchResult, search
from .fitness.evaluator import evaluate as evaluate_on_split
from .inspection.export import load_exported
from .inspection.pareto import pareto_front
from .spaces.builder import build_model, count_flops, count_parameters
from .spaces.genome import Genome, StageGene
from .spaces.kinds import check_input
from .spaces.space import SearchSpace, load_space


def evaluate(genome: Genome, config: Config | None = None, *, split: SearchSplit | None = None) -> dict[str, Any]:
    """The fitness record of one genome under `config` (data loaded from the config unless `split` is given)."""
    config = config or Config()
    split = split if split is not None else load_search_split(config)
    check_input(genome, split.input_shape)
    return evaluate_on_split(genome, split, config.fitness, seed=config.seed)


__all__ = ["Config", "EvohybridError", "Genome", "SearchResult", "SearchSpace", "SearchSplit", "StageGene",
           "build_model", "count_flops", "count_parameters", "evaluate", "load_config", "load_dataset",
           "load_exported", "load_search_split", "load_space", "pareto_front", "search"]
