"""Random search: every proposal a uniform sample of the space. The baseline every method must beat."""

from __future__ import annotations

from typing import Any

from ...spaces.genome import Genome
from .base import Algorithm, Proposal


class RandomSearch(Algorithm):
    name = "random"

    def _propose(self) -> tuple[Genome, dict[str, Any]]:
        return self.space.sample(self.rng), {}

    def _observe(self, proposal: Proposal, record: dict[str, Any]) -> None:
        pass
