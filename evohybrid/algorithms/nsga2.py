"""NSGA-II (Deb et al. 2002) with DEAP's selection: generations of `population` children, elitist
non-dominated sorting and crowding over (accuracy up, parameters down)."""

from __future__ import annotations

from typing import Any

from deap import tools

from ..genome import Genome
from .base import Algorithm, Proposal, objectives, scored_from_json, scored_to_json
from .deap_types import Individual, global_random_seeded


class NSGA2(Algorithm):
    name = "nsga2"
    asynchronous = False  # a generation is selected only once all its children are evaluated

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generation = 0
        self.parents: list[tuple[Genome, tuple[float, float]]] = []
        self.children: list[tuple[Genome, tuple[float, float]]] = []
        self.queue: list[Genome] = [self.space.sample(self.rng) for _ in range(self.cfg.population)]
        self.asked_this_generation = 0

    def ready(self) -> bool:
        return bool(self.queue)

    def _propose(self) -> tuple[Genome, dict[str, Any]]:
        self.asked_this_generation += 1
        return self.queue.pop(0), {"generation": self.generation}

    def _observe(self, proposal: Proposal, record: dict[str, Any]) -> None:
        self.children.append((proposal.genome, objectives(record)))
        if not self.queue and len(self.children) == self.asked_this_generation:
            self._next_generation()

    def _next_generation(self) -> None:
        pool = [Individual(genome, values) for genome, values in self.parents + self.children]
        with global_random_seeded(self.rng.getrandbits(64)):
            survivors = tools.selNSGA2(pool, self.cfg.population)
            chosen = tools.selTournamentDCD(survivors, _multiple_of_four(len(survivors)))
        self.parents = [(ind.genome, tuple(ind.fitness.values)) for ind in survivors]
        self.children, self.asked_this_generation = [], 0
        self.generation += 1
        self.queue = []
        for index in range(self.cfg.population):
            mother, father = chosen[index % len(chosen)].genome, chosen[(index + 1) % len(chosen)].genome
            child = self.space.crossover(mother, father, self.rng) if self.rng.random() < self.cfg.crossover_prob else mother
            self.queue.append(self.space.mutate(child, self.rng))

    def _extra_state(self) -> dict[str, Any]:
        return {"generation": self.generation, "parents": scored_to_json(self.parents),
                "children": scored_to_json(self.children), "queue": [g.to_dict() for g in self.queue],
                "asked_this_generation": self.asked_this_generation}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.generation = state["generation"]
        self.parents = scored_from_json(state["parents"])
        self.children = scored_from_json(state["children"])
        self.queue = [Genome.from_dict(g) for g in state["queue"]]
        self.asked_this_generation = state["asked_this_generation"]


def _multiple_of_four(count: int) -> int:
    # DEAP's crowded tournament takes individuals four at a time.
    return max(4, count - count % 4)
