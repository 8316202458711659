"""evohybrid: neural architecture search that joins evolution (DEAP) and gradient descent.

The CLI is a thin layer over this API:

    import evohybrid
    space = evohybrid.load_space("default")
    genome = space.sample(random.Random(0))
    model = evohybrid.build_model(genome)
    record = evohybrid.evaluate(genome, evohybrid.load_config("smoke"))
    result = evohybrid.search(evohybrid.load_config("smoke"), out="results/demo")
    model = evohybrid.load_exported("model.pt")  # after `evohybrid promote` and `evohybrid export`

Names are imported on first use, so `import evohybrid` (and the CLI's usage errors) need no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name and the module that defines it.
_HOMES = {
    "Config": "config", "load_config": "config",
    "SearchSplit": "data", "load_dataset": "data",
    "load_search_split": "evolution.executors",
    "EvohybridError": "errors",
    "SearchResult": "evolution.loop", "search": "evolution.loop",
    "load_exported": "inspection.export",
    "pareto_front": "evolution.pareto",
    "build_model": "spaces.builder", "count_flops": "spaces.builder", "count_parameters": "spaces.builder",
    "Genome": "spaces.genome", "StageGene": "spaces.genome",
    "SearchSpace": "spaces.space", "load_space": "spaces.space",
}

if TYPE_CHECKING:
    from .config import Config, load_config
    from .data import SearchSplit, load_dataset
    from .evolution.executors import load_search_split
    from .errors import EvohybridError
    from .evolution.loop import SearchResult, search
    from .inspection.export import load_exported
    from .evolution.pareto import pareto_front
    from .spaces.builder import build_model, count_flops, count_parameters
    from .spaces.genome import Genome, StageGene
    from .spaces.space import SearchSpace, load_space


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'evohybrid' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value  # the next lookup finds it directly
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def evaluate(genome: Genome, config: Config | None = None, *, split: SearchSplit | None = None) -> dict[str, Any]:
    """The fitness record of one genome under `config` (data loaded from the config unless `split` is given)."""
    from .config import Config
    from .evolution.executors import load_search_split
    from .fitness.evaluator import evaluate as evaluate_on_split
    from .spaces.kinds import check_input

    config = config or Config()
    split = split if split is not None else load_search_split(config)
    check_input(genome, split.input_shape)
    return evaluate_on_split(genome, split, config.fitness, seed=config.seed)


__all__ = ["Config", "EvohybridError", "Genome", "SearchResult", "SearchSpace", "SearchSplit", "StageGene",
           "build_model", "count_flops", "count_parameters", "evaluate", "load_config", "load_dataset",
           "load_exported", "load_search_split", "load_space", "pareto_front", "search"]
