"""Regularised (aging) evolution, Real et al. 2019: tournament on accuracy, mutate the winner, retire the oldest."""

from __future__ import annotations

from typing import Any

from ...spaces.genome import Genome
from .base import Algorithm, Proposal, Vector, scored_from_json, scored_to_json


class AgingEvolution(Algorithm):
    name = "aging"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.population: list[tuple[Genome, Vector]] = []  # oldest first

    def _propose(self) -> tuple[Genome, dict[str, Any]]:
        # Until the first population is in, sample at random (as the paper does).
        if self.next_id < self.cfg.population or not self.population:
            return self.space.sample(self.rng), {"origin": "random"}
        # Judged within the whole population (an ensemble ranks there), then the tournament among the contenders.
        judged = list(zip(self.population, self.selection_objectives(self.population)))
        contenders = self.rng.sample(judged, min(self.cfg.sample_size, len(judged)))
        # Highest value wins; the smaller network breaks a tie.
        parent = max(contenders, key=lambda item: (item[1][0], -item[1][1]))[0][0]
        return self.space.mutate(parent, self.rng), {"origin": "mutation", "parent": parent.hash}

    def _observe(self, proposal: Proposal, record: dict[str, Any]) -> None:
        self.population.append((proposal.genome, self.selection_vector(proposal, record)))
        if len(self.population) > self.cfg.population:
            self.population.pop(0)

    def _extra_state(self) -> dict[str, Any]:
        return {"population": scored_to_json(self.population)}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.population = scored_from_json(state["population"])
