"""NSGA-II (Deb et al. 2002) with DEAP's selection: generations of `population` children, elitist
non-dominated sorting and crowding over (accuracy up, parameters down)."""

from __future__ import annotations

from typing import Any

from deap import tools

from ...spaces.genome import Genome
from .base import Algorithm, Proposal, Vector, scored_from_json, scored_to_json
from .deap_types import Individual, global_random_seeded
from .nsga2_selection import select_nsga2


class NSGA2(Algorithm):
    name = "nsga2"
    asynchronous = False  # a generation is selected only once all its children are evaluated
    screens_each_proposal = False  # a generation's offspring are screened together

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generation = 0
        self.parents: list[tuple[Genome, Vector]] = []
        self.children: dict[int, tuple[Genome, Vector]] = {}  # by birth index
        self.queue: list[Genome] = [self.space.sample(self.rng) for _ in range(self.cfg.population)]
        self.queue_screen: list[float | None] = []  # the screening scores of the queued offspring, when screened
        self.asked_this_generation = 0

    def _ready(self) -> bool:
        return bool(self.queue)

    def _propose(self) -> tuple[Genome, dict[str, Any]]:
        self.asked_this_generation += 1
        meta = {"generation": self.generation}
        if self.queue_screen:
            meta["screen"] = self.queue_screen.pop(0)
        return self.queue.pop(0), meta

    def _observe(self, proposal: Proposal, record: dict[str, Any]) -> None:
        self.children[proposal.id] = (proposal.genome, self.selection_vector(proposal, record))
        if not self.queue and len(self.children) == self.asked_this_generation:
            self._next_generation()

    def _next_generation(self) -> None:
        # Children in birth order, so the selection is the same whichever worker finished first.
        scored = self.parents + [self.children[key] for key in sorted(self.children)]
        pool = [Individual(genome, values) for (genome, _), values in zip(scored, self.selection_objectives(scored))]
        with global_random_seeded(self.rng.getrandbits(64)):
            survivors = select_nsga2(pool, self.cfg.population)
            chosen = tools.selTournamentDCD(survivors, _multiple_of_four(len(survivors)))
        vectors = {id(ind): vector for ind, (_, vector) in zip(pool, scored)}
        self.parents = [(ind.genome, vectors[id(ind)]) for ind in survivors]
        self.children, self.asked_this_generation = {}, 0
        self.generation += 1
        factor = self.cfg.screen_factor if self.screener is not None else 1
        offspring = [_breed(self, chosen[index % len(chosen)].genome, chosen[(index + 1) % len(chosen)].genome)
                     for index in range(self.cfg.population * factor)]
        if factor == 1:
            self.queue = offspring
            return
        # Evolution proposes, a forward pass screens: only the best 1/factor of the offspring are evaluated.
        kept = self.screened(offspring, self.cfg.population)
        self.queue, self.queue_screen = [offspring[index] for index, _ in kept], [score for _, score in kept]

    def _extra_state(self) -> dict[str, Any]:
        return {"generation": self.generation, "parents": scored_to_json(self.parents),
                "children": {str(key): scored_to_json([value])[0] for key, value in self.children.items()}, "queue": [g.to_dict() for g in self.queue],
                "queue_screen": self.queue_screen, "asked_this_generation": self.asked_this_generation}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.generation = state["generation"]
        self.parents = scored_from_json(state["parents"])
        self.children = {int(key): scored_from_json([value])[0] for key, value in state["children"].items()}
        self.queue = [Genome.from_dict(g) for g in state["queue"]]
        self.queue_screen = state.get("queue_screen", [])  # a state saved before screening existed has none
        self.asked_this_generation = state["asked_this_generation"]


class SteadyStateNSGA2(Algorithm):
    """NSGA-II one child at a time: each result replaces the worst of the population at once, so
    workers never wait for a generation to finish (the asynchronous mode for Ray)."""

    name = "nsga2-steady"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.population: list[tuple[Genome, Vector]] = []

    def _propose(self) -> tuple[Genome, dict[str, Any]]:
        if self.next_id < self.cfg.population or len(self.population) < 4:
            return self.space.sample(self.rng), {"origin": "random"}
        pool = self._individuals()
        with global_random_seeded(self.rng.getrandbits(64)):
            select_nsga2(pool, len(pool))  # assigns the crowding distances the tournament reads
            mother, father = tools.selTournamentDCD(pool, 4)[:2]
        return _breed(self, mother.genome, father.genome), {"origin": "offspring"}

    def _observe(self, proposal: Proposal, record: dict[str, Any]) -> None:
        self.population.append((proposal.genome, self.selection_vector(proposal, record)))
        if len(self.population) > self.cfg.population:
            pool = self._individuals()
            with global_random_seeded(self.rng.getrandbits(64)):
                survivors = {id(ind) for ind in select_nsga2(pool, self.cfg.population)}
            self.population = [item for item, ind in zip(self.population, pool) if id(ind) in survivors]

    def _individuals(self) -> list[Individual]:
        return [Individual(genome, values)
                for (genome, _), values in zip(self.population, self.selection_objectives(self.population))]

    def _extra_state(self) -> dict[str, Any]:
        return {"population": scored_to_json(self.population)}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.population = scored_from_json(state["population"])


def _breed(algorithm: Algorithm, mother: Genome, father: Genome) -> Genome:
    """Crossover with the configured probability, then always a mutation, so a child differs from its parents."""
    child = mother
    if algorithm.rng.random() < algorithm.cfg.crossover_prob:
        child = algorithm.space.crossover(mother, father, algorithm.rng)
    return algorithm.space.mutate(child, algorithm.rng)


def _multiple_of_four(count: int) -> int:
    # DEAP's crowded tournament takes individuals four at a time.
    return max(4, count - count % 4)
